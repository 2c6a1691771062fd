// SPDX-License-Identifier: AGPL-3.0-only
import { koffi } from './ffi.ts';
import { noErrorDialogsWin32 } from './win32-acl.ts';

// <linux/prctl.h>, <sys/ptrace.h> and <sys/resource.h>: stable kernel ABI numbers
// (RLIMIT_CORE is 4 on Linux and macOS alike; rlim_t is 64 bits on both).
const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;
const PT_DENY_ATTACH = 31;
const RLIMIT_CORE = 4;

/** One step of {@link hardenProcess} (architecture §9). */
export type HardenStep = 'core-limit-zero' | 'not-dumpable' | 'deny-attach' | 'no-error-dialogs';

/**
 * What {@link hardenProcess} does on a platform, in order: no core files everywhere; then
 * Linux's `PR_SET_DUMPABLE 0` (no ptrace attach by the same uid, /proc/<pid>/mem root-owned),
 * or macOS's `PT_DENY_ATTACH` (no debugger attach, `task_for_pid` refused). Windows has neither
 * (SECURITY.md "Windows"): only `SetErrorMode`, so a crash ends at once without a dialog.
 *
 * @param platform - a `process.platform` value
 * @returns the steps
 * @throws Error for a platform the service cannot harden (it refuses to start there).
 * @example
 * ```ts
 * hardeningPlan('darwin'); // ['core-limit-zero', 'deny-attach']
 * ```
 */
export function hardeningPlan(platform: NodeJS.Platform): readonly HardenStep[] {
  if (platform === 'linux') return ['core-limit-zero', 'not-dumpable'];
  if (platform === 'darwin') return ['core-limit-zero', 'deny-attach'];
  if (platform === 'win32') return ['no-error-dialogs'];
  throw new Error(`process hardening is not implemented on ${platform}`);
}

interface Libc {
  /** Linux only. */
  prctl(option: number, a2: number, a3: number, a4: number, a5: number): number;
  /** macOS only. */
  ptrace(request: number, pid: number, addr: null, data: number): number;
  setrlimit(resource: number, limit: { rlim_cur: number; rlim_max: number }): number;
  getrlimit(resource: number, out: { rlim_cur?: number | bigint; rlim_max?: number | bigint }): number;
}

let libc: Libc | undefined;
/** macOS: set once PT_DENY_ATTACH succeeded (the kernel offers no read-back of the flag). */
let deniedAttach = false;

function unavailable(name: string): never {
  throw new Error(`${name} is not available on ${process.platform}`);
}

function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  const darwin = process.platform === 'darwin';
  // Written against <sys/ptrace.h>; the darwin branch has not yet run on a macOS host.
  const lib = koffi().load(darwin ? '/usr/lib/libSystem.B.dylib' : 'libc.so.6');
  const rlimit = koffi().struct('cora_rlimit', { rlim_cur: 'uint64_t', rlim_max: 'uint64_t' });
  const prctl = darwin
    ? undefined
    : lib.func(
        'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
      );
  const ptrace = darwin ? lib.func('int ptrace(int request, int pid, void *addr, int data)') : undefined;
  const setrlimit = lib.func('setrlimit', 'int', ['int', koffi().pointer(rlimit)]);
  const getrlimit = lib.func('getrlimit', 'int', ['int', koffi().out(koffi().pointer(rlimit))]);
  libc = {
    prctl: (o, a, b, c, d) => (prctl === undefined ? unavailable('prctl') : (prctl(o, a, b, c, d) as number)),
    ptrace: (r, p, a, d) => (ptrace === undefined ? unavailable('ptrace') : (ptrace(r, p, a, d) as number)),
    setrlimit: (r, l) => setrlimit(r, l) as number,
    getrlimit: (r, out) => getrlimit(r, out) as number,
  };
  return libc;
}

/** What {@link hardenProcess} found after it ran. */
export interface HardenReport {
  /**
   * Linux: `prctl(PR_GET_DUMPABLE)`, 0 means no core dump and no ptrace attach by the same uid.
   * macOS: 0 once `PT_DENY_ATTACH` succeeded in this process, else 1 (no kernel read-back).
   */
  readonly dumpable: number;
  /** Soft and hard RLIMIT_CORE, both 0. */
  readonly coreSoft: bigint;
  readonly coreHard: bigint;
}

