// SPDX-License-Identifier: AGPL-3.0-only
import koffi from 'koffi';
import { pidfdCalls } from '../../../shared/pidfd.ts';

/**
 * The libc calls behind `spawnChild` (architecture §3, §8), loaded once, in the style of
 * `harden.ts`. Pointer parameters are declared `void *` and given `ArrayBuffer`-backed views
 * (or the SecretBuf view inside `use()`): koffi then passes the view's address as is, with no
 * copy — verified for typed arrays, and the reason secret bytes never pass through koffi's
 * own marshalling memory.
 */
export interface SpawnLibc {
  pipe2(fds: Int32Array, flags: number): number;
  /** fcntl(2) with one int argument. */
  fcntl(fd: number, cmd: number, arg: number): number;
  fileActionsInit(fa: Uint8Array): number;
  fileActionsDestroy(fa: Uint8Array): number;
  fileActionsAddDup2(fa: Uint8Array, fd: number, newfd: number): number;
  fileActionsAddChdir(fa: Uint8Array, path: string): number;
  fileActionsAddOpen(fa: Uint8Array, fd: number, path: string, oflag: number, mode: number): number;
  fileActionsAddCloseFrom(fa: Uint8Array, from: number): number;
  attrInit(attr: Uint8Array): number;
  attrDestroy(attr: Uint8Array): number;
  attrSetFlags(attr: Uint8Array, flags: number): number;
  attrSetSigMask(attr: Uint8Array, set: Uint8Array): number;
  attrSetSigDefault(attr: Uint8Array, set: Uint8Array): number;
  attrSetPgroup(attr: Uint8Array, pgroup: number): number;
  sigEmptySet(set: Uint8Array): number;
  posixSpawn(
    pid: Int32Array,
    path: string,
    fa: Uint8Array,
    attr: Uint8Array,
    argv: BigUint64Array,
    envp: BigUint64Array,
  ): number;
  waitpid(pid: number, status: Int32Array, options: number): number;
  kill(pid: number, sig: number): number;
  close(fd: number): number;
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2) with no siginfo and no flags. */
  pidfdSendSignal(pidfd: number, sig: number): number;
  /** prctl(2) with one argument. */
  prctl(option: number, arg: number): number;
}

/**
 * The numbers that differ between the C libraries spawn.ts binds (`<fcntl.h>`, `<spawn.h>`).
 * Linux: glibc, identical on x86_64 and aarch64. macOS: xnu's headers (`sys/fcntl.h`,
 * `sys/spawn.h`), written against them and not yet run on a Mac.
 */
export interface SpawnAbi {
  readonly library: string;
  readonly O_CLOEXEC: number;
  /** setsid() in the child before the file actions (glibc ≥ 2.26; macOS 10.15). */
  readonly POSIX_SPAWN_SETSID: number;
  /**
   * macOS's POSIX_SPAWN_CLOEXEC_DEFAULT (every fd not named by a file action is closed in
   * the child): what glibc's `addclosefrom_np` does there. 0 on Linux.
   */
  readonly CLOEXEC_DEFAULT: number;
}

/**
 * The spawn ABI of a platform.
 * @param platform - a `process.platform` value
 * @returns its numbers (Linux's for any platform but macOS: spawn.ts runs neither elsewhere)
 */
export function spawnAbi(platform: NodeJS.Platform): SpawnAbi {
  if (platform === 'darwin') {
    return {
      library: '/usr/lib/libSystem.B.dylib',
      O_CLOEXEC: 0x0100_0000,
      POSIX_SPAWN_SETSID: 0x0400,
      CLOEXEC_DEFAULT: 0x4000,
    };
  }
  return { library: 'libc.so.6', O_CLOEXEC: 0o2000000, POSIX_SPAWN_SETSID: 0x80, CLOEXEC_DEFAULT: 0 };
}

const ABI = spawnAbi(process.platform);
export const O_CLOEXEC = ABI.O_CLOEXEC;
/** fcntl: set a pipe's capacity (Linux 2.6.35; no such call on macOS). */
export const F_SETPIPE_SZ = 1031;
export const POSIX_SPAWN_SETPGROUP = 0x02;
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
export const POSIX_SPAWN_SETSID = ABI.POSIX_SPAWN_SETSID;
export const O_RDWR = 0o2;
export const WNOHANG = 1;

/**
 * Opaque object sizes: glibc's posix_spawnattr_t is 336 bytes, posix_spawn_file_actions_t 80,
 * sigset_t 128 on x86_64 and aarch64; macOS's are a pointer (8) and 4. One generous size for
 * all, so an ABI with larger objects still cannot overflow them.
 */
export const OPAQUE_SIZE = 512;

let libc: SpawnLibc | undefined;

/**
 * Load the bindings (once).
 * @returns the bound functions
 * @throws Error on a platform without 64-bit pointers or without the glibc ≥ 2.34 symbols
 *   (macOS: libSystem's, 10.15 or later for `addchdir_np`).
 */
