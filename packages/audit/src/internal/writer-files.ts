// SPDX-License-Identifier: AGPL-3.0-only
// The files the writer appends to: opened only when private, regular and ours (a symlink,
// FIFO or directory planted by another process is refused), and read back at their ends.
import { constants } from 'node:fs';
import { lstat, mkdir, open, type FileHandle } from 'node:fs/promises';
import { AuditError } from '../errors.ts';
import { parseLine } from './schema.ts';
import type { AuditRecord } from '../types.ts';

const MAX_LINE = 4 * 1024 * 1024;
const ignore = (): void => undefined;
/**
 * Windows has no uids or mode bits (stat reports uid 0 and 0o666): who may open the files is
 * the directory's DACL, which the caller makes private (the Cora service checks its home's).
 */
const POSIX = process.platform !== 'win32';

export async function checkDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // A file where the directory (or one of its parents) should be.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR')
      throw new AuditError('UNSAFE_FILE', `${dir} is not a directory`, { cause: error });
    throw error;
  }
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new AuditError('UNSAFE_FILE', `${dir} is not a directory (or is a symlink)`);
  if (!POSIX) return;
  if (info.uid !== process.geteuid?.())
    throw new AuditError('UNSAFE_FILE', `${dir} is owned by another user`);
  if ((info.mode & 0o077) !== 0) {
    throw new AuditError(
      'UNSAFE_FILE',
      `${dir} is accessible to other users (mode ${(info.mode & 0o777).toString(8)}); chmod 700 it`,
    );
  }
}

/** O_APPEND|O_NOFOLLOW, 0600; refuses anything but a private regular file of this uid. */
export async function openAppend(path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(
      path,
      // O_NONBLOCK: a FIFO planted at the path fails with ENXIO instead of blocking the open.
      constants.O_WRONLY |
        constants.O_APPEND |
        constants.O_CREAT |
        constants.O_NOFOLLOW |
        constants.O_NONBLOCK,
      0o600,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP')
      throw new AuditError('UNSAFE_FILE', `${path} is a symlink; refusing to follow it`, { cause: error });
    if (code === 'EISDIR' || code === 'ENXIO')
      throw new AuditError('UNSAFE_FILE', `${path} is not a regular file`, { cause: error });
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new AuditError('UNSAFE_FILE', `${path} is not a regular file`);
    if (POSIX && info.uid !== process.geteuid?.())
      throw new AuditError('UNSAFE_FILE', `${path} is owned by another user`);
    if (POSIX && (info.mode & 0o177) !== 0) {
      throw new AuditError(
        'UNSAFE_FILE',
        `${path} has mode ${(info.mode & 0o777).toString(8)}, wider than 0600; chmod 600 it`,
      );
    }
  } catch (error) {
    await handle.close().catch(ignore);
    throw error;
  }
  return handle;
}

async function readAt(handle: FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, start + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buf.subarray(0, done);
}

/** The last whole line (without `\n`) and the torn byte count after it. Reads only the tail. */
export async function readLastLine(
  handle: FileHandle,
  size: number,
): Promise<{ line: Buffer | null; torn: number }> {
  for (let window = 64 * 1024; ; window *= 2) {
    const start = Math.max(0, size - window);
    const buf = await readAt(handle, start, size - start);
    const last = buf.lastIndexOf(10);
    if (last === -1 && start === 0) return { line: null, torn: size };
    const before = last <= 0 ? -1 : buf.lastIndexOf(10, last - 1);
    if (last !== -1 && (before !== -1 || start === 0)) {
      return { line: buf.subarray(before + 1, last), torn: size - (start + last + 1) };
    }
    if (window > MAX_LINE)
      throw new AuditError('VERIFY_FAILED', 'the last line of the audit log is too long');
  }
}

export async function readFirstLine(handle: FileHandle, size: number): Promise<Buffer | null> {
  for (let window = 64 * 1024; ; window *= 2) {
    const buf = await readAt(handle, 0, Math.min(size, window));
    const nl = buf.indexOf(10);
    if (nl !== -1) return buf.subarray(0, nl);
    if (buf.length >= size) return null;
    if (window > MAX_LINE)
      throw new AuditError('VERIFY_FAILED', 'the first line of the audit log is too long');
  }
}

export function parseOrThrow(line: Buffer, path: string): AuditRecord {
  const parsed = parseLine(line.toString('utf8'));
  if (!('record' in parsed)) {
    throw new AuditError(
      'VERIFY_FAILED',
      `${path}: a line the log must continue from is not a valid record (${parsed.message}); run \`cr audit verify\` and move the log aside`,
    );
  }
  return parsed.record;
}
