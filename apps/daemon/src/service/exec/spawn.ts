// SPDX-License-Identifier: AGPL-3.0-only
// Past 500 lines: the pipe, pty and passthrough paths share one posix_spawn set-up (file
// actions, signals, the environment block), kept together so all are read and audited as one.
import { statSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { isAbsolute } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { ReadStream } from 'node:tty';
import { SecretBuf } from '@cora/memstore';
import {
  F_SETPIPE_SZ,
  O_CLOEXEC,
  O_RDWR,
  OPAQUE_SIZE,
  POSIX_SPAWN_SETSID,
  POSIX_SPAWN_SETPGROUP,
  POSIX_SPAWN_SETSIGDEF,
  POSIX_SPAWN_SETSIGMASK,
  addressOf,
  lastErrno,
  loadSpawnLibc,
} from './internal/spawn-libc.ts';
import type { SpawnLibc } from './internal/spawn-libc.ts';
import { waitForExit } from './internal/spawn-wait.ts';
import { cStringArray } from './internal/c-strings.ts';
import type { Task } from '@cora/policy';
import { planLaunch, type ConfinedLaunch } from './confine.ts';
import { becomeSubreaper, killAdoptedSince, startTicks, trackChild, untrackChild } from './descendants.ts';
import type { ChildExit } from './internal/spawn-wait.ts';
import { closePty, openPty, type PtySize } from './pty.ts';
import { SpawnError } from './spawn-error.ts';
import { spawnChildWin32 } from './spawn-win32.ts';

export { isSpawnError } from './spawn-error.ts';

/** One environment entry: plain bytes (PATH, LANG…) or a secret in secure memory. */
export interface SpawnEnvEntry {
  readonly name: string;
  readonly value: Uint8Array | SecretBuf;
}

/** What {@link spawnChild} needs. */
export interface SpawnOptions {
  /** Absolute path of the program, already resolved and allowed (architecture §7 `targets`). */
  readonly file: string;
  /** argv, argv[0] included (not secret: the caller typed it). */
  readonly argv: readonly string[];
  /** The whole child environment, in order; nothing is inherited from the service. */
  readonly env: readonly SpawnEnvEntry[];
  /** The caller's working directory. */
  readonly cwd: string;
  /**
   * An open descriptor of `file` to execute instead of looking `file` up again: the child
   * runs exactly the file behind it (a pinned target, hashed through this descriptor), as
   * `/proc/self/fd/3`. The child keeps it as fd 3 (read-only, its own binary). `file` is
   * still what messages name. The caller keeps ownership and closes it.
   */
  readonly fd?: number;
  /**
   * The task's confinement of the child (confine.ts): clean HOME, Landlock `write` and
   * `connect` through the exec helper, `detached: kill`; with `fd`, the helper checks the
   * task's pin of `file` again through fd 3 right before the exec.
   */
  readonly confine?: Pick<Task, 'home' | 'write' | 'connect' | 'detached' | 'target_sha256'>;
  /**
   * Run the child on a new pty of this size instead of pipes (pty.ts): the child leads a new
   * session with the slave as its controlling terminal and fds 0/1/2.
   */
  readonly pty?: PtySize;
  /**
   * Give the child these descriptors as its fds 0, 1, 2 instead of pipes (an `output:
   * passthrough` task: the caller's own, received over a socket). The caller keeps and closes
   * its copies; `stdin`, `stdout` and `stderr` of the result are then empty streams.
   */
  readonly stdio?: readonly [number, number, number];
}

/** A running child started by {@link spawnChild}. */
export interface SpawnedChild {
  readonly pid: number;
  /**
   * The child's fd 0. Write errors (EPIPE when the child stops reading) are swallowed. With
   * `pty`: the master, the same stream as `stdout`.
   */
  readonly stdin: Writable;
  /**
   * The child's fd 1; back-pressure stops reading the pipe, so the child blocks. With `pty`:
   * the master (a tty.ReadStream, read and written), whose reads fail with EIO once every
   * holder of the slave has closed it (the end of the output).
   */
  readonly stdout: Readable;
  /** The child's fd 2. With `pty` an empty stream, already ended (fd 2 is the slave too). */
  readonly stderr: Readable;
  /** With `pty`: the master's fd number, for resizes while `stdout` is open; else null. */
  readonly terminalFd: number | null;
  /** Settles when the child itself has exited and been reaped (not when the pipes close). */
  readonly exited: Promise<ChildExit>;
  /**
   * Send `signal` to the child's process group (the child and every descendant that stayed
   * in it), like a terminal's Ctrl-C. A no-op once the child was reaped: from then on its
   * pid and group id may belong to someone else.
   */
  kill(signal: NodeJS.Signals): void;
}

const ENOENT = 2;
const ESRCH = 3;
const EACCES = 13;
const EPERM = 1;
const ENOEXEC = 8;
const ENOTDIR = 20;
const EISDIR = 21;

const encoder = new TextEncoder();

/** The child's descriptor of a pinned target's file (see {@link SpawnOptions.fd}). */
const EXEC_FD = 3;

/**
 * Start `file` with posix_spawn (architecture §8): stdio on fresh pipes and no other fd, in `cwd`,
 * with exactly `env`, in a new process group, with every signal at its default disposition and none
 * blocked (Node ignores SIGPIPE; without `POSIX_SPAWN_SETSIGDEF` a child such as `yes | head`
 * would inherit that and spin on EPIPE).
 *
 * The environment is laid out in ONE SecretBuf (`NAME=value\0…`) and the `envp` array points
 * into it; the whole posix_spawn call runs inside that buffer's `use()`, and the buffer is
 * wiped as soon as posix_spawn returns. That is safe because glibc's posix_spawn is
 * `clone(CLONE_VM|CLONE_VFORK)`: the parent only resumes once the child has called execve
 * (the kernel has then copied argv/envp into the new image) or has failed. No value is ever
 * a JS string, and koffi is handed addresses, so its marshalling arena never sees a value.
 *
 * Needs glibc ≥ 2.34 (`addchdir_np`, `addclosefrom_np`) on a 64-bit Linux.
 *
 * The child is reaped off the event loop without a thread-pool slot (pidfd + libuv poll,
 * see `internal/spawn-wait.ts`), so 100 concurrent children cost 100 fds and no threads.
 *
 * Grandchildren: `exited` settles when the child exits, but a descendant that inherited
 * fd 1/2 keeps the pipes open, so `stdout`/`stderr` end only when it exits or closes them.
 * Callers that must not wait for that call `kill()` before `exited` settles or destroy the
 * streams after a grace period. This process becomes a child subreaper at the first call, so
 * a descendant that detaches stays in its tree (descendants.ts).
 *
 * With `confine` (confine.ts): a clean HOME in the run directory, removed once the child is
 * reaped; for `write` / `connect`, Node runs the exec helper in the child's place, which
 * confines itself and execs `file` (same pid, group, pipes and fd 3).
 *
 * @param options - file, argv, env, cwd, fd, confine
 * @returns the running child
 * @throws TypeError when `file` or `cwd` is not absolute, or argv/env contain NUL or a name
 *   is empty or contains `=` (the message names the entry, never a value).
 * @throws SpawnError `COMMAND_NOT_FOUND`, `NOT_EXECUTABLE`, `BAD_CWD` or `SPAWN_FAILED`.
 *   `SPAWN_FAILED` too when the confinement cannot be applied (the kernel's Landlock ABI, no
 *   run directory for a clean HOME): nothing is started.
 * @example
 * ```ts
 * const child = spawnChild({ file: '/usr/bin/env', argv: ['env'], env: [{ name: 'X', value: secret }], cwd: '/' });
 * child.stdout.pipe(process.stdout);
 * const { code, signal } = await child.exited;
 * ```
 */
export function spawnChild(options: SpawnOptions): SpawnedChild {
  // Windows: CreateProcessW in a kill-on-close job (spawn-win32.ts); no fd, confine, pty, stdio.
  if (process.platform === 'win32') return spawnChildWin32(options);
  const { file, argv, env, cwd, fd, confine } = options;
  checkInputs(file, argv, env, cwd);
  if (process.platform === 'darwin') refuseOnDarwin(options);
  if (fd !== undefined && (!Number.isInteger(fd) || fd < 3))
    throw new TypeError('fd must be an open descriptor ≥ 3');
  const libc = loadSpawnLibc();
  // Before the first child: its orphans must come back to us, not to init (descendants.ts).
  becomeSubreaper();
  let launch: ConfinedLaunch | null = null;
  try {
    if (confine !== undefined) {
      launch = planLaunch(
        confine,
        file,
        argv,
        fd,
        fd === undefined ? undefined : confine.target_sha256?.[file],
      );
    }
  } catch (error) {
    // Never started unconfined: the message names the kernel's ABI or the run directory.
    const why = error instanceof Error ? error.message : 'unknown error';
    throw new SpawnError('SPAWN_FAILED', 0, file, `cannot confine the child of ${file}: ${why}`);
  }
  try {
    return startChild(libc, options, launch);
  } catch (error) {
    launch?.cleanup();
    throw error;
  }
}

/**
 * What macOS does not offer here (SECURITY.md, macOS): a pinned target (no `/proc/self/fd`),
 * a pty (other ioctl numbers, not written yet), a clean HOME and `detached: kill` (no
 * subreaper to keep what a child leaves behind); Landlock rules are refused by policy.
 */
function refuseOnDarwin(options: SpawnOptions): void {
  const { confine } = options;
  const missing =
    options.fd !== undefined
      ? 'a pinned target'
      : options.pty !== undefined
        ? 'a pty'
        : confine?.home !== undefined || confine?.detached !== undefined
          ? 'a clean HOME and detached: kill'
          : confine?.write !== undefined || confine?.connect !== undefined
            ? 'Landlock'
            : null;
  if (missing !== null) {
    throw new SpawnError('SPAWN_FAILED', 0, options.file, `${missing} is not offered on macOS yet`);
  }
}

/** Where the child's fds 0-2 come from (runPosixSpawn). */
type ChildStdio = { readonly pipes: readonly [number, number, number] } | { readonly slave: string };
/** posix_spawn of the prepared command on `stdio`: the child's pid. */
type SpawnOn = (stdio: ChildStdio) => number;

function startChild(libc: SpawnLibc, options: SpawnOptions, launch: ConfinedLaunch | null): SpawnedChild {
  const { file, env, cwd, fd, confine } = options;
  const argvBlock = cStringArray(launch?.argv ?? options.argv);
  const execPath = launch?.file ?? (fd === undefined ? file : `/proc/self/fd/${String(EXEC_FD)}`);
  const spawnOn: SpawnOn = (stdio) =>
    runPosixSpawn(
      libc,
      file,
      execPath,
      argvBlock.pointers,
      launch === null ? env : launchEnv(launch, env),
      cwd,
      stdio,
      fd,
    );
  try {
    if (options.pty !== undefined) return startOnPty(libc, options, launch, options.pty, spawnOn);
    if (options.stdio !== undefined) return startOnFds(libc, options.stdio, launch, confine, spawnOn);
    return startOnPipes(libc, file, launch, confine, spawnOn);
  } finally {
    // The argv block is used once: zeroed whatever happened (the child has its copy by now).
    argvBlock.keepAlive.fill(0);
  }
}

/** The child on the caller's own fds (passthrough): nothing to pump. */
function startOnFds(
  libc: SpawnLibc,
  fds: readonly [number, number, number],
  launch: ConfinedLaunch | null,
  confine: SpawnOptions['confine'],
  spawnOn: SpawnOn,
): SpawnedChild {
  const pid = spawnOn({ pipes: fds });
  const sink = new Writable({
    write: (_chunk, _encoding, callback) => {
      callback();
    },
  });
  return watchChild(libc, pid, launch, confine, {
    stdin: sink,
    stdout: Readable.from([]),
    stderr: Readable.from([]),
    terminalFd: null,
  });
}

/** The child on three fresh pipes, read and written through libuv. */
function startOnPipes(
  libc: SpawnLibc,
  file: string,
  launch: ConfinedLaunch | null,
  confine: SpawnOptions['confine'],
  spawnOn: SpawnOn,
): SpawnedChild {
  const fds = openPipes(libc, file);
  // fds: [stdinR, stdinW, stdoutR, stdoutW, stderrR, stderrW]
  const [stdinR, stdinW, stdoutR, stdoutW, stderrR, stderrW] = fds as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  let pid: number;
  try {
    pid = spawnOn({ pipes: [stdinR, stdoutW, stderrW] });
  } catch (error) {
    for (const fd of fds) libc.close(fd);
    throw error;
  }
  // The child has its own copies of its ends now; keeping ours would hold the pipes open
  // (stdout would never end, stdin would never see EOF).
  libc.close(stdinR);
  libc.close(stdoutW);
  libc.close(stderrW);
  // libuv opens the fds as pipes (uv_pipe_open: non-blocking, epoll-driven); the sockets own
  // and close them.
  const stdout = new Socket({ fd: stdoutR, readable: true, writable: false });
  const stderr = new Socket({ fd: stderrR, readable: true, writable: false });
  const stdin = new Socket({ fd: stdinW, readable: false, writable: true });
  // A child that exits or closes fd 0 without reading makes writes fail with EPIPE (Node
  // ignores SIGPIPE). That is the child's choice, not a service fault.
  stdin.on('error', () => undefined);
  return watchChild(libc, pid, launch, confine, { stdin, stdout, stderr, terminalFd: null });
}

/** The child on a new pty (pty.ts): one master stream for fds 0, 1 and 2. */
function startOnPty(
  libc: SpawnLibc,
  options: SpawnOptions,
  launch: ConfinedLaunch | null,
  size: PtySize,
  spawnOn: SpawnOn,
): SpawnedChild {
  const { file, confine } = options;
  let pty: ReturnType<typeof openPty>;
  try {
    pty = openPty(size);
  } catch (error) {
    const why = error instanceof Error ? error.message : 'unknown error';
    throw new SpawnError('SPAWN_FAILED', 0, file, why);
  }
  let pid: number;
  try {
    pid = spawnOn({ slave: pty.slavePath });
  } catch (error) {
    closePty(pty.master);
    throw error;
  }
  // libuv takes the master as a tty stream (non-blocking; a master is not reopened by path).
  let master: ReadStream;
  try {
    master = new ReadStream(pty.master);
  } catch (error) {
    closePty(pty.master);
    libc.kill(-pid, 9);
    throw error;
  }
  // EIO once the slave is closed everywhere: the end of the output, seen by the reader.
  master.on('error', () => undefined);
  const stderr = Readable.from([]);
  return watchChild(libc, pid, launch, confine, {
    stdin: master,
    stdout: master,
    stderr,
    terminalFd: pty.master,
  });
}

/** Track, reap and wrap a started child. */
function watchChild(
  libc: SpawnLibc,
  pid: number,
  launch: ConfinedLaunch | null,
  confine: SpawnOptions['confine'],
  stdio: Pick<SpawnedChild, 'stdin' | 'stdout' | 'stderr' | 'terminalFd'>,
): SpawnedChild {
  trackChild(pid);
  const started = confine?.detached === 'kill' ? startTicks(pid) : null;
  let reaped = false;
  const exited = waitForExit(pid, () => {
    reaped = true;
    untrackChild(pid);
  }).finally(() => {
    // The exit must still be reported if the clean-up fails (/proc unreadable, EMFILE): the
    // descendants are then killed at lock, and a clean HOME left over at the next start.
    try {
      launch?.cleanup();
      // `detached: kill`: what the child left behind, setsid daemons too (descendants.ts).
      if (started !== null) killAdoptedSince(started);
    } catch {
      // see above
    }
  });
  const childPid = pid;
  return {
    pid: childPid,
    ...stdio,
    exited,
    kill(signal: NodeJS.Signals): void {
      const num = constants.signals[signal] as number | undefined;
      if (num === undefined) throw new TypeError(`signal: unknown signal ${signal}`);
      if (reaped) return;
      // Negative pid = the process group (SETPGROUP or SETSID made pgid === pid). The pid
      // is ours until reaped (alive or zombie), so the group id cannot be recycled yet.
      if (libc.kill(-childPid, num) !== 0 && lastErrno() !== ESRCH) {
        throw new Error(`kill(${String(-childPid)}, ${signal}) failed (errno ${String(lastErrno())})`);
      }
    },
  };
}

function checkInputs(
  file: string,
  argv: readonly string[],
  env: readonly SpawnEnvEntry[],
  cwd: string,
): void {
  if (typeof file !== 'string' || !isAbsolute(file) || file.includes('\0')) {
    throw new TypeError('file must be an absolute path without NUL');
  }
  if (typeof cwd !== 'string' || !isAbsolute(cwd) || cwd.includes('\0')) {
    throw new TypeError('cwd must be an absolute path without NUL');
  }
  if (!Array.isArray(argv) || argv.length === 0) throw new TypeError('argv must be a non-empty array');
  argv.forEach((arg, i) => {
    if (typeof arg !== 'string' || arg.includes('\0')) {
      throw new TypeError(`argv[${String(i)}] must be a string without NUL`);
    }
  });
  for (const [i, entry] of env.entries()) {
    const { name, value } = entry;
    if (typeof name !== 'string' || name === '' || name.includes('=') || name.includes('\0')) {
      throw new TypeError(`env[${String(i)}].name must be non-empty, without '=' or NUL`);
    }
    const hasNul =
      value instanceof SecretBuf
        ? value.use((bytes) => bytes.includes(0))
        : value instanceof Uint8Array
          ? value.includes(0)
          : undefined;
    if (hasNul === undefined) throw new TypeError(`env ${name}: value must be a Uint8Array or SecretBuf`);
    if (hasNul) throw new TypeError(`env ${name}: value contains a NUL byte`);
  }
}

/**
 * The capacity asked for the child's stdout and stderr pipes, and the most the service reads
 * from one at a time. 4 × the default: 32 children at once pin 16 MiB of pipe pages, a quarter
 * of the kernel's default per-user soft limit (64 MiB), past which new pipes of every process
 * of the user shrink to 2 pages.
 */
export const OUTPUT_PIPE_BYTES = 256 * 1024;

function openPipes(libc: SpawnLibc, file: string): number[] {
  const fds: number[] = [];
  const pair = new Int32Array(new ArrayBuffer(8));
  try {
    for (let i = 0; i < 3; i++) {
      // O_CLOEXEC: no other child (ours or libuv's) inherits these; adddup2 clears the flag
      // on the child's copy at 0/1/2 only.
      if (libc.pipe2(pair, O_CLOEXEC) !== 0) {
        const errno = lastErrno();
        throw new SpawnError('SPAWN_FAILED', errno, file, `cannot create pipes (errno ${String(errno)})`);
      }
      fds.push(pair[0] ?? -1, pair[1] ?? -1);
      // Output pipes hold OUTPUT_PIPE_BYTES, so that a child writing fast is read in large
      // pieces: the masker's cost per read is mostly fixed (opening its secure pages), and a
      // 64 KiB pipe capped it below 400 MB/s here (bench/README.md, masker). Best effort: past
      // the user's pipe-user-pages-soft the kernel refuses (EPERM) and the pipe stays 64 KiB.
      if (i > 0 && process.platform === 'linux') libc.fcntl(pair[0] ?? -1, F_SETPIPE_SZ, OUTPUT_PIPE_BYTES);
    }
  } catch (error) {
    for (const fd of fds) libc.close(fd);
    throw error;
  }
  // Node keeps 0/1/2 open (it opens /dev/null for missing ones at startup), so a pipe can
  // never land on a target fd, where one dup2 would clobber another pipe's end.
  if (fds.some((fd) => fd < 3)) {
    for (const fd of fds) libc.close(fd);
    throw new SpawnError('SPAWN_FAILED', 0, file, 'stdio fds 0-2 of the service are closed');
  }
  return fds;
}

/**
 * posix_spawn with the environment laid out in one SecretBuf; returns the pid.
 * The SecretBuf is wiped before this returns, on every path.
 */
function runPosixSpawn(
  libc: SpawnLibc,
  file: string,
  execPath: string,
  argv: BigUint64Array,
  env: readonly SpawnEnvEntry[],
  cwd: string,
  stdio: ChildStdio,
  execFd?: number,
): number {
  const fa = new Uint8Array(new ArrayBuffer(OPAQUE_SIZE));
  const attr = new Uint8Array(new ArrayBuffer(OPAQUE_SIZE));
  const emptySet = new Uint8Array(new ArrayBuffer(OPAQUE_SIZE));
  const fullSet = new Uint8Array(new ArrayBuffer(OPAQUE_SIZE));
  const pidOut = new Int32Array(new ArrayBuffer(4));
  const setup = (what: string, rc: number): void => {
    if (rc !== 0) throw new SpawnError('SPAWN_FAILED', rc, file, `${what} failed (errno ${String(rc)})`);
  };
  setup('posix_spawn_file_actions_init', libc.fileActionsInit(fa));
  try {
    setup('posix_spawnattr_init', libc.attrInit(attr));
    try {
      if ('pipes' in stdio) {
        const [stdinR, stdoutW, stderrW] = stdio.pipes;
        setup('adddup2', libc.fileActionsAddDup2(fa, stdinR, 0));
        setup('adddup2', libc.fileActionsAddDup2(fa, stdoutW, 1));
        setup('adddup2', libc.fileActionsAddDup2(fa, stderrW, 2));
      } else {
        // Opened in the child after its setsid() (glibc runs the attributes first), without
        // O_NOCTTY: the session leader takes the slave as its controlling terminal.
        setup('addopen', libc.fileActionsAddOpen(fa, 0, stdio.slave, O_RDWR, 0));
        setup('adddup2', libc.fileActionsAddDup2(fa, 0, 1));
        setup('adddup2', libc.fileActionsAddDup2(fa, 0, 2));
      }
      // glibc ≥ 2.29; runs in the child, so the service's own cwd never changes.
      setup('addchdir_np', libc.fileActionsAddChdir(fa, cwd));
      // A pinned target runs from the descriptor it was hashed through: as fd 3 of the
      // child (dup2 clears O_CLOEXEC there, and glibc ≥ 2.29 clears it for fd === 3 too),
      // executed as /proc/self/fd/3, so a file renamed or swapped over the path since the
      // hash is not what runs (SECURITY.md "Pinned targets").
      if (execFd !== undefined) setup('adddup2', libc.fileActionsAddDup2(fa, execFd, EXEC_FD));
      // glibc ≥ 2.34 (close_range in the child): O_CLOEXEC covers every fd Node and we open,
      // but not fds the service inherited without it (a launcher's pipe, a terminal): no fd
      // but 0/1/2 (and a pinned target's own file) may reach a program that holds secrets in
      // its environment.
      setup('addclosefrom_np', libc.fileActionsAddCloseFrom(fa, execFd === undefined ? 3 : EXEC_FD + 1));
      setup('sigemptyset', libc.sigEmptySet(emptySet) === 0 ? 0 : lastErrno());
      // Every signal 1..64 back to SIG_DFL. Not sigfillset(): it leaves out glibc's internal
      // signals 32 and 33, and glibc's spawn child then sets those to SIG_IGN (its parent
      // blocked everything around clone), which execve keeps — the program would start with
      // two real-time signals ignored. SIGKILL/SIGSTOP in the set are skipped by glibc.
      fullSet.fill(0xff);
      setup('setsigmask', libc.attrSetSigMask(attr, emptySet));
      setup('setsigdefault', libc.attrSetSigDefault(attr, fullSet));
      // A new process group (pgid = child pid) so kill() reaches the child's descendants
      // too, without SETSID: the service has no terminal to detach from, and a session
      // leader could acquire one by opening a tty.
      // On a pty: a new session instead (its leader's pgid is its pid as well), so the slave
      // can become its controlling terminal; setpgid would fail for a session leader.
      const group = 'pipes' in stdio ? POSIX_SPAWN_SETPGROUP : POSIX_SPAWN_SETSID;
      if (group === POSIX_SPAWN_SETPGROUP) setup('setpgroup', libc.attrSetPgroup(attr, 0));
      setup('setflags', libc.attrSetFlags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | group));
      const rc = spawnWithEnv(libc, execPath, argv, env, fa, attr, pidOut);
      if (rc !== 0) throw spawnFailure(rc, file, cwd);
      return pidOut[0] ?? -1;
    } finally {
      libc.attrDestroy(attr);
    }
  } finally {
    libc.fileActionsDestroy(fa);
  }
}

