// SPDX-License-Identifier: AGPL-3.0-only
import { koffi } from './ffi.ts';

// <linux/prctl.h> and <sys/resource.h>: stable kernel ABI numbers.
const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;
const RLIMIT_CORE = 4;

interface Libc {
  prctl(option: number, a2: number, a3: number, a4: number, a5: number): number;
  setrlimit(resource: number, limit: { rlim_cur: number; rlim_max: number }): number;
  getrlimit(resource: number, out: { rlim_cur?: number | bigint; rlim_max?: number | bigint }): number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  const lib = koffi().load('libc.so.6');
  const rlimit = koffi().struct('cora_rlimit', { rlim_cur: 'uint64_t', rlim_max: 'uint64_t' });
  const prctl = lib.func(
    'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
  );
  const setrlimit = lib.func('setrlimit', 'int', ['int', koffi().pointer(rlimit)]);
  const getrlimit = lib.func('getrlimit', 'int', ['int', koffi().out(koffi().pointer(rlimit))]);
  libc = {
    prctl: (o, a, b, c, d) => prctl(o, a, b, c, d) as number,
    setrlimit: (r, l) => setrlimit(r, l) as number,
    getrlimit: (r, out) => getrlimit(r, out) as number,
  };
  return libc;
}

/** What {@link hardenProcess} found after it ran. */
export interface HardenReport {
  /** `prctl(PR_GET_DUMPABLE)`: 0 means no core dump and no ptrace attach by the same uid. */
  readonly dumpable: number;
  /** Soft and hard RLIMIT_CORE, both 0. */
  readonly coreSoft: bigint;
  readonly coreHard: bigint;
}

/**
 * Make this process undumpable and forbid core files (architecture §9), then verify both.
 * `PR_SET_DUMPABLE 0` also makes `/proc/<pid>/mem`, `environ` and friends root-owned and
 * refuses `ptrace` attach from the same uid (without CAP_SYS_PTRACE). Must run before any
 * secret is read. Linux only.
 *
 * @returns the verified settings
 * @throws Error when a call fails or the verification reads back anything else.
 * @example
 * ```ts
 * hardenProcess(); // first thing in the service
 * ```
 */
export function hardenProcess(): HardenReport {
  const c = loadLibc();
  if (c.setrlimit(RLIMIT_CORE, { rlim_cur: 0, rlim_max: 0 }) !== 0) {
    throw new Error(`setrlimit(RLIMIT_CORE, 0) failed (errno ${String(koffi().errno())})`);
  }
  if (c.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) {
    throw new Error(`prctl(PR_SET_DUMPABLE, 0) failed (errno ${String(koffi().errno())})`);
  }
  const report = readHardening();
  if (report.dumpable !== 0 || report.coreSoft !== 0n || report.coreHard !== 0n) {
    throw new Error('process hardening did not take effect');
  }
  return report;
}

/**
 * Read back the current dumpable flag and core limit.
 * @returns the current settings
 */
export function readHardening(): HardenReport {
  const c = loadLibc();
  const dumpable = c.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
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
 * The environment the service is started with, built from nothing (architecture §9): PATH,
 * HOME, USER, LOGNAME, LANG, TZ, TMPDIR and `LC_*` from `env`, nothing else. A hook the CLI's
 * caller set (`NODE_OPTIONS` could `--require` code or open a debugger in the process that
 * holds the secrets, `LD_PRELOAD` could inject a library) never reaches it, whatever its name.
 *
 * @param env - the CLI's environment
 * @returns a new object; `env` is unchanged
 */
export function serviceEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || value.includes('\0')) continue;
    if (SERVICE_ENV_NAMES.has(key) || /^LC_[A-Z_]+$/.test(key)) out[key] = value;
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
