// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:fs';
import { link, open, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CryptoFormatError } from './errors.ts';
import { ensurePrivateDir, randomTag, tempName, unlinkQuietly } from './internal/fsutil.ts';
import { currentHolder, isHolderAlive, type LockHolder } from './internal/proc.ts';

/** Options for {@link withFileLock}. */
export interface LockOptions {
  /** How long to wait for a live holder before `LOCK_TIMEOUT`, in ms. Default 10 000. */
  readonly timeoutMs?: number;
  /** Base delay between attempts, in ms (a random jitter of the same size is added). Default 20. */
  readonly retryMs?: number;
}

const LOCK_FILE_MAX_BYTES = 4096;

/**
 * Run `fn` while holding the exclusive lock for `path` (DESIGN §4: writes happen under an
 * exclusive lock; G8: concurrent writers cannot lose an update).
 *
 * Node exposes no `flock`, and this package uses no FFI, so the lock is a file,
 * `<path>.lock`, that appears atomically (written under a temp name, then hard-linked into
 * place, which fails if it exists) and holds the owner's pid, its start time from
 * `/proc/<pid>/stat`, host name and a random token. A waiter that finds the holder gone
 * (no such pid, a zombie, or a different start time, i.e. a reused pid) breaks the lock;
 * breaking is serialised by a second guard file, so two waiters cannot both break it and then
 * remove each other's fresh lock. Limits: every writer must use this function (the lock is
 * advisory); a holder on another host is never presumed dead; the lock is not reentrant.
 *
 * @param path - the file being protected (the lock is `<path>.lock` beside it).
 * @param fn - the critical section; may be async.
 * @param options - timeout and retry delay.
 * @returns what `fn` returns.
 * @throws TypeError / RangeError for bad arguments.
 * @throws CryptoFormatError `LOCK_TIMEOUT` when a live holder keeps the lock past the timeout.
 *
 * @example
 * ```ts
 * await withFileLock(path, async () => {
 *   await writeFileAtomic(path, await sealVault(plaintext, passphrase));
 * });
 * ```
 */
export async function withFileLock<T>(
  path: string,
  fn: () => T | Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  if (typeof path !== 'string') throw new TypeError('path must be a string');
  if (path.length === 0 || path.includes('\0'))
    throw new RangeError('path must be a non-empty path without NUL');
  if (typeof fn !== 'function') throw new TypeError('fn must be a function');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retryMs = options.retryMs ?? 20;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
    throw new RangeError('options.timeoutMs must be a non-negative integer');
  }
  if (!Number.isSafeInteger(retryMs) || retryMs < 1 || retryMs > 10_000) {
    throw new RangeError('options.retryMs must be an integer from 1 to 10000');
  }

  const lockPath = `${resolve(path)}.lock`;
  await ensurePrivateDir(dirname(lockPath));
  const mine = serialise(currentHolder(randomTag()));
  const deadline = Date.now() + timeoutMs;

  for (;;) {
    if (await createExclusive(lockPath, mine)) break;
    const seen = await readLockFile(lockPath);
    if (seen === undefined) continue; // released between our attempt and the read: retry now
    if (seen.holder !== null && !isHolderAlive(seen.holder)) {
      await breakStaleLock(lockPath, seen.raw, retryMs);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new CryptoFormatError(
        'LOCK_TIMEOUT',
        `${lockPath} is held by ${seen.holder === null ? 'an unknown owner' : `pid ${seen.holder.pid}`} (waited ${timeoutMs} ms)`,
        { path: lockPath },
      );
    }
    await sleep(retryMs + Math.floor(Math.random() * retryMs));
  }

  try {
    return await fn();
  } finally {
    await removeIfContent(lockPath, mine);
  }
}

function serialise(holder: LockHolder): string {
  return `${JSON.stringify({ v: 1, ...holder })}\n`;
}

function parse(raw: string): LockHolder | null {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return null;
    const { pid, start, host, token } = value as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return null;
    if (typeof start !== 'string' || typeof host !== 'string' || typeof token !== 'string') return null;
    return { pid, start, host, token };
  } catch {
    return null;
  }
}

/**
 * Create `target` with `content` only if it does not exist, such that nobody ever sees it
 * half-written: the content goes to a private temp file first and `link()` (which fails with
 * EEXIST) publishes it.
 */
async function createExclusive(target: string, content: string): Promise<boolean> {
  const temp = join(dirname(target), tempName(basename(target), 'lock'));
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    try {
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
    try {
      await link(temp, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  } finally {
    await unlinkQuietly(temp);
  }
}

interface SeenLock {
  readonly raw: string;
  /** null when the content is not ours to interpret: treated as held by a live owner. */
  readonly holder: LockHolder | null;
}

async function readLockFile(path: string): Promise<SeenLock | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size > LOCK_FILE_MAX_BYTES) return { raw: '', holder: null };
    const raw = await readFile(handle, 'utf8');
    return { raw, holder: parse(raw) };
  } finally {
    await handle.close();
  }
}

async function removeIfContent(path: string, expected: string): Promise<void> {
  const seen = await readLockFile(path).catch(() => undefined);
  if (seen?.raw === expected) await unlinkQuietly(path);
}

/**
 * Remove a lock whose holder is gone. Only one waiter at a time may do this (the guard file);
 * under the guard, the lock is removed only if it still has exactly the content we judged
 * stale — nobody else can replace it meanwhile, because only guard holders remove other
 * processes' locks and a new lock can only appear once the old one is gone.
 */
async function breakStaleLock(lockPath: string, staleRaw: string, retryMs: number): Promise<void> {
  const guardPath = `${lockPath}.break`;
  const mine = serialise(currentHolder(randomTag()));
  if (!(await createExclusive(guardPath, mine))) {
    // Someone else is breaking it. If that breaker died inside its few-syscall window, clear
    // its guard (re-checking the content first); otherwise give it a moment.
    const guard = await readLockFile(guardPath);
    const holder = guard?.holder ?? null;
    if (guard !== undefined && holder !== null && !isHolderAlive(holder))
      await removeIfContent(guardPath, guard.raw);
    else await sleep(retryMs);
    return;
  }
  try {
    const now = await readLockFile(lockPath);
    if (now?.raw === staleRaw) await unlinkQuietly(lockPath);
  } finally {
    await removeIfContent(guardPath, mine);
  }
}
