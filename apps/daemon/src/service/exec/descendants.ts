// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Every process the service's children leave behind, detached ones included (architecture §8,
 * issue 13 item 2). The service is a child subreaper (PR_SET_CHILD_SUBREAPER): a descendant
 * whose parent exits — a double fork, a `setsid` daemon — is reparented to the service rather
 * than to init, so it stays in the service's process tree, where `/proc` finds it. No root
 * and no cgroup needed (none is delegated to users on machines without a systemd user
 * manager). At lock every descendant dies; a task with `detached: kill` also ends, when its
 * child exits, the orphans the service adopted since that child started.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { WNOHANG, lastErrno, loadSpawnLibc } from './internal/spawn-libc.ts';
import { killAllChildrenWin32 } from './spawn-win32.ts';

/** `PR_SET_CHILD_SUBREAPER` (<linux/prctl.h>). */
const PR_SET_CHILD_SUBREAPER = 36;
const SIGKILL = 9;
/** Kill rounds: a process forking while it is killed leaves children that the next round finds. */
const MAX_ROUNDS = 50;

interface ProcInfo {
  readonly ppid: number;
  readonly state: string;
  /** Start time in clock ticks since boot (`/proc/<pid>/stat` field 22). */
  readonly start: bigint;
}

/** Children spawned by `spawnChild` and not yet reaped: their exit belongs to spawn-wait. */
const tracked = new Set<number>();
let subreaper = false;
let reapScheduled = false;

/**
 * Make the service a child subreaper (once) and reap the orphans it adopts as they exit.
 * Called before the first spawn, when no descendant exists yet.
 */
export function becomeSubreaper(): void {
  // macOS has no subreaper: a descendant that detaches goes to launchd (SECURITY.md, macOS).
  if (subreaper || process.platform === 'darwin') return;
  if (loadSpawnLibc().prctl(PR_SET_CHILD_SUBREAPER, 1) !== 0) {
    throw new Error(`prctl(PR_SET_CHILD_SUBREAPER) failed (errno ${String(lastErrno())})`);
  }
  subreaper = true;
  // An adopted orphan that exits is our zombie; libuv reaps only its own children. Coalesced:
  // one /proc scan per burst of exits.
  process.on('SIGCHLD', () => {
    if (reapScheduled) return;
    reapScheduled = true;
    setTimeout(() => {
      reapScheduled = false;
      reapAdopted();
    }, 20).unref();
  });
}

/** Note a child `spawnChild` started; {@link untrackChild} when spawn-wait reaped it. */
export function trackChild(pid: number): void {
  tracked.add(pid);
}

/** The child was reaped by spawn-wait. */
export function untrackChild(pid: number): void {
  tracked.delete(pid);
}

/** `/proc/<pid>/stat` of every process, or null entries for those gone meanwhile. */
function scan(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const info = readStat(Number(name));
    if (info !== null) out.set(Number(name), info);
  }
  return out;
}

function readStat(pid: number): ProcInfo | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${String(pid)}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  const start = fields[19];
  if (!Number.isInteger(ppid) || start === undefined) return null;
  return { ppid, state: fields[0] ?? '?', start: BigInt(start) };
}

/** The start time of process `pid` in clock ticks since boot, or null when it is gone. */
export function startTicks(pid: number): bigint | null {
  return readStat(pid)?.start ?? null;
}

/** pids of the processes under `roots` (the roots included), from one scan. */
function subtrees(procs: ReadonlyMap<number, ProcInfo>, roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, info] of procs) {
    const list = children.get(info.ppid) ?? [];
    list.push(pid);
    children.set(info.ppid, list);
  }
  const out: number[] = [];
  const queue = [...roots];
  const seen = new Set<number>();
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * SIGKILL `pid` through a pidfd, after checking (with the pidfd held, so the pid cannot be
 * recycled under us) that it is still the process seen in the scan.
 */
function killSame(pid: number, seen: ProcInfo): void {
  const libc = loadSpawnLibc();
  const fd = libc.pidfdOpen(pid);
  if (fd < 0) return; // gone
  try {
    const now = readStat(pid);
    if (now?.start !== seen.start) return;
    libc.pidfdSendSignal(fd, SIGKILL);
  } finally {
    libc.close(fd);
  }
}

/**
 * Kill, round after round, the processes `pick` selects from a fresh scan, until a round
 * finds none alive (zombies hold no memory: their environment is gone).
 * @returns how many processes were signalled
 */
function killUntilGone(pick: (procs: ReadonlyMap<number, ProcInfo>) => number[]): number {
  let killed = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const procs = scan();
    const alive = pick(procs).filter((pid) => pid !== process.pid && procs.get(pid)?.state !== 'Z');
    if (alive.length === 0) break;
    for (const pid of alive) {
      const info = procs.get(pid);
      if (info !== undefined) killSame(pid, info);
    }
    killed += alive.length;
  }
  reapAdopted();
  return killed;
}

/**
 * Kill every descendant of the service: the children it spawned, what they started, and the
 * orphans it adopted (lock, architecture §9). The children's own exits are still collected by
 * spawn-wait.
 * @returns how many processes were signalled
 */
export function killAllDescendants(): number {
  // Windows: each child runs in a kill-on-close job that holds what it starts.
  if (process.platform === 'win32') return killAllChildrenWin32();
  // macOS: no /proc to walk; each child leads its own process group, which takes what it
  // started and did not move out of it.
  if (process.platform === 'darwin') return killTrackedGroups();
  return killUntilGone((procs) => subtrees(procs, [process.pid]));
}

/** SIGKILL the process group of every child not yet reaped (its pgid is its pid). */
function killTrackedGroups(): number {
  const libc = loadSpawnLibc();
  for (const pid of tracked) libc.kill(-pid, SIGKILL);
  return tracked.size;
}

/**
 * Kill the orphans the service adopted that started at or after `since` (clock ticks), with
 * their descendants: what a child that just exited left behind, `setsid` daemons included.
 * Coarse by design: another task's orphan adopted in the same span dies too.
 * @returns how many processes were signalled
 */
export function killAdoptedSince(since: bigint): number {
  return killUntilGone((procs) => {
    const roots: number[] = [];
    for (const [pid, info] of procs) {
      if (info.ppid === process.pid && !tracked.has(pid) && info.start >= since) roots.push(pid);
    }
    return subtrees(procs, roots);
  });
}

/** waitpid() the adopted orphans that exited; never a tracked child (spawn-wait owns those). */
function reapAdopted(): void {
  if (!subreaper) return;
  const libc = loadSpawnLibc();
  const status = new Int32Array(new ArrayBuffer(4));
  for (const [pid, info] of scan()) {
    if (info.ppid === process.pid && info.state === 'Z' && !tracked.has(pid)) {
      libc.waitpid(pid, status, WNOHANG);
    }
  }
}