export function loadSpawnLibc(): SpawnLibc {
  if (libc !== undefined) return libc;
  if (koffi.sizeof('void *') !== 8) throw new Error('spawnChild needs a 64-bit platform');
  const darwin = process.platform === 'darwin';
  const lib = koffi.load(ABI.library);
  // macOS has no pipe2: pipe() then FD_CLOEXEC on both ends (posix_spawn's CLOEXEC_DEFAULT
  // keeps them from our children meanwhile; libuv's own spawns close what they do not pass).
  const pipe2 = darwin ? null : lib.func('int pipe2(void *fds, int flags)');
  const pipe = darwin ? lib.func('int pipe(void *fds)') : null;
  const fcntl = lib.func('int fcntl(int fd, int cmd, int arg)');
  const faInit = lib.func('int posix_spawn_file_actions_init(void *fa)');
  const faDestroy = lib.func('int posix_spawn_file_actions_destroy(void *fa)');
  const faDup2 = lib.func('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)');
  const faChdir = lib.func('int posix_spawn_file_actions_addchdir_np(void *fa, const char *path)');
  const faOpen = lib.func(
    'int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, unsigned int mode)',
  );
  const faCloseFrom = darwin
    ? null
    : lib.func('int posix_spawn_file_actions_addclosefrom_np(void *fa, int from)');
  const attrInit = lib.func('int posix_spawnattr_init(void *attr)');
  const attrDestroy = lib.func('int posix_spawnattr_destroy(void *attr)');
  const attrFlags = lib.func('int posix_spawnattr_setflags(void *attr, short flags)');
  const attrMask = lib.func('int posix_spawnattr_setsigmask(void *attr, void *set)');
  const attrDefault = lib.func('int posix_spawnattr_setsigdefault(void *attr, void *set)');
  const attrPgroup = lib.func('int posix_spawnattr_setpgroup(void *attr, int pgroup)');
  const sigEmpty = lib.func('int sigemptyset(void *set)');
  const spawn = lib.func(
    'int posix_spawn(void *pid, const char *path, void *fa, void *attr, void *argv, void *envp)',
  );
  const waitpid = lib.func('int waitpid(int pid, void *status, int options)');
  const kill = lib.func('int kill(int pid, int sig)');
  const close = lib.func('int close(int fd)');
  const prctl = darwin
    ? null
    : lib.func(
        'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
      );
  const FD_CLOEXEC = 1;
  const F_SETFD = 2;
  libc = {
    pipe2: (f, fl) => {
      if (pipe2 !== null) return pipe2(f, fl) as number;
      if ((pipe?.(f) as number) !== 0) return -1;
      if ((fl & ABI.O_CLOEXEC) !== 0) for (const fd of f) fcntl(fd, F_SETFD, FD_CLOEXEC);
      return 0;
    },
    fcntl: (fd, cmd, arg) => fcntl(fd, cmd, arg) as number,
    fileActionsInit: (fa) => faInit(fa) as number,
    fileActionsDestroy: (fa) => faDestroy(fa) as number,
    fileActionsAddDup2: (fa, fd, nfd) => faDup2(fa, fd, nfd) as number,
    fileActionsAddChdir: (fa, p) => faChdir(fa, p) as number,
    fileActionsAddOpen: (fa, fd, p, o, m) => faOpen(fa, fd, p, o, m) as number,
    // macOS: the CLOEXEC_DEFAULT flag (attrSetFlags) closes every other fd instead.
    fileActionsAddCloseFrom: (fa, from) => (faCloseFrom === null ? 0 : (faCloseFrom(fa, from) as number)),
    attrInit: (a) => attrInit(a) as number,
    attrDestroy: (a) => attrDestroy(a) as number,
    attrSetFlags: (a, f) => attrFlags(a, f | ABI.CLOEXEC_DEFAULT) as number,
    attrSetSigMask: (a, s) => attrMask(a, s) as number,
    attrSetSigDefault: (a, s) => attrDefault(a, s) as number,
    attrSetPgroup: (a, g) => attrPgroup(a, g) as number,
    sigEmptySet: (s) => sigEmpty(s) as number,
    posixSpawn: (pid, p, fa, a, argv, envp) => spawn(pid, p, fa, a, argv, envp) as number,
    waitpid: (pid, st, o) => waitpid(pid, st, o) as number,
    kill: (pid, sig) => kill(pid, sig) as number,
    close: (fd) => close(fd) as number,
    // macOS has neither: -1 makes spawn-wait poll waitpid on a timer instead.
    pidfdOpen: (pid) => (darwin ? -1 : pidfdCalls().open(pid)),
    pidfdSendSignal: (fd, sig) => (darwin ? -1 : pidfdCalls().sendSignal(fd, sig)),
    prctl: (option, arg) => (prctl === null ? -1 : (prctl(option, arg, 0, 0, 0) as number)),
  };
  return libc;
}

/** The current `errno` (valid right after a failed call). */
export function lastErrno(): number {
  return koffi.errno();
}

/**
 * The address of a view's first byte, for building `char *` arrays by hand. Only for views on
 * off-heap memory (`new ArrayBuffer`, a Buffer, a SecretBuf view): V8 may move small
 * on-heap typed arrays.
 * @param view - the bytes
 * @returns the address as a bigint
 */
export function addressOf(view: Uint8Array): bigint {
  return koffi.address(view);
}

/**
 * Watch an fd for readability on the event loop (libuv `uv_poll`, no thread-pool slot).
 * @returns a handle to stop and close
 */
export function pollReadable(fd: number, onReadable: () => void): { close(): void } {
  // koffi 3.3.4 calls back with (status, events), not (events) as its index.d.ts says
  // (src/koffi/src/uv.cc PollHandle::OnPoll). On an error status, still let the caller look:
  // its waitpid(WNOHANG) decides, a spurious wake-up costs one syscall.
  const callback: (status: number, events: { readable: boolean }) => void = () => {
    onReadable();
  };
  const handle = koffi.node.poll(
    fd,
    { readable: true },
    callback as unknown as Parameters<typeof koffi.node.poll>[1],
  );
  return {
    // Close() stops the poll and uv_close()s the handle; it does not close the fd.
    close: () => {
      handle.close();
    },
  };
}
