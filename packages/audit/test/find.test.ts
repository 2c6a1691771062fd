// SPDX-License-Identifier: AGPL-3.0-only
// findLastRecords and setCarry: how a service finds, without reading the whole log, which vault
// the log vouches for, and whether a record's MAC holds.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { AuditLog, findLastRecords, type VaultStateEvent, type VaultWriteEvent } from '../src/index.ts';
import { FIXTURES, testKey } from './helpers.ts';

let dir: TempDir;
beforeEach(async () => {
  dir = await makeTempDir('cora-audit-find-');
});
afterEach(async () => {
  await dir.remove();
});

const TYPES = ['vault-write', 'vault-state'] as const;

function write(generation: number, phase: VaultWriteEvent['phase'] = 'commit'): VaultWriteEvent {
  return { ...FIXTURES['vault-write'], phase, generation, sha256: generation.toString(16).padStart(64, '0') };
}

describe('findLastRecords', () => {
  it('should find nothing in a missing or empty log', async () => {
    expect(await findLastRecords(join(dir.path, 'none'), TYPES)).toEqual([]);
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    await log.append(FIXTURES.connect);
    await log.close();
    expect(await findLastRecords(dir.path, TYPES)).toEqual([]);
  });

  it('should return unsealed records newest first, down to and including the newest MACed one', async () => {
    const key = testKey();
    try {
      const log = await AuditLog.open({ dir: dir.path, fsync: false });
      await log.append(write(1));
      log.setKey(key);
      await log.append(write(2)); // MACed
      await log.append(FIXTURES['task-end']);
      log.setKey(null);
      await log.append(write(3, 'intent')); // unsealed, newer
      await log.append(FIXTURES.connect);
      await log.append(write(3, 'abort'));
      await log.close();

      const found = await findLastRecords(dir.path, TYPES);
      expect(
        found.map((f) => [
          (f.record as VaultWriteEvent).generation,
          f.record.type === 'vault-write' && f.record.phase,
        ]),
      ).toEqual([
        [3, 'abort'],
        [3, 'intent'],
        [2, 'commit'],
      ]);
      // Without a key nothing is checked; with the right key the sealed one verifies.
      expect(found.map((f) => f.macValid)).toEqual([null, null, null]);
      const checked = await findLastRecords(dir.path, TYPES, { key });
      expect(checked.map((f) => f.macValid)).toEqual([null, null, true]);
      const other = testKey();
      try {
        expect((await findLastRecords(dir.path, TYPES, { key: other })).at(-1)?.macValid).toBe(false);
      } finally {
        other.wipe();
      }
    } finally {
      key.wipe();
    }
  });

  it('should find a forged MAC as invalid, and skip lines that are not records', async () => {
    const key = testKey();
    try {
      const log = await AuditLog.open({ dir: dir.path, fsync: false });
      log.setKey(key);
      await log.append(write(7));
      await log.close();
      const path = join(dir.path, 'audit.jsonl');
      const line = readFileSync(path, 'utf8').trim();
      // The same record with another generation: the chain is intact, the MAC is not.
      appendFileSync(path, 'not json at all\n');
      appendFileSync(
        path,
        `${line.replace('"generation":7', '"generation":1').replace(/"seq":1/, '"seq":2')}\n`,
      );
      const found = await findLastRecords(dir.path, TYPES, { key });
      expect(found).toHaveLength(1);
      expect((found[0]?.record as VaultWriteEvent).generation).toBe(1);
      expect(found[0]?.macValid).toBe(false);
    } finally {
      key.wipe();
    }
  });

  it('should look into older files only when the newest holds no sealed record of the types', async () => {
    const key = testKey();
    try {
      const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 10, fsync: false });
      log.setKey(key);
      await log.append(write(1));
      log.setKey(null);
      for (let i = 0; i < 12; i++) await log.append(FIXTURES.connect); // rotates past the record
      await log.close();
      expect(readdirSync(dir.path).filter((name) => name.startsWith('audit-')).length).toBeGreaterThan(0);
      const found = await findLastRecords(dir.path, TYPES, { key });
      expect(found.map((f) => (f.record as VaultWriteEvent).generation)).toEqual([1]);
      expect(found[0]?.macValid).toBe(true);
    } finally {
      key.wipe();
    }
  });

  it('should refuse a key that is not a SecretBuf', async () => {
    await expect(
      findLastRecords(dir.path, TYPES, { key: Buffer.alloc(32) as unknown as ReturnType<typeof testKey> }),
    ).rejects.toThrow(TypeError);
  });
});

describe('AuditLog#setCarry', () => {
  it('should restate the carried event right after the file-start of every rotated file', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 10, fsync: false });
    const carried: VaultStateEvent = { ...FIXTURES['vault-state'], generation: 9 };
    log.setCarry(carried);
    for (let i = 0; i < 12; i++) await log.append(FIXTURES.connect);
    await log.close();
    const current = readFileSync(join(dir.path, 'audit.jsonl'), 'utf8').trim().split('\n');
    const types = current.map((line) => (JSON.parse(line) as { type: string }).type);
    expect(types.slice(0, 2)).toEqual(['file-start', 'vault-state']);
    expect(JSON.parse(current[1] ?? '{}')).toMatchObject({ generation: 9, reason: 'carry' });
    // Found from the newest file alone.
    const found = await findLastRecords(dir.path, TYPES);
    expect((found[0]?.record as VaultStateEvent).generation).toBe(9);
  });

  it('should stop carrying after null, and refuse events that cannot be carried', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 10, fsync: false });
    expect(() => log.setCarry(FIXTURES['file-start'])).toThrow(/cannot be carried/);
    expect(() => log.setCarry(FIXTURES.unlock)).toThrow(/cannot be carried/);
    expect(() =>
      log.setCarry({ type: 'vault-state', reason: 'carry' } as unknown as VaultStateEvent),
    ).toThrow();
    log.setCarry(FIXTURES['vault-state']);
    log.setCarry(null);
    for (let i = 0; i < 12; i++) await log.append(FIXTURES.connect);
    await log.close();
    const all = readdirSync(dir.path)
      .filter((name) => name.endsWith('.jsonl'))
      .flatMap((name) => readFileSync(join(dir.path, name), 'utf8').trim().split('\n'));
    expect(all.some((line) => line.includes('"type":"vault-state"'))).toBe(false);
  });
});
