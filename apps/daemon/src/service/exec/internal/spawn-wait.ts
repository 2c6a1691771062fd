// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:os';
import { WNOHANG, lastErrno, loadSpawnLibc, pollReadable } from './spawn-libc.ts';

/** How a child ended: exactly one of the two is non-null. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const ECHILD = 10;
const EINTR = 4;
/** Fallback poll period where pidfd_open is missing (Linux < 5.3, some seccomp sandboxes). */
const FALLBACK_POLL_MS = 20;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

/**
 * Decode a wait status (glibc `<bits/waitstatus.h>`: WIFEXITED, WEXITSTATUS, WTERMSIG).
 * @param status - the int waitpid stored
 * @returns the exit code or the signal name
 */
function decodeWaitStatus(status: number): ChildExit {
  const low = status & 0x7f;
  if (low === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: SIGNAL_NAMES.get(low) ?? (`SIG${String(low)}` as NodeJS.Signals) };
}

/**
 * Reap `pid` without blocking the event loop or taking a libuv thread-pool slot: a pidfd
 * becomes readable when the process exits (Linux ≥ 5.3), libuv polls it like a socket, and
 * then `waitpid(pid, WNOHANG)` collects the status at once. A blocking `waitpid` through
 * koffi's async call would park one of the four pool threads per child for the child's whole
 * life: 4 long-running children would starve `crypto.argon2` and every `fs` call of the
 * service, 100 would queue 96 of them behind the first 4. Where `pidfd_open` fails a timer
 * polls `waitpid(WNOHANG)` instead (slower to notice an exit, never blocking).
 *
 * Node never reaps this child itself: libuv's SIGCHLD handler only waits for the pids of its
 * own `uv_spawn` handles, never `waitpid(-1)`, so the status is ours to collect.
 *
 * @param pid - a child of this process, not yet reaped
 * @param onReaped - runs synchronously at the moment the pid is reaped (before the promise
 *   settles), so a `kill()` can never reach a recycled pid
 * @returns the exit status
 */
export function waitForExit(pid: number, onReaped: () => void): Promise<ChildExit> {
  const libc = loadSpawnLibc();
  const status = new Int32Array(new ArrayBuffer(4));
  return new Promise<ChildExit>((resolve, reject) => {
    let stop: () => void = () => undefined;
    const tryReap = (): void => {
      let got: number;
      do {
        got = libc.waitpid(pid, status, WNOHANG);
      } while (got === -1 && lastErrno() === EINTR);
      if (got === 0) return; // not yet: spurious wake-up
      stop();
      onReaped();
      if (got === pid) resolve(decodeWaitStatus(status[0] ?? 0));
      else {
        const errno = lastErrno();
        reject(
          new Error(
            `waitpid(${String(pid)}) failed (errno ${String(errno)}${errno === ECHILD ? ': reaped elsewhere' : ''})`,
          ),
        );
      }
    };
    const pidfd = libc.pidfdOpen(pid);
    if (pidfd >= 0) {
      const poll = pollReadable(pidfd, tryReap);
      stop = () => {
        poll.close();
        libc.close(pidfd);
      };
    } else {
      const timer = setInterval(tryReap, FALLBACK_POLL_MS);
      stop = () => {
        clearInterval(timer);
      };
    }
    // The child may have exited before the poll was armed; a pidfd of an exited process is
    // readable at once, but checking now also covers the timer fallback's first period.
    tryReap();
  });
}
