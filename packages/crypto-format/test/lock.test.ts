// SPDX-License-Identifier: AGPL-3.0-only
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCryptoFormatError, withFileLock } from '../src/index.ts';
import { tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

function ownStartTime(): string {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

function lockContent(pid: number, start: string, host = hostname()): string {
  return `${JSON.stringify({ v: 1, pid, start, host, token: 'feedfacefeedface' })}\n`;
}

/** The pid of a process that has already exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('withFileLock', () => {
  it('should let only one critical section run at a time', async () => {
    const path = join(dir, 'vault.cora');
    let inside = 0;
    let maxInside = 0;
    let counter = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withFileLock(
          path,
          async () => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            const seen = counter;
            await sleep(5);
            counter = seen + 1;
            inside -= 1;
          },
          { retryMs: 2 },
        ),
      ),
    );
    expect(maxInside).toBe(1);
    expect(counter).toBe(6);
  });

  it('should return what fn returns and remove the lock file', async () => {
    const path = join(dir, 'vault.cora');
    expect(await withFileLock(path, () => 42)).toBe(42);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('should release the lock and rethrow when fn throws', async () => {
    const path = join(dir, 'vault.cora');
    await expect(
      withFileLock(path, () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('should hold pid, start time and host in the lock file while held', async () => {
    const path = join(dir, 'vault.cora');
    await withFileLock(path, () => {
      const content = JSON.parse(readFileSync(`${path}.lock`, 'utf8')) as Record<string, unknown>;
      expect(content['pid']).toBe(process.pid);
      expect(content['start']).toBe(ownStartTime());
      expect(content['host']).toBe(hostname());
    });
  });

  it('should break a lock whose holder is gone', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, lockContent(deadPid(), '12345'));
    const started = Date.now();
    expect(await withFileLock(path, () => 'got it', { timeoutMs: 5000 })).toBe('got it');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('should break a lock whose pid was reused by another process (start time differs)', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, lockContent(process.pid, '1'));
    expect(await withFileLock(path, () => 'got it', { timeoutMs: 5000 })).toBe('got it');
  });

  it('should clear a guard file left by a breaker that died', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, lockContent(deadPid(), '1'));
    writeFileSync(`${path}.lock.break`, lockContent(deadPid(), '1'));
    expect(await withFileLock(path, () => 'got it', { timeoutMs: 5000 })).toBe('got it');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('should wait for a live holder and time out with LOCK_TIMEOUT', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, lockContent(process.pid, ownStartTime()));
    const started = Date.now();
    let caught: unknown;
    try {
      await withFileLock(path, () => 'never', { timeoutMs: 200, retryMs: 10 });
    } catch (error) {
      caught = error;
    }
    expect(isCryptoFormatError(caught, 'LOCK_TIMEOUT')).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(existsSync(`${path}.lock`)).toBe(true); // a live holder's lock is never broken
  });

  it('should treat a lock from another host as live', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, lockContent(deadPid(), '1', `not-${hostname()}`));
    await expect(withFileLock(path, () => 'never', { timeoutMs: 100 })).rejects.toThrow(
      expect.objectContaining({ code: 'LOCK_TIMEOUT' }),
    );
  });

  it('should treat an unreadable lock file as held (LOCK_TIMEOUT), never break it', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, 'garbage');
    await expect(withFileLock(path, () => 'never', { timeoutMs: 100 })).rejects.toThrow(
      expect.objectContaining({ code: 'LOCK_TIMEOUT' }),
    );
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe('garbage');
  });

  it('should wait for the holder to finish, then run', async () => {
    const path = join(dir, 'vault.cora');
    const order: string[] = [];
    const first = withFileLock(path, async () => {
      order.push('first in');
      await sleep(100);
      order.push('first out');
    });
    await sleep(10);
    await withFileLock(path, () => {
      order.push('second');
    });
    await first;
    expect(order).toEqual(['first in', 'first out', 'second']);
  });

  it('should throw TypeError and RangeError for bad arguments', async () => {
    await expect(withFileLock(1 as unknown as string, () => 0)).rejects.toThrow(/^path must be a string/);
    await expect(withFileLock(join(dir, 'x'), 'fn' as unknown as () => number)).rejects.toThrow(
      /^fn must be/,
    );
    await expect(withFileLock(join(dir, 'x'), () => 0, { timeoutMs: -1 })).rejects.toThrow(
      /^options\.timeoutMs/,
    );
    await expect(withFileLock(join(dir, 'x'), () => 0, { retryMs: 0 })).rejects.toThrow(/^options\.retryMs/);
  });
});
