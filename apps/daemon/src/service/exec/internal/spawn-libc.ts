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

// <fcntl.h>, <spawn.h>, <sys/wait.h>: glibc values, identical on x86_64 and aarch64.
export const O_CLOEXEC = 0o2000000;
/** fcntl: set a pipe's capacity (Linux 2.6.35). */
export const F_SETPIPE_SZ = 1031;
export const POSIX_SPAWN_SETPGROUP = 0x02;
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
/** glibc ≥ 2.26: setsid() in the child, before the file actions run. */
export const POSIX_SPAWN_SETSID = 0x80;
export const O_RDWR = 0o2;
export const WNOHANG = 1;

/**
 * Opaque glibc object sizes: posix_spawnattr_t is 336 bytes, posix_spawn_file_actions_t 80,
 * sigset_t 128 on x86_64 and aarch64. One generous size for all, so an ABI with larger
 * objects still cannot overflow them.
 */
export const OPAQUE_SIZE = 512;

let libc: SpawnLibc | undefined;

/**
 * Load the bindings (once).
 * @returns the bound functions
 * @throws Error on a platform without 64-bit pointers or without the glibc ≥ 2.34 symbols.
 */
export function loadSpawnLibc(): SpawnLibc {
  if (libc !== undefined) return libc;
  if (koffi.sizeof('void *') !== 8) throw new Error('spawnChild needs a 64-bit platform');
  const lib = koffi.load('libc.so.6');
  const pipe2 = lib.func('int pipe2(void *fds, int flags)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, int arg)');
  const faInit = lib.func('int posix_spawn_file_actions_init(void *fa)');
  const faDestroy = lib.func('int posix_spawn_file_actions_destroy(void *fa)');
  const faDup2 = lib.func('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)');
  const faChdir = lib.func('int posix_spawn_file_actions_addchdir_np(void *fa, const char *path)');
  const faOpen = lib.func(
    'int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, unsigned int mode)',
  );
  const faCloseFrom = lib.func('int posix_spawn_file_actions_addclosefrom_np(void *fa, int from)');
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
  const prctl = lib.func(
    'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
  );
  libc = {
    pipe2: (f, fl) => pipe2(f, fl) as number,
    fcntl: (fd, cmd, arg) => fcntl(fd, cmd, arg) as number,
    fileActionsInit: (fa) => faInit(fa) as number,
    fileActionsDestroy: (fa) => faDestroy(fa) as number,
    fileActionsAddDup2: (fa, fd, nfd) => faDup2(fa, fd, nfd) as number,
    fileActionsAddChdir: (fa, p) => faChdir(fa, p) as number,
    fileActionsAddOpen: (fa, fd, p, o, m) => faOpen(fa, fd, p, o, m) as number,
    fileActionsAddCloseFrom: (fa, from) => faCloseFrom(fa, from) as number,
    attrInit: (a) => attrInit(a) as number,
    attrDestroy: (a) => attrDestroy(a) as number,
    attrSetFlags: (a, f) => attrFlags(a, f) as number,
    attrSetSigMask: (a, s) => attrMask(a, s) as number,
    attrSetSigDefault: (a, s) => attrDefault(a, s) as number,
    attrSetPgroup: (a, g) => attrPgroup(a, g) as number,
    sigEmptySet: (s) => sigEmpty(s) as number,
    posixSpawn: (pid, p, fa, a, argv, envp) => spawn(pid, p, fa, a, argv, envp) as number,
    waitpid: (pid, st, o) => waitpid(pid, st, o) as number,
    kill: (pid, sig) => kill(pid, sig) as number,
    close: (fd) => close(fd) as number,
    pidfdOpen: (pid) => pidfdCalls().open(pid),
    pidfdSendSignal: (fd, sig) => pidfdCalls().sendSignal(fd, sig),
    prctl: (option, arg) => prctl(option, arg, 0, 0, 0) as number,
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
