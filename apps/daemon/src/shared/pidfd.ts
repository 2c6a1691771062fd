// SPDX-License-Identifier: AGPL-3.0-only
/**
 * pidfds (Linux ≥ 5.3), for both processes: the service signals the children it spawned through
 * them, `cr stop` the service it found (a pid pinned before it is checked, so a recycled pid is
 * never signalled). Bound once, at first use.
 */
import { koffi } from './ffi.ts';

/** `pidfd_open` (Linux 5.3); new syscalls share one number on every architecture. */
const SYS_PIDFD_OPEN = 434;
/** `pidfd_send_signal` (Linux 5.1), the same number on every architecture. */
const SYS_PIDFD_SEND_SIGNAL = 424;

/** The calls, each returning what the kernel returned (-1 and errno on failure). */
export interface PidfdCalls {
  /** pidfd_open(2) with no flags. */
  open(pid: number): number;
  /** pidfd_send_signal(2) with no siginfo and no flags. */
  sendSignal(pidfd: number, sig: number): number;
  close(fd: number): number;
}

let calls: PidfdCalls | undefined;

/** @returns the bound calls (loads libc through koffi on the first call) */
export function pidfdCalls(): PidfdCalls {
  if (calls !== undefined) return calls;
  const lib = koffi().load('libc.so.6');
  const syscall = lib.func('long syscall(long number, ...)');
  const close = lib.func('int close(int fd)');
  calls = {
    open: (pid) => Number(syscall(SYS_PIDFD_OPEN, 'int', pid, 'unsigned int', 0) as number | bigint),
    sendSignal: (fd, sig) =>
      Number(
        syscall(SYS_PIDFD_SEND_SIGNAL, 'int', fd, 'int', sig, 'void *', null, 'unsigned int', 0) as
          number | bigint,
      ),
    close: (fd) => close(fd) as number,
  };
  return calls;
}
