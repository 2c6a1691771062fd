// SPDX-License-Identifier: AGPL-3.0-only
// The MAC key's life in the writer (README "Writer", "The service's side of the contract"):
// copied at setKey, taken at call time, replaced by another key, and what verify says about
// records written under each, or with a MAC stripped or moved.
import { createHmac } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, verifyLog } from '../src/index.ts';
import { FIXTURES, fileLinesOf, someEvents } from './helpers.ts';

const RAW = Buffer.from(Array.from({ length: 32 }, (_, i) => 255 - i));

/** HMAC-SHA256 of a line's MAC input (README "The byte rule"). */
function expectedMac(line: string): string {
  const body = line.slice(0, line.indexOf(',"mac":'));
  return createHmac('sha256', RAW).update(body).digest('hex');
}

describe('AuditLog keys', () => {
  let dir: TempDir;
  let key: SecretBuf;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-keying-');
    key = SecretBuf.from(RAW);
  });
  afterEach(async () => {
    key.wipe();
    await dir.remove();
  });
  const path = (): string => join(dir.path, 'audit.jsonl');

  it('should keep MACing with its own copy after the caller wipes the key it passed', async () => {
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    const lent = SecretBuf.from(RAW);
    log.setKey(lent);
    lent.wipe(); // the vault locks its own copy; the log's stays until setKey(null)
    expect(log.keyed).toBe(true);
    await log.append(FIXTURES.unlock);
    await log.append(FIXTURES.connect);
    await log.close();
    expect(log.keyed).toBe(false);
    for (const line of await fileLinesOf(path())) expect(line).toContain(`"mac":"${expectedMac(line)}"`);
    expect(await verifyLog(dir.path, { key })).toMatchObject({ ok: true, lastSealedSeq: 2, unsealed: 0 });
  });

  it('should MAC with the key set when append is called, not when the batch is written', async () => {
    const log = await AuditLog.open({ dir: dir.path });
    const locked = log.append(FIXTURES.connect);
    log.setKey(key);
    const unlocked = log.append(FIXTURES.unlock);
    const lastKeyed = log.append(FIXTURES.lock);
    log.setKey(null);
    const afterLock = log.append(FIXTURES['service-stop']);
    const records = await Promise.all([locked, unlocked, lastKeyed, afterLock]);
    await log.close();
    expect(records.map((r) => r.mac !== null)).toEqual([false, true, true, false]);
    expect(log.head()).toMatchObject({ seq: 4, sealedSeq: 3 });
    expect(await verifyLog(dir.path, { key })).toMatchObject({ ok: true, lastSealedSeq: 3, unsealed: 1 });
  });

  it('should restore sealedSeq from the last line on reopen only when that line is MACed', async () => {
    let log = await AuditLog.open({ dir: dir.path, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    await log.close();
    log = await AuditLog.open({ dir: dir.path, fsync: false });
    expect(log.head()).toMatchObject({ seq: 1, sealedSeq: 1 });
    expect(log.keyed).toBe(false); // a key never outlives close
    await log.append(FIXTURES.connect);
    await log.close();
    log = await AuditLog.open({ dir: dir.path, fsync: false });
    expect(log.head()).toMatchObject({ seq: 2, sealedSeq: null });
    await log.close();
  });

  it('should verify records under a replaced key only with that key, and the chain with none', async () => {
    const second = SecretBuf.random(32);
    try {
      const log = await AuditLog.open({ dir: dir.path, fsync: false });
      log.setKey(key);
      await log.append(FIXTURES.unlock);
      await log.append(FIXTURES.connect);
      log.setKey(second); // the first key is wiped; records from here on use the second
      await log.append(FIXTURES.passwd);
      await log.append(FIXTURES.lock);
      await log.close();
      expect((await verifyLog(dir.path, { key })).firstProblem).toMatchObject({ line: 3, kind: 'mac' });
      expect((await verifyLog(dir.path, { key: second })).firstProblem).toMatchObject({
        line: 1,
        kind: 'mac',
      });
      expect(await verifyLog(dir.path)).toMatchObject({ ok: true, macChecked: false, records: 4 });
    } finally {
      second.wipe();
    }
  });

  it('should catch a MAC stripped from a sealed record by the chain, and at the tail only with the head', async () => {
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(4)) await log.append(event);
    const head = log.head();
    await log.close();
    const lines = await fileLinesOf(path());
    const strip = (line: string): string => line.replace(/"mac":"[0-9a-f]{64}"\}$/, '"mac":null}');
    const save = (edited: string[]): Promise<void> => writeFile(path(), `${edited.join('\n')}\n`);

    await save(lines.map((l, i) => (i === 2 ? strip(l) : l)));
    expect((await verifyLog(dir.path, { key })).firstProblem).toMatchObject({ line: 4, kind: 'chain' });

    await save(lines.map((l, i) => (i === lines.length - 1 ? strip(l) : l)));
    const noHead = await verifyLog(dir.path, { key });
    expect(noHead).toMatchObject({ ok: true, lastSealedSeq: head.seq - 1, unsealed: 1 });
    expect((await verifyLog(dir.path, { key, expectHead: head })).firstProblem).toMatchObject({
      kind: 'head-mismatch',
      seq: head.seq,
    });
  });

  it("should catch a sealed record's MAC moved onto another record at that record", async () => {
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    await log.append(FIXTURES.connect);
    await log.append(FIXTURES.connect);
    await log.close();
    const lines = await fileLinesOf(path());
    const macOf = (line: string): string => /"mac":"([0-9a-f]{64})"/.exec(line)?.[1] ?? '';
    // Same event, neighbouring seq: only seq, time and prev differ in the MAC input.
    const moved = lines.map((l, i) => (i === 2 ? l.replace(macOf(l), macOf(lines[1] ?? '')) : l));
    await writeFile(path(), `${moved.join('\n')}\n`);
    expect((await verifyLog(dir.path, { key })).firstProblem).toMatchObject({ line: 3, seq: 3, kind: 'mac' });
  });

  it('should accept a log with no MAC at all when verified with the key, and say nothing is sealed', async () => {
    // A service that never unlocked: the key proves nothing about these lines (README).
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    for (const event of someEvents(3)) await log.append(event);
    await log.close();
    expect(await verifyLog(dir.path, { key })).toMatchObject({
      ok: true,
      macChecked: true,
      lastSealedSeq: null,
      unsealed: 3,
    });
    expect((await readFile(path(), 'utf8')).match(/"mac":null\}\n/g)).toHaveLength(3);
  });
});
