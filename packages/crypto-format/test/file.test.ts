// SPDX-License-Identifier: AGPL-3.0-only
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_VAULT_BYTES, isCryptoFormatError, readVaultFile, writeFileAtomic } from '../src/index.ts';
import type { CryptoFormatErrorCode } from '../src/index.ts';
import { tempDir } from './helpers.ts';

async function codeOf(promise: Promise<unknown>): Promise<CryptoFormatErrorCode | 'none'> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    if (isCryptoFormatError(error)) return error.code;
    throw error;
  }
}

/** Resolve within `ms` or fail: a refusal must never hang. */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

describe('readVaultFile', () => {
  it('should read a regular file exactly', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(path, Buffer.from('0123456789'));
    const bytes = await readVaultFile(path);
    expect(Buffer.from(bytes).toString()).toBe('0123456789');
  });

  it('should refuse a missing file with VAULT_NOT_FOUND', async () => {
    expect(await codeOf(readVaultFile(join(dir, 'nope')))).toBe('VAULT_NOT_FOUND');
  });

  it('should refuse a symlink to a regular file with NOT_REGULAR_FILE', async () => {
    writeFileSync(join(dir, 'real'), 'x');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect(await codeOf(readVaultFile(join(dir, 'link')))).toBe('NOT_REGULAR_FILE');
  });

  it('should refuse a symlink to /dev/zero without hanging or allocating', async () => {
    symlinkSync('/dev/zero', join(dir, 'zero'));
    expect(await within(2000, codeOf(readVaultFile(join(dir, 'zero'))))).toBe('NOT_REGULAR_FILE');
  });

  it('should refuse /dev/zero itself (a character device) with NOT_REGULAR_FILE', async () => {
    expect(await within(2000, codeOf(readVaultFile('/dev/zero')))).toBe('NOT_REGULAR_FILE');
  });

  it('should refuse a FIFO with no writer without hanging', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(await within(2000, codeOf(readVaultFile(fifo)))).toBe('NOT_REGULAR_FILE');
  });

  it('should refuse a directory with NOT_REGULAR_FILE', async () => {
    mkdirSync(join(dir, 'sub'));
    expect(await codeOf(readVaultFile(join(dir, 'sub')))).toBe('NOT_REGULAR_FILE');
  });

  it('should refuse a huge sparse file with FILE_TOO_LARGE without reading it', async () => {
    const path = join(dir, 'huge');
    execFileSync('truncate', ['-s', '1T', path]);
    expect(await within(2000, codeOf(readVaultFile(path)))).toBe('FILE_TOO_LARGE');
    execFileSync('truncate', ['-s', String(MAX_VAULT_BYTES + 1), path]);
    expect(await codeOf(readVaultFile(path))).toBe('FILE_TOO_LARGE');
  });

  it('should honour a smaller maxBytes', async () => {
    const path = join(dir, 'v');
    writeFileSync(path, Buffer.alloc(100));
    expect(await codeOf(readVaultFile(path, { maxBytes: 99 }))).toBe('FILE_TOO_LARGE');
    expect(await readVaultFile(path, { maxBytes: 100 })).toHaveLength(100);
  });

  it('should refuse a file that yields more bytes than fstat said with FILE_CHANGED', async () => {
    // procfs files report st_size 0 but produce content: exactly the "grew" case.
    expect(await codeOf(readVaultFile('/proc/self/stat'))).toBe('FILE_CHANGED');
  });

  it.skipIf(!existsSync('/sys/kernel/mm/transparent_hugepage/enabled'))(
    'should refuse a file that yields fewer bytes than fstat said with FILE_CHANGED',
    async () => {
      // sysfs files report st_size 4096 but hold a short line: exactly the "shrank" case.
      expect(await codeOf(readVaultFile('/sys/kernel/mm/transparent_hugepage/enabled'))).toBe('FILE_CHANGED');
    },
  );

  it('should throw TypeError and RangeError for bad arguments', async () => {
    await expect(readVaultFile(42 as unknown as string)).rejects.toThrow(/^path must be a string/);
    await expect(readVaultFile(join(dir, 'v'), { maxBytes: MAX_VAULT_BYTES + 1 })).rejects.toThrow(
      /^options\.maxBytes must be/,
    );
  });
});

