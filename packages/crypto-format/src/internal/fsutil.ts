// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isPidAlive } from './proc.ts';

/** Random hex for unique temp names (not secret; collisions are also caught by O_EXCL). */
export function randomTag(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Make sure `dir` exists; when this call creates it, force mode 0700 (architecture §4). An existing
 * directory is left as it is: it belongs to the user and the service checks it separately.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask; chmod is not, so the result is exactly 0700.
  if (created !== undefined) await chmod(dir, 0o700);
}

/**
 * fsync a directory so a rename in it is durable. Windows: a no-op, as Node cannot open a
 * directory to flush it there; the rename is an NTFS journal entry committed lazily, so a
 * crash within seconds of a write can bring back the previous file (README "Windows").
 */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Remove a file, ignoring "already gone" and any error: used on cleanup paths. */
export async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // Cleanup must not mask the error that got us here.
  }
}

/** Name of a temp file for `base` written by this process. */
export function tempName(base: string, kind: string): string {
  return `.${base}.${kind}.${process.pid}.${randomTag()}.tmp`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Delete temp files for `base` left by processes that no longer exist (a SIGKILL between
 * create and rename leaves one behind). Best effort: errors are ignored, live writers'
 * files are never touched, and a reused pid merely keeps a stale file.
 */
export async function removeStaleTemps(dir: string, base: string): Promise<void> {
  // Matches tempName() for base itself and for `<base>.lock` / `<base>.lock.break`.
  const pattern = new RegExp(`^\\.${escapeRegExp(base)}\\.[a-z.]+\\.(\\d+)\\.[0-9a-f]{16}\\.tmp$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = pattern.exec(name);
    const pid = match?.[1] === undefined ? NaN : Number(match[1]);
    if (Number.isSafeInteger(pid) && pid !== process.pid && !isPidAlive(pid)) {
      await unlinkQuietly(join(dir, name));
    }
  }
}
