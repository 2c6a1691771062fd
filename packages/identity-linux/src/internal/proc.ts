// SPDX-License-Identifier: AGPL-3.0-only
// Readers of /proc/<pid>/… (proc(5)). Each returns `null` when the process is gone (ENOENT,
// ESRCH) and throws the fs error otherwise (EACCES etc.), so callers can tell the two apart.
import { readFileSync, readlinkSync, statSync } from 'node:fs';

/** The parts of /proc/<pid>/stat Cora uses. */
export interface ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), … */
  readonly state: string;
  /** Field 4. */
  readonly ppid: number;
  /** Field 22: start time in clock ticks since boot. */
  readonly startTime: bigint;
}

function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

function gentle<T>(read: () => T): T | null {
  try {
    return read();
  } catch (error) {
    if (isGone(error)) return null;
    throw error;
  }
}

/**
 * Parse a /proc/<pid>/stat line. Field 2 (comm, in parentheses) may itself contain spaces
 * and ')', so the fields after it are found from the LAST ')' (proc(5)).
 */
export function parseStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text
    .slice(close + 2)
    .trimEnd()
    .split(' ');
  // fields[0] is field 3 (state); field N is fields[N - 3].
  const state = fields[0];
  const ppid = fields[1];
  const start = fields[19];
  if (state === undefined || ppid === undefined || start === undefined || !/^\d+$/.test(start)) return null;
  return { state, ppid: Number(ppid), startTime: BigInt(start) };
}

export function readStat(pid: number): ProcStat | null {
  const text = gentle(() => readFileSync(`/proc/${pid}/stat`, 'latin1'));
  return text === null ? null : parseStat(text);
}

/** True for a process that has exited but is not yet reaped (or is being torn down). */
export function isDead(stat: ProcStat): boolean {
  return stat.state === 'Z' || stat.state === 'X' || stat.state === 'x';
}

/** readlink /proc/<pid>/exe (may end in " (deleted)"). */
export function readExe(pid: number): string | null {
  return gentle(() => readlinkSync(`/proc/${pid}/exe`));
}

/** Device and inode of the file the process executes (stat through the magic link). */
export function statExe(pid: number): { dev: bigint; ino: bigint } | null {
  const st = gentle(() => statSync(`/proc/${pid}/exe`, { bigint: true }));
  return st === null ? null : { dev: st.dev, ino: st.ino };
}

export function readCwd(pid: number): string | null {
  return gentle(() => readlinkSync(`/proc/${pid}/cwd`));
}

/** argv from /proc/<pid>/cmdline (NUL-separated); empty for kernel threads and zombies. */
export function readCmdline(pid: number): string[] | null {
  const raw = gentle(() => readFileSync(`/proc/${pid}/cmdline`));
  if (raw === null) return null;
  if (raw.length === 0) return [];
  const text = raw.toString('utf8');
  const parts = text.split('\0');
  if (text.endsWith('\0')) parts.pop();
  return parts;
}

/** Effective uid and gid from the "Uid:" and "Gid:" lines of /proc/<pid>/status (real, effective, saved, fs). */
export function readEffectiveIds(pid: number): { uid: number; gid: number } | null {
  const text = gentle(() => readFileSync(`/proc/${pid}/status`, 'latin1'));
  if (text === null) return null;
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(text)?.[1];
  const gid = /^Gid:\s+\d+\s+(\d+)/m.exec(text)?.[1];
  return uid === undefined || gid === undefined ? null : { uid: Number(uid), gid: Number(gid) };
}

/** Effective uid from the "Uid:" line of /proc/<pid>/status. */
export function readEffectiveUid(pid: number): number | null {
  return readEffectiveIds(pid)?.uid ?? null;
}