/**
 * Forbid core files and debugger attach for this process (architecture §9), then verify.
 * Linux: `PR_SET_DUMPABLE 0` also makes `/proc/<pid>/mem`, `environ` and friends root-owned
 * and refuses `ptrace` attach from the same uid (without CAP_SYS_PTRACE). macOS:
 * `ptrace(PT_DENY_ATTACH)` refuses debuggers and `task_for_pid` for this process (root with
 * SIP off, or the kernel debugger, can still read it). Must run before any secret is read.
 *
 * @returns the verified settings
 * @throws Error when a call fails, the verification reads back anything else, or the platform has no plan ({@link hardeningPlan}).
 * @example
 * ```ts
 * hardenProcess(); // first thing in the service
 * ```
 */
export function hardenProcess(): HardenReport {
  const steps = hardeningPlan(process.platform);
  if (process.platform === 'win32') {
    // No core limit and no dumpable flag to set or read back: the report says so (dumpable 1).
    noErrorDialogsWin32();
    return { dumpable: 1, coreSoft: 0n, coreHard: 0n };
  }
  const c = loadLibc();
  for (const step of steps) {
    if (step === 'core-limit-zero') {
      if (c.setrlimit(RLIMIT_CORE, { rlim_cur: 0, rlim_max: 0 }) !== 0) {
        throw new Error(`setrlimit(RLIMIT_CORE, 0) failed (errno ${String(koffi().errno())})`);
      }
    } else if (step === 'not-dumpable') {
      if (c.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) {
        throw new Error(`prctl(PR_SET_DUMPABLE, 0) failed (errno ${String(koffi().errno())})`);
      }
    } else {
      if (c.ptrace(PT_DENY_ATTACH, 0, null, 0) !== 0) {
        throw new Error(`ptrace(PT_DENY_ATTACH) failed (errno ${String(koffi().errno())})`);
      }
      deniedAttach = true;
    }
  }
  const report = readHardening();
  if (report.dumpable !== 0 || report.coreSoft !== 0n || report.coreHard !== 0n) {
    throw new Error('process hardening did not take effect');
  }
  return report;
}

/**
 * Read back the current dumpable flag (macOS: whether PT_DENY_ATTACH ran) and core limit.
 * @returns the current settings
 */
export function readHardening(): HardenReport {
  const c = loadLibc();
  const dumpable =
    process.platform === 'darwin' ? (deniedAttach ? 0 : 1) : c.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  const out: { rlim_cur?: number | bigint; rlim_max?: number | bigint } = {};
  if (c.getrlimit(RLIMIT_CORE, out) !== 0) {
    throw new Error(`getrlimit(RLIMIT_CORE) failed (errno ${String(koffi().errno())})`);
  }
  return { dumpable, coreSoft: BigInt(out.rlim_cur ?? -1), coreHard: BigInt(out.rlim_max ?? -1) };
}

/** The only variables the service starts with: what it needs to resolve commands and format. */
const SERVICE_ENV_NAMES: ReadonlySet<string> = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'TZ',
  'TMPDIR',
]);

/**
 * Windows: what the system and Node need to run at all (SystemRoot, the profile and temp
 * folders, PATH and PATHEXT to resolve commands), and nothing that loads code.
 */
const WINDOWS_SERVICE_ENV_NAMES: ReadonlySet<string> = new Set([
  'SYSTEMROOT',
  'WINDIR',
  'SYSTEMDRIVE',
  'PATH',
  'PATHEXT',
  'COMSPEC',
  'TEMP',
  'TMP',
  'USERPROFILE',
  'LOCALAPPDATA',
  'APPDATA',
  'USERNAME',
  'USERDOMAIN',
  'HOMEDRIVE',
  'HOMEPATH',
  'PROGRAMDATA',
  'PROGRAMFILES',
  'NUMBER_OF_PROCESSORS',
  'PROCESSOR_ARCHITECTURE',
  'TZ',
]);

