// SPDX-License-Identifier: AGPL-3.0-only
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Who holds a lock file: enough to tell a live holder from a dead one (or a reused pid). */
export interface LockHolder {
  readonly pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22), or '' when unknown. */
  readonly start: string;
  readonly host: string;
  /** Random per-acquisition token, so two locks never have the same content. */
  readonly token: string;
}

interface ProcStat {
  readonly state: string;
  readonly start: string;
}

function readProcStat(pid: number): ProcStat | null | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null; // no such process
    return undefined; // no /proc or not readable: unknown
  }
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name, fields start at 3 (state); starttime is field 22 → index 19 here.
  const state = fields[0];
  const start = fields[19];
  if (state === undefined || start === undefined) return undefined;
  return { state, start };
}

const hasProc = ((): boolean => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** This process's identity for a lock file. */
export function currentHolder(token: string): LockHolder {
  const stat = hasProc ? readProcStat(process.pid) : undefined;
  return { pid: process.pid, start: stat?.start ?? '', host: hostname(), token };
}

/**
 * Whether the process named in a lock file may still hold it. Errs on "alive" whenever it
 * cannot tell (another host, no /proc and EPERM), because breaking a live lock loses updates
 * while waiting on a dead one only costs a LOCK_TIMEOUT.
 */
export function isHolderAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (hasProc) {
    const stat = readProcStat(holder.pid);
    if (stat === null) return false;
    if (stat !== undefined) {
      // A zombie (Z) or dead (X) process has finished: it cannot be inside its critical section.
      if (stat.state === 'Z' || stat.state === 'X') return false;
      // Same pid, different start time: the pid was reused by an unrelated process.
      if (holder.start !== '' && stat.start !== holder.start) return false;
      return true;
    }
  }
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Whether a plain pid names a running process (for stale temp-file cleanup). On Linux a
 * thread id is also accepted by kill(2), and ids are shared by threads and processes, so
 * /proc is asked whether the id is a live thread-group leader; elsewhere kill(pid, 0).
 * A reused pid merely keeps a stale file.
 */
export function isPidAlive(pid: number): boolean {
  if (hasProc) {
    const stat = readProcStat(pid);
    if (stat === null) return false;
    if (stat !== undefined) {
      if (stat.state === 'Z' || stat.state === 'X') return false;
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'latin1');
        const tgid = /^Tgid:\s*(\d+)$/m.exec(status)?.[1];
        if (tgid !== undefined) return Number(tgid) === pid;
      } catch {
        return false; // vanished between the two reads
      }
      return true;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
