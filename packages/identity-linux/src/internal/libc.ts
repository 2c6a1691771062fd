// SPDX-License-Identifier: AGPL-3.0-only
// The few libc calls Node does not expose, through koffi (architecture §3). Linux only.
import koffi from 'koffi';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** Linux ≥ 6.5: a pidfd for the process that connected (include/uapi/asm-generic/socket.h). */
const SO_PEERPIDFD = 77;

const errno = koffi.os.errno;
/** Numeric errno values, from koffi's table of this OS (fallbacks: Linux generic values). */
const Errno = {
  EPERM: errno['EPERM'] ?? 1,
  ESRCH: errno['ESRCH'] ?? 3,
  EBADF: errno['EBADF'] ?? 9,
  EINVAL: errno['EINVAL'] ?? 22,
  ENOSYS: errno['ENOSYS'] ?? 38,
  ENOPROTOOPT: errno['ENOPROTOOPT'] ?? 92,
  ENOTSOCK: errno['ENOTSOCK'] ?? 88,
} as const;

const libc = koffi.load('libc.so.6');
type GetsockoptFn = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;
const getsockopt = libc.func(
  'int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)',
) as GetsockoptFn;
// glibc ≥ 2.36 has the wrapper; the syscall itself exists since Linux 5.1.
const pidfdSendSignal = libc.func(
  'int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)',
) as (pidfd: number, sig: number, info: null, flags: number) => number;
const pidfdOpenFn = libc.func('int pidfd_open(int pid, unsigned int flags)') as (
  pid: number,
  flags: number,
) => number;
const closeFn = libc.func('int close(int fd)') as (fd: number) => number;

/** A failed libc call: `errno` is the C errno. */
export class LibcError extends Error {
  override readonly name = 'LibcError';
  readonly errno: number;
  constructor(call: string, code: number) {
    super(`${call} failed with errno ${code}`);
    this.errno = code;
  }
}

/** SO_PEERCRED: `struct ucred { pid_t pid; uid_t uid; gid_t gid; }`. */
export function getPeerCred(fd: number): { pid: number; uid: number; gid: number } {
  const value = Buffer.alloc(12);
  const length = [12];
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, value, length) !== 0) {
    throw new LibcError('getsockopt(SO_PEERCRED)', koffi.errno());
  }
  if (length[0] !== 12) throw new LibcError('getsockopt(SO_PEERCRED)', Errno.EINVAL);
  return { pid: value.readInt32LE(0), uid: value.readUInt32LE(4), gid: value.readUInt32LE(8) };
}

/**
 * SO_PEERPIDFD: a new pidfd (owned by the caller, close it) for the process that connected,
 * or `null` when the kernel does not know the option (ENOPROTOOPT, Linux < 6.5).
 */
export function getPeerPidfd(fd: number): number | null {
  const value = Buffer.alloc(4);
  const length = [4];
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, value, length) !== 0) {
    const code = koffi.errno();
    if (code === Errno.ENOPROTOOPT) return null;
    throw new LibcError('getsockopt(SO_PEERPIDFD)', code);
  }
  const pidfd = value.readInt32LE(0);
  if (length[0] !== 4 || pidfd < 0) throw new LibcError('getsockopt(SO_PEERPIDFD)', Errno.EINVAL);
  return pidfd;
}

/**
 * pidfd_open(2): a new pidfd (owned by the caller, close it) for the process that holds `pid`
 * now, or `null` when the kernel has no such call (ENOSYS, Linux < 5.3).
 * @throws LibcError with `errno` ESRCH when no process has that pid, EINVAL for a bad pid.
 */
export function openPidfd(pid: number): number | null {
  const pidfd = pidfdOpenFn(pid, 0);
  if (pidfd >= 0) return pidfd;
  const code = koffi.errno();
  if (code === Errno.ENOSYS) return null;
  throw new LibcError('pidfd_open', code);
}

/** The errno of a process that does not exist (for callers of {@link openPidfd}). */
export const ESRCH: number = Errno.ESRCH;

/**
 * Whether the process behind `pidfd` still runs: signal 0 through the pidfd fails with ESRCH
 * once it has exited, whatever process now holds its pid number. A zombie still counts as
 * running here; callers check `/proc/<pid>/stat` for that.
 */
export function pidfdAlive(pidfd: number): boolean {
  if (pidfdSendSignal(pidfd, 0, null, 0) === 0) return true;
  const code = koffi.errno();
  // EPERM: it exists but belongs to a uid we may not signal — still alive.
  if (code === Errno.EPERM) return true;
  // ESRCH: exited. Anything else is unexpected: answer "not alive" (fail closed).
  return false;
}

/** close(2), ignoring errors (the fd is ours and closed once). */
export function closeFd(fd: number): void {
  closeFn(fd);
}