/**
 * The environment the service is started with, built from nothing (architecture §9): PATH,
 * HOME, USER, LOGNAME, LANG, TZ, TMPDIR and `LC_*` from `env`, nothing else (on Windows the
 * system's own variables instead: SystemRoot, PATH, PATHEXT, the profile and temp folders). A hook the CLI's
 * caller set (`NODE_OPTIONS` could `--require` code or open a debugger in the process that
 * holds the secrets, `LD_PRELOAD` could inject a library) never reaches it, whatever its name.
 *
 * @param env - the CLI's environment
 * @param platform - whose variable names to keep (default this one)
 * @returns a new object; `env` is unchanged
 */
export function serviceEnvironment(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  const windows = platform === 'win32';
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || value.includes('\0')) continue;
    // Windows names are case-insensitive (`Path`, `SystemRoot`).
    const keep = windows
      ? WINDOWS_SERVICE_ENV_NAMES.has(key.toUpperCase())
      : SERVICE_ENV_NAMES.has(key) || /^LC_[A-Z_]+$/.test(key);
    if (keep) out[key] = value;
  }
  return out;
}

/**
 * Node's variables that load code or data, open a debugger or write what the process does
 * (`NODE_ENV`, `NODE_EXTRA_CA_CERTS` and the like only tune it), and every loader, allocator
 * and glibc hook.
 */
const RUNTIME_HOOK =
  /^(NODE_(OPTIONS|PATH|COMPILE_CACHE|REPL_EXTERNAL_MODULE|ICU_DATA|V8_COVERAGE|REDIRECT_WARNINGS|INSPECT\w*|DEBUG\w*)|LD_\w*|MALLOC_\w*|GLIBC_\w*|GCONV_\w*|DYLD_\w*|\w*_PRELOAD)$/;

/**
 * Whether a variable found in a process's start environment can load code into it or change
 * how its runtime or loader behaves: Node's and the dynamic loader's hooks, allocator and glibc
 * tunables, macOS's `DYLD_*`.
 * @param name - a variable name
 * @returns true for `NODE_OPTIONS`, `NODE_PATH` and Node's other code-loading variables, `LD_*`,
 *   `*_PRELOAD`, `MALLOC_*`, `GLIBC_*`, `GCONV_*`, `DYLD_*`
 */
export function isRuntimeHook(name: string): boolean {
  return RUNTIME_HOOK.test(name);
}

/** Node flags that load code or open a debugger: never passed on to the service. */
const DANGEROUS_FLAG =
  /^--(inspect|debug|require|import|loader|experimental-loader|experimental-vm-modules|eval|print|cpu-prof|heap-prof|heapsnapshot|diagnostic-dir|report|env-file|watch|openssl-config|snapshot|build-snapshot|allow-natives-syntax|expose|trace|prof)|^-(r|e|p)$/;

/**
 * Whether a Node command-line flag may carry code or a debugger into a process.
 * @param flag - one element of `execArgv`
 * @returns true for `--inspect*`, `--require`, `--import`, `--loader`, `-r` and the like
 */
export function isDangerousNodeFlag(flag: string): boolean {
  return DANGEROUS_FLAG.test(flag);
}

/**
 * The Node flags the service is started with: `--disable-sigusr1` (SIGUSR1 must not open an
 * inspector, architecture §9) plus the harmless flags of this process (`--conditions=…` when run
 * from sources); anything {@link isDangerousNodeFlag} accepts is dropped, with its argument.
 *
 * @param execArgv - this process's `execArgv`
 * @returns flags for `spawn(process.execPath, [...flags, script])`
 */
export function serviceNodeFlags(execArgv: readonly string[]): string[] {
  const out = ['--disable-sigusr1'];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i] ?? '';
    if (isDangerousNodeFlag(flag)) {
      // `--require x` / `-r x`: the next element is the flag's argument.
      if (!flag.includes('=') && (execArgv[i + 1] ?? '-').charAt(0) !== '-') i++;
      continue;
    }
    if (flag === '--disable-sigusr1') continue;
    if (
      flag.startsWith('--conditions=') ||
      flag === '--no-warnings' ||
      flag.startsWith('--max-old-space-size=')
    ) {
      out.push(flag);
    }
  }
  return out;
}
