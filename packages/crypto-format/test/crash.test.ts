// SPDX-License-Identifier: AGPL-3.0-only
// architecture §1 G8: a kill at any instant leaves the old file or the new one, never a torn or
// missing file; a lock left by a killed writer is recovered.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileLock, writeFileAtomic } from '../src/index.ts';
import { payload, versionOf } from './fixtures/payload.ts';
import { fixture, tempDir } from './helpers.ts';

const { dir, cleanup } = tempDir();
const pids: number[] = [];
afterAll(() => cleanup());

/** Start a writer, wait for its first complete write, let it run `ms` more, SIGKILL it. */
async function runAndKill(path: string, start: number, ms: number): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--conditions=cora-source', fixture('crash-writer.ts'), path, String(start)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  pids.push(child.pid ?? -1);
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
  });
  await sleep(ms);
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
}

describe('writeFileAtomic under SIGKILL', () => {
  it('should leave a complete version after each of 32 random kills, and recover the lock', async () => {
    const path = join(dir, 'vault.cora');
    await writeFileAtomic(path, payload(0));
    let start = 1;
    let lastSeen = 0;
    let staleLocks = 0;
    const kills = 32;
    for (let round = 0; round < kills; round += 1) {
      await runAndKill(path, start, Math.floor(Math.random() * 120));
      const version = versionOf(readFileSync(path));
      expect(version, `round ${round}: torn or foreign file`).toBeGreaterThanOrEqual(lastSeen);
      const prev = versionOf(readFileSync(`${path}.prev`));
      expect(prev, `round ${round}: torn .prev`).toBeGreaterThanOrEqual(0);
      // Killed between "link .prev" and "rename new over target", .prev equals the target
      // (both complete): the documented worst case for .prev.
      expect(prev).toBeLessThanOrEqual(version);
      lastSeen = version;
      // The killed writer may have died holding the lock: it must be recoverable at once.
      if (existsSync(`${path}.lock`)) staleLocks += 1;
      const started = Date.now();
      await withFileLock(path, () => undefined, { timeoutMs: 2000 });
      expect(Date.now() - started).toBeLessThan(1000);
      start = version + 1_000_000; // versions stay unique across rounds
    }
    // The writer spends most of its time under the lock, so many kills leave a stale one.
    expect(staleLocks).toBeGreaterThan(0);
    // Temp files a kill left behind are removed by the next successful write.
    await writeFileAtomic(path, payload(1));
    const left = readdirSync(dir).sort();
    const diagnosis = left.map((name) => {
      const pid = /\.(\d+)\.[0-9a-f]{16}\.tmp$/.exec(name)?.[1];
      return pid === undefined
        ? name
        : `${name} (/proc/${pid}: ${existsSync(`/proc/${pid}`) ? 'present' : 'absent'})`;
    });
    expect(left, `parent ${process.pid}, children ${pids.join(' ')}; left: ${diagnosis.join(', ')}`).toEqual([
      'vault.cora',
      'vault.cora.prev',
    ]);
    expect(existsSync(`${path}.lock`)).toBe(false);
  }, 120_000);
});
