// SPDX-License-Identifier: AGPL-3.0-only
import { constants, type BigIntStats } from 'node:fs';
import { link, lstat, open, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CryptoFormatError } from './errors.ts';
import { ensurePrivateDir, randomTag, tempName, unlinkQuietly } from './internal/fsutil.ts';
import { io } from './internal/ioerror.ts';
import { currentHolder, isHolderAlive, type LockHolder } from './internal/proc.ts';

/** Options for {@link withFileLock}. */
export interface LockOptions {
  /** How long to wait for a live holder before `LOCK_TIMEOUT`, in ms. Default 10 000. */
  readonly timeoutMs?: number;
  /** Base delay between attempts, in ms (a random jitter of the same size is added). Default 20. */
  readonly retryMs?: number;
}

// Our lock files are about 150 bytes; anything bigger was not written by a lock holder.
const LOCK_FILE_MAX_BYTES = 4096;

/**
 * Run `fn` while holding the exclusive lock for `path` (architecture §4: writes happen under an
 * exclusive lock; G8: concurrent writers cannot lose an update).
 *
 * Node exposes no `flock`, and this package uses no FFI, so the lock is a file,
 * `<path>.lock`, that appears atomically (written under a temp name, then hard-linked into
 * place, which fails if it exists) and holds the owner's pid, its start time from
 * `/proc/<pid>/stat`, host name and a random token. A waiter that finds the holder gone
 * (no such pid, a zombie, or a different start time, i.e. a reused pid) breaks the lock;
 * breaking is serialised by a second guard file, so two waiters cannot both break it and then
 * remove each other's fresh lock. A lock file that is empty, over 4 KiB or not a lock record
 * is broken the same way at once: it was published whole by `link()`, so it can never be a
 * live writer's half-written record (a machine that crashed before the data reached the disk
 * leaves exactly that). Anything but a regular file at the lock path (a symlink, directory,
 * FIFO…) is refused with `LOCK_NOT_REGULAR_FILE` and left alone. Limits: every writer must use
 * this function (the lock is advisory); a holder on another host is never presumed dead; the
 * lock is not reentrant.
 *
 * @param path - the file being protected (the lock is `<path>.lock` beside it).
 * @param fn - the critical section; may be async.
 * @param options - timeout and retry delay.
 * @returns what `fn` returns.
 * @throws TypeError / RangeError for bad arguments.
 * @throws CryptoFormatError `LOCK_TIMEOUT` when a live holder keeps the lock past the timeout
 *   (the message names its pid); `LOCK_NOT_REGULAR_FILE` when the lock or guard path is not a
 *   regular file; `DISK_FULL`, `READ_ONLY`, `PERMISSION_DENIED`, `IO_ERROR` (step `mkdir` or
 *   `lock`) when the lock file cannot be made or read. Errors of `fn` pass through unchanged.
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
  await io('mkdir', lockPath, () => ensurePrivateDir(dirname(lockPath)));
  const mine = serialise(currentHolder(randomTag()));
  const deadline = Date.now() + timeoutMs;

  for (;;) {
    if (await createExclusive(lockPath, mine)) break;
    const seen = await readLockFile(lockPath);
    if (seen === undefined) continue; // released between our attempt and the read: retry now
    // Breaking only counts as progress when something was removed; otherwise we wait like
    // for a live holder, so a lock we cannot remove ends in LOCK_TIMEOUT, not a busy loop.
    if (isStale(seen) && (await breakStaleLock(lockPath, seen))) continue;
    if (Date.now() >= deadline) {
      throw new CryptoFormatError(
        'LOCK_TIMEOUT',
        `${lockPath} is held by ${describeHolder(seen)} (waited ${timeoutMs} ms)`,
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

/** What a lock file's content says about its owner. */
type LockContent =
  | { readonly kind: 'holder'; readonly holder: LockHolder }
  /** A record of a later lock format: its writer may be alive, and we cannot tell. */
  | { readonly kind: 'newer'; readonly version: number }
  /** Empty, oversized or not a lock record: nobody can be holding it (see withFileLock). */
  | { readonly kind: 'garbage'; readonly why: string };

function parse(raw: string): LockContent {
  if (raw.length === 0) return { kind: 'garbage', why: 'empty' };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { kind: 'garbage', why: 'not a lock record' };
  }
  if (typeof value !== 'object' || value === null) return { kind: 'garbage', why: 'not a lock record' };
  const { v, pid, start, host, token } = value as Record<string, unknown>;
  if (
    typeof pid === 'number' &&
    Number.isSafeInteger(pid) &&
    pid > 0 &&
    typeof start === 'string' &&
    typeof host === 'string' &&
    typeof token === 'string'
  ) {
    return { kind: 'holder', holder: { pid, start, host, token } };
  }
  // A later version may change the record; only its own writers may judge it stale.
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 1) return { kind: 'newer', version: v };
  return { kind: 'garbage', why: 'not a lock record' };
}

/**
 * Create `target` with `content` only if it does not exist, such that nobody ever sees it
 * half-written: the content goes to a private temp file first and `link()` (which fails with
 * EEXIST, also when `target` is a symlink, which it never follows) publishes it.
 */
