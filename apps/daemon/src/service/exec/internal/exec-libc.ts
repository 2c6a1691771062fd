// SPDX-License-Identifier: AGPL-3.0-only
import koffi from 'koffi';

/** The few libc calls the confining exec helper needs (confine-main.ts), loaded once. */
export interface ExecLibc {
  /** execve(2): returns only on failure (-1, errno set). */
  execve(path: string, argv: BigUint64Array, envp: BigUint64Array): number;
  /** Put every catchable signal back to SIG_DFL and unblock all: an ignored signal survives execve. */
  resetSignals(): void;
  /**
   * Undo what Node did to fds 0–2 at start-up: it marks them close-on-exec and may make them
   * non-blocking (as `process.execve` undoes too); the target gets them as the service made them.
   */
  resetStdio(): void;
}

/** SIG_SETMASK (<bits/sigaction.h>, x86_64 and aarch64). */
const SIG_SETMASK = 2;
// <fcntl.h> on x86_64 and aarch64.
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const SIGKILL = 9;
const SIGSTOP = 19;
/** Signals 1–31 (the real-time ones are never ignored by Node). */
const LAST_SIGNAL = 31;

let libc: ExecLibc | undefined;

/**
 * Load the bindings (once).
 * @returns the bound functions
 */
export function loadExecLibc(): ExecLibc {
  if (libc !== undefined) return libc;
  const lib = koffi.load('libc.so.6');
  const execve = lib.func('int execve(const char *path, void *argv, void *envp)');
  const signal = lib.func('void *signal(int sig, void *handler)');
  const sigprocmask = lib.func('int sigprocmask(int how, void *set, void *old)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  libc = {
    execve: (path, argv, envp) => execve(path, argv, envp) as number,
    resetSignals: () => {
      // Node ignores SIGPIPE; a target started with it ignored would spin on EPIPE.
      for (let sig = 1; sig <= LAST_SIGNAL; sig++) if (sig !== SIGKILL && sig !== SIGSTOP) signal(sig, null);
      sigprocmask(SIG_SETMASK, new Uint8Array(new ArrayBuffer(128)), null);
    },
    resetStdio: () => {
      for (let fd = 0; fd <= 2; fd++) {
        fcntl(fd, F_SETFD, 'int', 0);
        const flags = fcntl(fd, F_GETFL) as number;
        if (flags >= 0 && (flags & O_NONBLOCK) !== 0) fcntl(fd, F_SETFL, 'int', flags & ~O_NONBLOCK);
      }
    },
  };
  return libc;
}

/** The current `errno` (valid right after a failed call). */
export function lastErrno(): number {
  return koffi.errno();
}
