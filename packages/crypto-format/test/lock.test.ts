// SPDX-License-Identifier: AGPL-3.0-only
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCryptoFormatError, withFileLock, type CryptoFormatError } from '../src/index.ts';
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

function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

/** The CryptoFormatError a promise rejects with (fails the test on anything else). */
async function refusal(promise: Promise<unknown>): Promise<CryptoFormatError> {
  try {
    await promise;
  } catch (error) {
    if (isCryptoFormatError(error)) return error;
    throw error;
  }
  throw new Error('expected a CryptoFormatError, got success');
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

describe('withFileLock with a damaged lock file', () => {
  // Lock files are published whole by link(), so one whose content is not a lock record can
  // never be a live writer's half-written record: it is broken at once, not waited on.
  const damaged: [string, string | Buffer][] = [
    ['an empty lock file', ''],
    ['garbage bytes', randomBytes(64)],
    ['text that is not JSON', 'garbage'],
    ['JSON that is not a lock record', '{"v":1,"pid":"12"}\n'],
    ['JSON null', 'null'],
    ['a lock file over 4 KiB', `${JSON.stringify({ pad: 'x'.repeat(5000) })}\n`],
  ];

  for (const [what, content] of damaged) {
    it(`should break ${what} at once and take the lock`, async () => {
      const path = join(dir, 'vault.cora');
      writeFileSync(`${path}.lock`, content);
      const started = Date.now();
      expect(await withFileLock(path, () => 'got it', { timeoutMs: 10_000 })).toBe('got it');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(readdirSync(dir)).toEqual([]);
    });
  }

  it('should let several waiters through one at a time after breaking an empty lock', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, '');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withFileLock(
          path,
          async () => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            await sleep(5);
            inside -= 1;
          },
          { retryMs: 2, timeoutMs: 5000 },
        ),
      ),
    );
    expect(maxInside).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('should clear a guard file that is not a lock record, then break a dead lock', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, lockContent(deadPid(), '1'));
    writeFileSync(`${path}.lock.break`, '');
    expect(await withFileLock(path, () => 'got it', { timeoutMs: 5000 })).toBe('got it');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('should wait on a record of a newer lock format (its writer may be alive)', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, '{"v":2,"owner":"someone"}\n');
    const error = await refusal(withFileLock(path, () => 'never', { timeoutMs: 100, retryMs: 10 }));
    expect(error.code).toBe('LOCK_TIMEOUT');
    expect(error.message).toContain('lock format v2');
    expect(existsSync(`${path}.lock`)).toBe(true);
  });
});

describe('withFileLock with something other than a regular file at the lock path', () => {
  async function refusedAtOnce(path: string): Promise<CryptoFormatError> {
    const started = Date.now();
    const error = await refusal(withFileLock(path, () => 'never', { timeoutMs: 10_000 }));
    expect(Date.now() - started).toBeLessThan(1000);
    return error;
  }

  it('should refuse a directory with LOCK_NOT_REGULAR_FILE and leave it alone', async () => {
    const path = join(dir, 'vault.cora');
    mkdirSync(`${path}.lock`);
    const error = await refusedAtOnce(path);
    expect([error.code, error.path]).toEqual(['LOCK_NOT_REGULAR_FILE', `${path}.lock`]);
    expect(error.message).toContain('a directory');
    expect(lstatSync(`${path}.lock`).isDirectory()).toBe(true);
    expect(readdirSync(dir)).toEqual(['vault.cora.lock']);
  });

  it('should refuse a FIFO without opening it (no hang) and leave it alone', async () => {
    const path = join(dir, 'vault.cora');
    execFileSync('mkfifo', [`${path}.lock`]);
    const error = await refusedAtOnce(path);
    expect(error.code).toBe('LOCK_NOT_REGULAR_FILE');
    expect(error.message).toContain('a FIFO');
    expect(lstatSync(`${path}.lock`).isFIFO()).toBe(true);
  });

  // A same-user attacker plants a symlink: we must neither remove what it points at nor
  // write through it, whatever the target holds.
  const targets: [string, () => string][] = [
    ['garbage', () => 'garbage'],
    ["a dead holder's lock record", () => lockContent(deadPid(), '1')],
  ];
  for (const [what, content] of targets) {
    it(`should refuse a symlink to a file holding ${what}, touching neither`, async () => {
      const path = join(dir, 'vault.cora');
      const outside = join(dir, 'outside');
      const text = content();
      writeFileSync(outside, text);
      symlinkSync(outside, `${path}.lock`);
      const error = await refusedAtOnce(path);
      expect(error.code).toBe('LOCK_NOT_REGULAR_FILE');
      expect(error.message).toContain('a symbolic link');
      expect(readFileSync(outside, 'utf8')).toBe(text);
      expect(readlinkSync(`${path}.lock`)).toBe(outside);
      expect(readdirSync(dir).sort()).toEqual(['outside', 'vault.cora.lock']);
    });
  }

  it('should refuse a dangling symlink and never create its target', async () => {
    const path = join(dir, 'vault.cora');
    const outside = join(dir, 'created-through-link');
    symlinkSync(outside, `${path}.lock`);
    expect((await refusedAtOnce(path)).code).toBe('LOCK_NOT_REGULAR_FILE');
    expect(existsSync(outside)).toBe(false);
  });

  it('should refuse a symlink at the guard path while breaking a dead lock', async () => {
    const path = join(dir, 'vault.cora');
    const outside = join(dir, 'outside');
    writeFileSync(outside, 'garbage');
    writeFileSync(`${path}.lock`, lockContent(deadPid(), '1'));
    symlinkSync(outside, `${path}.lock.break`);
    const error = await refusedAtOnce(path);
    expect([error.code, error.path]).toEqual(['LOCK_NOT_REGULAR_FILE', `${path}.lock.break`]);
    expect(readFileSync(outside, 'utf8')).toBe('garbage');
  });
});

describe('withFileLock and the holder named in the lock', () => {
  it('should recover a lock naming a dead pid', async () => {
    const path = join(dir, 'vault.cora');
    writeFileSync(`${path}.lock`, lockContent(deadPid(), '')); // no start time known
    expect(await withFileLock(path, () => 'got it', { timeoutMs: 5000 })).toBe('got it');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('should wait on a lock naming a live process and time out naming its pid', async () => {
    const path = join(dir, 'vault.cora');
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = holder.pid ?? -1;
      writeFileSync(`${path}.lock`, lockContent(pid, startTimeOf(pid)));
      const started = Date.now();
      const error = await refusal(withFileLock(path, () => 'never', { timeoutMs: 300, retryMs: 10 }));
      expect(error.code).toBe('LOCK_TIMEOUT');
      expect(error.message).toContain(`pid ${pid}`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(readFileSync(`${path}.lock`, 'utf8')).toBe(lockContent(pid, startTimeOf(pid)));
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