function createExclusive(target: string, content: string): Promise<boolean> {
  return io('lock', target, () => publish(target, content));
}

async function publish(target: string, content: string): Promise<boolean> {
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
  /** Device, inode, size and mtime: a lock file is never changed in place, only replaced. */
  readonly identity: string;
  readonly content: LockContent;
}

function kindOf(stats: { isSymbolicLink(): boolean; isDirectory(): boolean; isFIFO(): boolean }): string {
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  return 'a socket or device';
}

function notRegular(path: string, what: string): CryptoFormatError {
  return new CryptoFormatError(
    'LOCK_NOT_REGULAR_FILE',
    `${path} is ${what}, not a lock file; Cora never creates one there: inspect it and remove it by hand`,
    { path },
  );
}

function identityOf(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}`;
}

/**
 * Read a lock (or guard) file. undefined when there is none. lstat comes first so a device or
 * FIFO at the path is never opened; O_NOFOLLOW and fstat on the descriptor close the race
 * with a swap after the lstat.
 */
function readLockFile(path: string): Promise<SeenLock | undefined> {
  return io('lock', path, () => readLock(path));
}

async function readLock(path: string): Promise<SeenLock | undefined> {
  let handle;
  try {
    const link = await lstat(path);
    if (!link.isFile()) throw notRegular(path, kindOf(link));
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw notRegular(path, 'a symbolic link');
    if (code === 'ENXIO') throw notRegular(path, 'a socket');
    throw error;
  }
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) throw notRegular(path, kindOf(stats));
    const identity = identityOf(stats);
    if (stats.size > LOCK_FILE_MAX_BYTES) {
      return { raw: '', identity, content: { kind: 'garbage', why: `over ${LOCK_FILE_MAX_BYTES} bytes` } };
    }
    // Read at most the cap (plus one byte, to notice growth) whatever the size said.
    const buffer = Buffer.alloc(LOCK_FILE_MAX_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > LOCK_FILE_MAX_BYTES) {
      return { raw: '', identity, content: { kind: 'garbage', why: `over ${LOCK_FILE_MAX_BYTES} bytes` } };
    }
    const raw = buffer.toString('utf8', 0, length);
    return { raw, identity, content: parse(raw) };
  } finally {
    await handle.close();
  }
}

/** Whether nobody can be inside a critical section under this lock. */
function isStale(seen: SeenLock): boolean {
  switch (seen.content.kind) {
    case 'garbage':
      return true;
    case 'newer':
      return false;
    case 'holder':
      return !isHolderAlive(seen.content.holder);
  }
}

function describeHolder(seen: SeenLock): string {
  switch (seen.content.kind) {
    case 'garbage':
      return `a damaged lock file (${seen.content.why}) that could not be removed`;
    case 'newer':
      return `a newer Cora (lock format v${seen.content.version})`;
    case 'holder': {
      const { pid, host } = seen.content.holder;
      const where = host === hostname() ? '' : ` on host ${host}`;
      return isHolderAlive(seen.content.holder)
        ? `pid ${pid}${where}`
        : `pid ${pid}, which is gone, but its lock could not be removed`;
    }
  }
}

/** Unlink `path`; true when this call removed it. */
async function unlinkReporting(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch {
    return false;
  }
}

/** Remove `path` only if it is still exactly the file we saw (same inode, same bytes). */
async function removeIfUnchanged(path: string, seen: SeenLock): Promise<boolean> {
  const now = await readLockFile(path).catch(() => undefined);
  if (now === undefined || now.identity !== seen.identity || now.raw !== seen.raw) return false;
  return unlinkReporting(path);
}

/** Release: remove the lock only if it still carries our record (our token). */
async function removeIfContent(path: string, expected: string): Promise<void> {
  const seen = await readLockFile(path).catch(() => undefined);
  if (seen?.raw === expected) await unlinkQuietly(path);
}

/**
 * Remove a lock nobody holds (its holder is gone, or it is not a lock record at all). Only
 * one waiter at a time may do this (the guard file); under the guard, the lock is removed
 * only if it is still exactly the file judged stale — nobody else can replace it meanwhile,
 * because only guard holders remove other processes' locks and a new lock can only appear
 * once the old one is gone. Returns whether anything was removed (progress).
 */
async function breakStaleLock(lockPath: string, stale: SeenLock): Promise<boolean> {
  const guardPath = `${lockPath}.break`;
  const mine = serialise(currentHolder(randomTag()));
  if (!(await createExclusive(guardPath, mine))) {
    // Someone else is breaking it. If that breaker died inside its few-syscall window, or the
    // guard is not a record at all, clear it (re-checking first); otherwise the caller waits.
    const guard = await readLockFile(guardPath);
    if (guard === undefined) return true; // the other breaker finished: try again now
    return isStale(guard) && (await removeIfUnchanged(guardPath, guard));
  }
  try {
    return await removeIfUnchanged(lockPath, stale);
  } finally {
    await removeIfContent(guardPath, mine);
  }
}
