// SPDX-License-Identifier: AGPL-3.0-only
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Access, handledAccess, NetAccess, Scope } from './access.ts';
import { SandboxError } from './errors.ts';
import {
  abiVersion,
  addNetRule,
  addPathRule,
  closeFd,
  createRuleset,
  O_PATH,
  restrictSelf,
  setNoNewPrivs,
} from './internal/landlock.ts';
import { accessAt, planRules, type FsView, type SandboxRule, type SandboxSpec } from './plan.ts';

/**
 * The Landlock ABI version of the running kernel: 0 when it has no Landlock or it is
 * disabled (not in the `lsm=` list). ABI 6 adds the signal and abstract-socket scopes.
 *
 * @returns 0, or the ABI version (7 on Linux 6.15+)
 * @throws SandboxError `ARCH_UNSUPPORTED` on an architecture whose syscall numbers are unknown
 * @example
 * ```ts
 * if (landlockAbi() < 6) console.error('no signal scoping on this kernel');
 * ```
 */
export function landlockAbi(): number {
  return abiVersion();
}

/** The real file system, read with lstat and readdir. */
export const realFsView: FsView = {
  kind(path) {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) return 'missing';
    if (st.isSymbolicLink()) return 'symlink';
    return st.isDirectory() ? 'dir' : 'file';
  },
  list(path) {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
};

/**
 * `path` made absolute with every symlink resolved; for a path that does not exist (yet), the
 * nearest existing ancestor is resolved and the rest appended, so a protection of a file to
 * come (`~/.curlrc`) names the directory it would be created in.
 *
 * @param path - a path, relative to the cwd or absolute
 * @returns an absolute normalized path
 */
export function canonicalPath(path: string): string {
  const absolute = resolve(path);
  try {
    return realpathSync(absolute);
  } catch {
    const parent = dirname(absolute);
    if (parent === absolute) return absolute;
    const base = canonicalPath(parent);
    return base === '/' ? `/${basename(absolute)}` : `${base}/${basename(absolute)}`;
  }
}

/** Options of {@link confineAndExec} and {@link confineSelf}. */
export interface ConfineOptions {
  /** Refuse with `UNSUPPORTED` below this ABI (default 1; 4 when the spec has `connectTcp`). Scopes need 6. */
  readonly minAbi?: number;
}

/** Landlock ABI of the TCP rules. */
const NET_ABI = 4;

/**
 * The rules {@link confineAndExec} would enforce for `spec` on this kernel, read from the real
 * file system now (for a dry run or a report).
 * @param spec - grants and protections (absolute real paths; see {@link canonicalPath})
 * @param abi - the ABI to plan for (default: this kernel's, at least 1)
 * @returns the rules
 * @throws SandboxError `INVALID_SPEC`
 */
export function planForKernel(spec: SandboxSpec, abi: number = Math.max(1, landlockAbi())): SandboxRule[] {
  return planRules(spec, abi, realFsView);
}

/**
 * Confine this process with Landlock and replace it with `file` (architecture §13): sets
 * `PR_SET_NO_NEW_PRIVS`, builds a ruleset that handles every filesystem right of the kernel's
 * ABI, adds the planned path-beneath rules, scopes signals and abstract Unix sockets to the
 * domain (ABI ≥ 6), restricts the calling thread (the main JS thread, the only one that
 * survives `execve`), then `process.execve`. Every descendant inherits the domain; nothing
 * inside can leave it.
 *
 * @param spec - grants and protections (absolute real paths; see {@link canonicalPath})
 * @param file - the program to run (an absolute path: no PATH lookup here)
 * @param argv - its argv, argv[0] included
 * @param env - its whole environment
 * @param options - see {@link ConfineOptions}
 * @returns never: the process is replaced
 * @throws SandboxError `UNSUPPORTED` (no Landlock, ABI under `minAbi`), `ARCH_UNSUPPORTED`,
 *   `INVALID_SPEC`, `SYSCALL_FAILED` (before the restriction: nothing applied, except maybe
 *   no_new_privs), `EXEC_FAILED` (checked before the restriction: `file` is not an executable
 *   regular file, the rules do not let it be executed, or it is neither ELF nor `#!`; after
 *   the restriction Node aborts the process when execve fails, SIGABRT)
 * @example
 * ```ts
 * const spec: SandboxSpec = { grants: [{ path: '/', access: READ_ACCESS }], protect: [] };
 * confineAndExec(spec, '/usr/bin/claude', ['claude'], { PATH: '/usr/bin:/bin' });
 * ```
 */