/** The environment of a confined launch: entries kept and renamed, then what it adds. */
function launchEnv(launch: ConfinedLaunch, env: readonly SpawnEnvEntry[]): SpawnEnvEntry[] {
  const kept = env.filter((entry) => launch.keep(entry.name, entry.value instanceof SecretBuf));
  const names = new Set(kept.map((entry) => entry.name));
  // A secret of the same name wins over what the launch adds (the task asked for it).
  const added = launch.extra.filter((entry) => !names.has(entry.name));
  return [...kept, ...added].map((entry) => ({ name: launch.rename(entry.name), value: entry.value }));
}

function spawnWithEnv(
  libc: SpawnLibc,
  file: string,
  argv: BigUint64Array,
  env: readonly SpawnEnvEntry[],
  fa: Uint8Array,
  attr: Uint8Array,
  pidOut: Int32Array,
): number {
  const names = env.map((entry) => encoder.encode(entry.name));
  const lengths = env.map((entry) => entry.value.length);
  const total = names.reduce((sum, name, i) => sum + name.length + 1 + (lengths[i] ?? 0) + 1, 0);
  const envp = new BigUint64Array(new ArrayBuffer(8 * (env.length + 1)));
  if (total === 0) return libc.posixSpawn(pidOut, file, fa, attr, argv, envp);
  const block = SecretBuf.alloc(total);
  try {
    return block.use((bytes) => {
      const base = addressOf(bytes);
      let offset = 0;
      env.forEach((entry, i) => {
        const name = names[i] ?? new Uint8Array(0);
        envp[i] = base + BigInt(offset);
        bytes.set(name, offset);
        offset += name.length;
        bytes[offset++] = 0x3d; // '='
        const { value } = entry;
        const at = offset;
        if (value instanceof SecretBuf) {
          value.use((v) => {
            bytes.set(v, at);
          });
        } else bytes.set(value, at);
        offset += value.length;
        bytes[offset++] = 0; // the zeroed allocation already holds it; explicit for clarity
      });
      envp[env.length] = 0n;
      return libc.posixSpawn(pidOut, file, fa, attr, argv, envp);
    });
  } finally {
    // The child has exec'd (or failed) by now: CLONE_VFORK. architecture §8 "per-spawn copies of
    // secrets are wiped once the child has started".
    block.wipe();
    envp.fill(0n);
  }
}

function spawnFailure(errno: number, file: string, cwd: string): SpawnError {
  // addchdir_np and execve both report through the same return value: look at cwd to tell
  // which one failed (for the message only; nothing is decided on it).
  let cwdOk: boolean;
  try {
    cwdOk = statSync(cwd).isDirectory();
  } catch {
    cwdOk = false;
  }
  if (!cwdOk && (errno === ENOENT || errno === ENOTDIR || errno === EACCES)) {
    return new SpawnError(
      'BAD_CWD',
      errno,
      cwd,
      `cannot enter working directory ${cwd} (errno ${String(errno)})`,
    );
  }
  if (errno === ENOENT || errno === ENOTDIR) {
    return new SpawnError('COMMAND_NOT_FOUND', errno, file, `command not found: ${file}`);
  }
  if (errno === EACCES || errno === EPERM || errno === ENOEXEC || errno === EISDIR) {
    return new SpawnError('NOT_EXECUTABLE', errno, file, `not executable: ${file} (errno ${String(errno)})`);
  }
  return new SpawnError('SPAWN_FAILED', errno, file, `cannot start ${file} (errno ${String(errno)})`);
}
