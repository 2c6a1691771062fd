// SPDX-License-Identifier: AGPL-3.0-only
import { spawnSync } from 'node:child_process';

/** The uid/gid root's tests drop to with setpriv (nobody on Debian). */
export const NOBODY_UID = 65534;

/**
 * Whether a process dropped to `uid` with `setpriv` can run `node` on these files. Root's tests
 * that show a kernel effect for an unprivileged uid (dumpable, ptrace, /proc ownership) need
 * that; a checkout inside a root-only directory (a `mktemp -d` clone, say) makes it impossible,
 * and those tests then skip instead of failing for a reason that is not Cora's.
 * @param paths - files the unprivileged child must read (fixtures, entry points)
 * @param uid - the uid to try (default {@link NOBODY_UID})
 * @returns false when not root, when setpriv is missing, or when any path is unreadable
 */
export function unprivilegedCanRun(paths: readonly string[], uid: number = NOBODY_UID): boolean {
  if (process.getuid?.() !== 0) return false;
  const drop = [`--reuid=${String(uid)}`, `--regid=${String(uid)}`, '--clear-groups'];
  const checks = [['test', '-x', process.execPath], ...paths.map((p) => ['test', '-r', p])];
  return checks.every((check) => spawnSync('setpriv', [...drop, ...check]).status === 0);
}