describe('writeFileAtomic', () => {
  it('should create the directory 0700 and the file 0600 even under umask 000', async () => {
    const old = process.umask(0);
    try {
      const path = join(dir, 'a', 'b', 'vault.cora');
      await writeFileAtomic(path, Buffer.from('v1'));
      expect(statSync(join(dir, 'a', 'b')).mode & 0o777).toBe(0o700);
      // The file at the target is the temp file that was renamed: its mode is the temp's mode.
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, 'utf8')).toBe('v1');
    } finally {
      process.umask(old);
    }
  });

  it('should create the directory 0700 under a umask that would remove owner bits', async () => {
    const old = process.umask(0o277);
    try {
      const path = join(dir, 'strict', 'vault.cora');
      await writeFileAtomic(path, Buffer.from('v1'));
      expect(statSync(join(dir, 'strict')).mode & 0o777).toBe(0o700);
      expect(statSync(path).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it('should keep the previous file as .prev and leave no temp files', async () => {
    const path = join(dir, 'vault.cora');
    await writeFileAtomic(path, Buffer.from('v1'));
    expect(existsSync(`${path}.prev`)).toBe(false);
    await writeFileAtomic(path, Buffer.from('v2'));
    expect(readFileSync(path, 'utf8')).toBe('v2');
    expect(readFileSync(`${path}.prev`, 'utf8')).toBe('v1');
    await writeFileAtomic(path, Buffer.from('v3'));
    expect(readFileSync(`${path}.prev`, 'utf8')).toBe('v2');
    expect(statSync(`${path}.prev`).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}.prev`).nlink).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['vault.cora', 'vault.cora.prev']);
  });

  it('should not keep .prev when asked not to', async () => {
    const path = join(dir, 'vault.cora');
    await writeFileAtomic(path, Buffer.from('v1'));
    await writeFileAtomic(path, Buffer.from('v2'), { keepPrevious: false });
    expect(readdirSync(dir)).toEqual(['vault.cora']);
  });

  it('should replace a symlink at the target instead of writing through it', async () => {
    const outside = join(dir, 'outside');
    writeFileSync(outside, 'untouched');
    const path = join(dir, 'vault.cora');
    symlinkSync(outside, path);
    await writeFileAtomic(path, Buffer.from('new'));
    expect(lstatSync(path).isFile()).toBe(true);
    expect(readFileSync(outside, 'utf8')).toBe('untouched');
    expect(existsSync(`${path}.prev`)).toBe(false); // only a regular file is kept
  });

  it('should remove its temp file when the final rename fails', async () => {
    const path = join(dir, 'occupied');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'x');
    await expect(writeFileAtomic(path, Buffer.from('data'))).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['occupied']);
  });

  it('should clean up temp files left by dead processes', async () => {
    const path = join(dir, 'vault.cora');
    // pid 2147483647 cannot exist (pid_max is far lower): a writer killed mid-write.
    const stale = join(dir, '.vault.cora.new.2147483647.0123456789abcdef.tmp');
    const live = join(dir, `.vault.cora.new.${process.ppid}.0123456789abcdef.tmp`);
    // A thread id of this process: kill(2) accepts it, but it is no writer process.
    const tid = readdirSync('/proc/self/task')
      .map(Number)
      .find((id) => id !== process.pid);
    const thread = join(dir, `.vault.cora.prev.${String(tid)}.0123456789abcdef.tmp`);
    writeFileSync(stale, 'ciphertext');
    writeFileSync(live, 'ciphertext');
    writeFileSync(thread, 'ciphertext');
    await writeFileAtomic(path, Buffer.from('v1'));
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(thread)).toBe(tid === undefined);
    expect(existsSync(live)).toBe(true);
  });

  it('should throw TypeErrors for bad arguments', async () => {
    await expect(writeFileAtomic(join(dir, 'x'), 'text' as unknown as Uint8Array)).rejects.toThrow(
      /^data must be a Uint8Array/,
    );
    await expect(writeFileAtomic('', new Uint8Array(1))).rejects.toThrow(RangeError);
  });
});
