// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditError } from '../errors.ts';

export const DEFAULT_FILE_NAME = 'audit.jsonl';
const CHUNK = 256 * 1024;

function split(fileName: string): [string, string] {
  const dot = fileName.lastIndexOf('.');
  return dot > 0 ? [fileName.slice(0, dot), fileName.slice(dot)] : [fileName, ''];
}

/**
 * `audit.jsonl` → `audit-000000000042.jsonl` (first seq of the rotated file, 12 digits).
 * A file that holds only a torn line (a crash during its first write) has no first seq: it
 * is named `audit-<next seq>-torn.jsonl` (`-torn2`… if taken), which sorts before the file
 * that will start at that seq.
 */
export function rotatedName(fileName: string, firstSeq: number, tornOnly = 0): string {
  const [stem, ext] = split(fileName);
  const suffix = tornOnly === 0 ? '' : tornOnly === 1 ? '-torn' : `-torn${String(tornOnly)}`;
  return `${stem}-${String(firstSeq).padStart(12, '0')}${suffix}${ext}`;
}

function rotatedPattern(fileName: string): RegExp {
  const [stem, ext] = split(fileName);
  const esc = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc(stem)}-(\\d{12})(?:-torn[2-9]?)?${esc(ext)}$`);
}

/** Rotated file names (oldest first) and whether the current file exists. */
export async function listLog(
  dir: string,
  fileName: string,
): Promise<{ rotated: string[]; current: boolean }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { rotated: [], current: false };
    throw error;
  }
  const pattern = rotatedPattern(fileName);
  const rotated = names.filter((n) => pattern.test(n)).sort(); // zero-padded: lexical = numeric
  return { rotated, current: names.includes(fileName) };
}

/**
 * Open for reading without following a symlink, and refuse anything but a regular file.
 * O_NONBLOCK: opening a FIFO planted at a log path would otherwise block until a writer came.
 */
export async function openRead(path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new AuditError('UNSAFE_FILE', `${path} is a symlink; refusing to follow it`, { cause: error });
    }
    throw error;
  }
  const info = await handle.stat().catch(async (error: unknown) => {
    await handle.close().catch(() => undefined);
    throw error;
  });
  if (!info.isFile()) {
    await handle.close().catch(() => undefined);
    throw new AuditError('UNSAFE_FILE', `${path} is not a regular file`);
  }
  return handle;
}

/** One whole line of a file: its bytes (without `\n`), 1-based number and byte offset. */
export interface Line {
  readonly bytes: Buffer;
  readonly number: number;
  readonly offset: number;
}

/**
 * Streams the whole lines of a file in batches (one per read), then reports the torn tail
 * (bytes after the last `\n`) in `torn`. Batches let the verifier check many MACs while the
 * key's secure memory is open once.
 */
export async function* fileLineBatches(
  path: string,
  torn: { offset: number; bytes: number },
): AsyncGenerator<Line[]> {
  const handle = await openRead(path);
  try {
    let carry: Buffer = Buffer.alloc(0);
    let carryOffset = 0;
    let position = 0;
    let number = 0;
    const chunk = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const data =
        carry.length === 0
          ? chunk.subarray(0, bytesRead)
          : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const batch: Line[] = [];
      let start = 0;
      for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
        number += 1;
        batch.push({ bytes: Buffer.from(data.subarray(start, nl)), number, offset: carryOffset + start });
        start = nl + 1;
      }
      carryOffset += start;
      carry = Buffer.from(data.subarray(start));
      if (batch.length > 0) yield batch;
    }
    torn.offset = carryOffset;
    torn.bytes = carry.length;
  } finally {
    await handle.close();
  }
}

/** Streams the whole lines of a file one by one (see {@link fileLineBatches}). */
export async function* fileLines(
  path: string,
  torn: { offset: number; bytes: number },
): AsyncGenerator<Line> {
  for await (const batch of fileLineBatches(path, torn)) yield* batch;
}

/** Paths of the log, oldest → newest. */
export async function logPaths(dir: string, fileName: string): Promise<string[]> {
  const { rotated, current } = await listLog(dir, fileName);
  const out = rotated.map((n) => join(dir, n));
  if (current) out.push(join(dir, fileName));
  return out;
}
