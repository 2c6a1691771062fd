// SPDX-License-Identifier: AGPL-3.0-only
// The platform-free parts of verification: the ancestry walk over an injected process lookup,
// the pid-reuse decision, and the errno → error-code mapping. Tested here on Linux.
import type { AncestorInfo, IdentityErrorCode } from '@cora/identity';

/** At most this many ancestors are recorded (architecture §6). */
export const MAX_ANCESTORS = 8;

/** What the walk needs to know about one process. */
export interface ProcessFacts {
  readonly ppid: number;
  readonly uid: number;
  /** Microseconds since the epoch. */
  readonly startTime: bigint;
  readonly exe: string | null;
  readonly argv0: string | null;
  readonly script: string | null;
}

/**
 * Parent first, up to and including the first process of another uid, at most 8
 * (architecture §6). `lookup` returns `null` for a process that is gone or unreadable.
 *
 * A parent must have started no later than its child: a pid whose process is younger than
 * the child it is supposed to have forked was recycled after the real parent exited (the
 * child was reparented to launchd and the ppid read raced it, or the number was reused), so
 * the chain stops there instead of naming an unrelated process.
 */
export function walkAncestry(
  firstParent: number,
  childStart: bigint,
  uid: number,
  lookup: (pid: number) => ProcessFacts | null,
): AncestorInfo[] {
  const ancestry: AncestorInfo[] = [];
  const seen = new Set<number>();
  let pid = firstParent;
  let youngerThan = childStart;
  while (pid > 0 && ancestry.length < MAX_ANCESTORS && !seen.has(pid)) {
    seen.add(pid);
    const facts = lookup(pid);
    if (facts === null) break;
    if (facts.startTime > youngerThan) break; // recycled pid: not the real parent
    ancestry.push(
      Object.freeze({
        pid,
        uid: facts.uid,
        exe: facts.exe,
        argv0: facts.argv0 === '' ? null : facts.argv0,
        startTime: facts.startTime,
        ...(facts.script === null ? {} : { script: facts.script }),
      }),
    );
    if (facts.uid !== uid) break;
    pid = facts.ppid;
    youngerThan = facts.startTime;
  }
  return ancestry;
}

/** The pinned facts of the process that connected, against what is read now. */
export interface Pin {
  readonly startTime: bigint;
  /** From the audit token (or the first read); `null` when this kernel gives none. */
  readonly pidversion: number | null;
}

/**
 * Is the process read now the one that was pinned? `PID_REUSED` when the start time
 * differs (another process holds the number); `PEER_CHANGED` when only the pid version
 * differs (the same process, after something, such as an `exec` on kernels that renumber
 * it, gave it a new pid version); `null`
 * when it is the same.
 */
export function pinMismatch(
  pinned: Pin,
  now: { startTime: bigint; pidversion: number | null },
): 'PID_REUSED' | 'PEER_CHANGED' | null {
  if (now.startTime !== pinned.startTime) return 'PID_REUSED';
  if (pinned.pidversion !== null && now.pidversion !== null && now.pidversion !== pinned.pidversion) {
    return 'PEER_CHANGED';
  }
  return null;
}

/** Darwin errno values (`<sys/errno.h>`), used when koffi's table lacks a name. */
export const DarwinErrno = {
  EPERM: 1,
  ESRCH: 3,
  EBADF: 9,
  EACCES: 13,
  EFAULT: 14,
  EINVAL: 22,
  ENOTSOCK: 38,
  ENOPROTOOPT: 42,
  ENOTCONN: 57,
} as const;

/**
 * The error code for a failed `proc_pidinfo`/`proc_pidpath`/`sysctl` on a process: it is
 * gone (ESRCH), or it exists but may not be read (EPERM, EACCES: another uid, or a
 * hardened process), or something else went wrong (fail closed as unreadable).
 */
export function procErrorCode(errno: number): Extract<IdentityErrorCode, 'PEER_GONE' | 'PROC_UNREADABLE'> {
  return errno === DarwinErrno.ESRCH ? 'PEER_GONE' : 'PROC_UNREADABLE';
}