export function confineAndExec(
  spec: SandboxSpec,
  file: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  options: ConfineOptions = {},
): never {
  if (typeof file !== 'string' || !file.startsWith('/')) {
    throw new SandboxError('INVALID_SPEC', `file must be an absolute path, got ${JSON.stringify(file)}`);
  }
  if (typeof process.execve !== 'function') {
    throw new SandboxError(
      'UNSUPPORTED',
      `process.execve is missing: Node ≥ 23.11 is needed, this is ${process.version}`,
    );
  }
  // Node aborts the process when execve fails (SIGABRT, no exception): check first.
  enforce(spec, options, (rules) => {
    checkRunnable(file, rules);
  });
  try {
    process.execve(file, [...argv], { ...env });
  } catch (error) {
    throw new SandboxError('EXEC_FAILED', `cannot run ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // process.execve returns only by throwing.
  throw new SandboxError('EXEC_FAILED', `cannot run ${file}`);
}

/**
 * Confine the calling thread like {@link confineAndExec} does, without exec: for an exec
 * helper that must start its program by other means (a raw `execve` whose environment never
 * becomes JS strings). Call it on the main thread and exec right after: Landlock restricts
 * this thread only (other threads of the process are not confined, and `execve` ends them),
 * and the process stays confined for good.
 *
 * @param spec - grants, protections and TCP ports (absolute real paths; see {@link canonicalPath})
 * @param options - see {@link ConfineOptions}
 * @throws SandboxError `UNSUPPORTED` (no Landlock, ABI under `minAbi`, or under 4 with
 *   `connectTcp`), `ARCH_UNSUPPORTED`, `INVALID_SPEC` (a bad path or port), `SYSCALL_FAILED`
 * @example
 * ```ts
 * confineSelf({ grants: [{ path: '/', access: READ_ACCESS }], protect: [], connectTcp: [443] });
 * ```
 */
export function confineSelf(spec: SandboxSpec, options: ConfineOptions = {}): void {
  enforce(spec, options, () => undefined);
}

/**
 * The common part: ABI check, plan, `check(rules)` (before anything is applied), ruleset with
 * the path and port rules, no_new_privs, restriction of the calling thread.
 */
function enforce(
  spec: SandboxSpec,
  options: ConfineOptions,
  check: (rules: readonly SandboxRule[]) => void,
): void {
  const ports: readonly number[] | undefined = spec.connectTcp;
  if (ports !== undefined) {
    for (const port of ports) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new SandboxError('INVALID_SPEC', `connectTcp: ${String(port)} is not a TCP port (1 to 65535)`);
      }
    }
  }
  const minAbi = Math.max(1, options.minAbi ?? 1, ports === undefined ? 0 : NET_ABI);
  const abi = landlockAbi();
  if (abi < minAbi) {
    throw new SandboxError(
      'UNSUPPORTED',
      abi === 0
        ? 'this kernel has no Landlock (Linux ≥ 5.13 with landlock in the lsm= list is needed)'
        : `this kernel's Landlock ABI is ${String(abi)}; ${String(minAbi)} or later is needed${ports === undefined ? '' : ' (TCP rules need 4)'}`,
    );
  }
  const rules = planRules(spec, abi, realFsView);
  check(rules);
  const scoped = abi >= 6 ? Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL : 0;
  // Handling BIND_TCP with no bind rule: the confined program cannot listen on any port.
  const net = ports === undefined ? 0 : NetAccess.BIND_TCP | NetAccess.CONNECT_TCP;
  const ruleset = createRuleset(handledAccess(abi), net, scoped);
  try {
    for (const rule of rules) addRule(ruleset, rule);
    for (const port of new Set(ports ?? [])) addNetRule(ruleset, port, NetAccess.CONNECT_TCP);
    setNoNewPrivs();
    restrictSelf(ruleset);
  } finally {
    closeFd(ruleset);
  }
}

/** Throw `EXEC_FAILED` unless `file` is a program execve will start under `rules`. */
function checkRunnable(file: string, rules: readonly SandboxRule[]): void {
  const refuse = (why: string): never => {
    throw new SandboxError('EXEC_FAILED', `cannot run ${file}: ${why}`);
  };
  let real: string;
  try {
    real = realpathSync(file);
    accessSync(real, constants.X_OK);
    if (!statSync(real).isFile()) refuse('not a regular file');
  } catch (error) {
    if (error instanceof SandboxError) throw error;
    return refuse((error as NodeJS.ErrnoException).code ?? 'not found');
  }
  if ((accessAt(rules, real) & Access.EXECUTE) === 0) refuse('the sandbox does not allow executing it');
  const head = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = openSync(real, 'r');
    readSync(fd, head, 0, 4, 0);
  } catch {
    refuse('it cannot be read');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const elf = head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  if (!elf && head.subarray(0, 2).toString('latin1') !== '#!')
    refuse('neither an ELF binary nor a #! script');
}

function addRule(ruleset: number, rule: SandboxRule): void {
  let fd: number;
  try {
    fd = openSync(rule.path, O_PATH | constants.O_NOFOLLOW);
  } catch {
    return; // gone since it was planned: nothing to grant
  }
  try {
    // A symlink swapped in since planning: no rule (its target is judged by its own path).
    if (fstatSync(fd).isSymbolicLink()) return;
    addPathRule(ruleset, fd, rule.access);
  } finally {
    closeFd(fd);
  }
}
