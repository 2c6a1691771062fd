// SPDX-License-Identifier: AGPL-3.0-only
// Rotation (README "Files and rotation"): the chain continues across files under concurrent
// appends, age survives a reopen, and a rotated file that is renamed, swapped, planted or
// replaced by a symlink is either named by verify or refused by the writer.
import { readFile, rename, stat, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuditLog,
  findLastRecords,
  logFiles,
  verifyLog,
  type AuditRecord,
  type VaultStateEvent,
} from '../src/index.ts';
import { allRecords, baseNames, FIXTURES, fileLinesOf, hasCode, someEvents } from './helpers.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const DAY = 24 * 3600 * 1000;

describe('AuditLog rotation', () => {
  let dir: TempDir;
  let key: SecretBuf;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-rotation-');
    key = SecretBuf.random(32);
  });
  afterEach(async () => {
    key.wipe();
    await dir.remove();
  });

  /** A log of `n` events rotated at 1 KiB, every rotated file kept. */
  async function rotatedLog(n: number): Promise<{ files: string[]; head: { seq: number; hash: string } }> {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 100, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(n)) await log.append(event);
    const head = log.head();
    await log.close();
    return { files: baseNames(dir.path, await logFiles(dir.path)), head };
  }

  it('should rotate in call order under 200 concurrent appends and chain every file to the last', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 100, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    const records = await Promise.all(someEvents(200).map((event) => log.append(event)));
    const head = log.head();
    await log.close();
    const files = await logFiles(dir.path);
    expect(files.length).toBeGreaterThan(10);
    // Seqs of the caller's records skip exactly the file-starts the log wrote in between.
    const seqs = records.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(head.seq).toBe(1 + 200 + (files.length - 1));
    const all = await allRecords(dir.path);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: head.seq }, (_, i) => i + 1));
    expect(all.filter((r) => r.type === 'file-start')).toHaveLength(files.length - 1);
    for (const file of files.slice(0, -1)) {
      const lines = await fileLinesOf(file);
      const last = lines.at(-1) ?? '';
      // Over the limit only by the record that crossed it.
      expect((await stat(file)).size - Buffer.byteLength(last) - 1).toBeLessThanOrEqual(1024);
      const first = JSON.parse(lines[0] ?? '{}') as AuditRecord;
      expect(file.endsWith(`audit-${String(first.seq).padStart(12, '0')}.jsonl`)).toBe(true);
    }
    expect(await verifyLog(dir.path, { key, expectHead: head })).toMatchObject({
      ok: true,
      records: head.seq,
      unsealed: 0,
    });
  });

  it("should measure age from the current file's first record, also after a reopen", async () => {
    let now = T0;
    const options = { dir: dir.path, maxAgeMs: DAY, fsync: false, now: () => now };
    let log = await AuditLog.open(options);
    await log.append(FIXTURES.connect);
    await log.close();
    now = T0 + DAY - 1;
    log = await AuditLog.open(options);
    await log.append(FIXTURES.connect); // just inside the day: same file
    expect(await logFiles(dir.path)).toHaveLength(1);
    await log.close();
    now = T0 + DAY;
    log = await AuditLog.open(options);
    const record = await log.append(FIXTURES.connect);
    await log.close();
    expect(record.seq).toBe(4);
    expect(baseNames(dir.path, await logFiles(dir.path))).toEqual([
      'audit-000000000001.jsonl',
      'audit.jsonl',
    ]);
    // The new file's age starts at its file-start, not at the log's first record.
    now = T0 + 2 * DAY - 1;
    log = await AuditLog.open(options);
    await log.append(FIXTURES.connect);
    await log.close();
    expect(await logFiles(dir.path)).toHaveLength(2);
    expect(await verifyLog(dir.path)).toMatchObject({ ok: true, records: 5 });
  });

  it('should keep no rotated file with keep 0 and still verify from the file-start', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 0, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(40)) await log.append(event);
    const head = log.head();
    await log.close();
    expect(baseNames(dir.path, await logFiles(dir.path))).toEqual(['audit.jsonl']);
    const [first] = await allRecords(dir.path);
    expect(first).toMatchObject({ type: 'file-start', torn: 0 });
    expect(first?.seq).toBeGreaterThan(1);
    expect(await verifyLog(dir.path, { key, expectHead: head })).toMatchObject({
      ok: true,
      files: ['audit.jsonl'],
    });
  });

  it('should name a rotated file that was renamed so it sorts elsewhere', async () => {
    const { files } = await rotatedLog(60);
    expect(files.length).toBeGreaterThanOrEqual(4);
    // The second file moved to the end of the order: what follows the first no longer links.
    await rename(join(dir.path, files[1]!), join(dir.path, 'audit-999999999999.jsonl'));
    const report = await verifyLog(dir.path, { key });
    expect(report.ok).toBe(false);
    expect(report.firstProblem).toMatchObject({ file: files[2], line: 1, kind: 'missing-file' });
  });

  it('should name a rotated file hidden under a name outside the pattern', async () => {
    const { files } = await rotatedLog(60);
    await rename(join(dir.path, files[1]!), join(dir.path, 'audit-1.jsonl'));
    expect((await verifyLog(dir.path, { key })).firstProblem).toMatchObject({
      file: files[2],
      line: 1,
      kind: 'missing-file',
    });
  });

  it('should catch two rotated files whose contents were swapped', async () => {
    const { files } = await rotatedLog(60);
    const [a, b] = [join(dir.path, files[1]!), join(dir.path, files[2]!)];
    const [textA, textB] = [await readFile(a), await readFile(b)];
    await writeFile(a, textB);
    await writeFile(b, textA);
    const report = await verifyLog(dir.path, { key });
    expect(report.firstProblem).toMatchObject({ file: files[1], line: 1 });
    expect(['seq', 'missing-file', 'chain']).toContain(report.firstProblem?.kind);
  });

  it('should catch a file-start rewritten to name another file, at that line, by its MAC', async () => {
    const { files } = await rotatedLog(60);
    const path = join(dir.path, files[2]!);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(`"previous":"${files[1]!}"`, `"previous":"${files[0]!}"`));
    expect((await verifyLog(dir.path, { key })).firstProblem).toMatchObject({ file: files[2], line: 1 });
  });

  it('should fail closed, not overwrite, when a file already holds the rotation target name', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 100, fsync: false });
    const planted = join(dir.path, 'audit-000000000001.jsonl');
    await writeFile(planted, 'planted\n', { mode: 0o600 });
    while ((await stat(log.path).catch(() => ({ size: 0 }))).size <= 1024) await log.append(FIXTURES.connect);
    const head = log.head();
    const size = (await stat(log.path)).size;
    await expect(log.append(FIXTURES.connect)).rejects.toSatisfy(hasCode('WRITE_FAILED'));
    await expect(log.append(FIXTURES.connect)).rejects.toSatisfy(hasCode('WRITE_FAILED'));
    expect(log.head()).toEqual(head);
    expect(await readFile(planted, 'utf8')).toBe('planted\n');
    expect((await stat(log.path)).size).toBe(size);
    // Once the name is free again, the rotation happens and the chain goes on.
    await unlink(planted);
    const next = await log.append(FIXTURES.connect);
    await log.close();
    expect(next.seq).toBe(head.seq + 2);
    expect(await verifyLog(dir.path, { expectHead: log.head() })).toMatchObject({ ok: true });
  });

  it('should never write through a symlink swapped in for the current file', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 100, fsync: false });
    await log.append(FIXTURES.connect);
    const victim = join(dir.path, 'victim.txt');
    await writeFile(victim, 'untouched\n', { mode: 0o600 });
    await rename(log.path, join(dir.path, 'moved.jsonl'));
    await symlink(victim, log.path);
    for (let i = 0; i < 12; i++) await log.append(FIXTURES.connect).catch(() => undefined);
    await log.close();
    expect(await readFile(victim, 'utf8')).toBe('untouched\n');
    // The rename at rotation moved the link itself; verify refuses to follow it.
    await expect(verifyLog(dir.path)).rejects.toSatisfy(hasCode('UNSAFE_FILE'));
  });

  it('should write the owed file-start when reopened after a rotation left an empty current file', async () => {
    const { files } = await rotatedLog(30);
    const current = join(dir.path, 'audit.jsonl');
    // A crash right after the rename: the current file moved aside, the new one still empty.
    const first = JSON.parse((await fileLinesOf(current))[0] ?? '{}') as AuditRecord;
    const moved = `audit-${String(first.seq).padStart(12, '0')}.jsonl`;
    await rename(current, join(dir.path, moved));
    await writeFile(current, '', { mode: 0o600 });
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 100, fsync: false });
    log.setKey(key);
    const record = await log.append(FIXTURES.connect);
    const head = log.head();
    await log.close();
    const lines = await fileLinesOf(current);
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ type: 'file-start', previous: moved, torn: 0 });
    expect(record.seq).toBe(head.seq);
    expect(baseNames(dir.path, await logFiles(dir.path))).toEqual([
      ...files.slice(0, -1),
      moved,
      'audit.jsonl',
    ]);
    expect(await verifyLog(dir.path, { key, expectHead: head })).toMatchObject({ ok: true });
  });

  it('should restate the carry after an age rotation, MACed while keyed, findable in the newest file', async () => {
    let now = T0;
    const log = await AuditLog.open({ dir: dir.path, maxAgeMs: 1000, fsync: false, now: () => now });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    const carried: VaultStateEvent = { ...FIXTURES['vault-state'], generation: 12 };
    log.setCarry(carried);
    now += 1000;
    const after = await log.append(FIXTURES.connect);
    await log.close();
    expect(after.seq).toBe(4); // file-start 2, carry 3
    const lines = await fileLinesOf(log.path);
    expect(lines.map((l) => (JSON.parse(l) as AuditRecord).type)).toEqual([
      'file-start',
      'vault-state',
      'connect',
    ]);
    await unlink(join(dir.path, 'audit-000000000001.jsonl'));
    const [found] = await findLastRecords(dir.path, ['vault-state'], { key });
    expect(found).toMatchObject({ macValid: true, chained: true, record: { generation: 12, seq: 3 } });
  });

  it('should keep at most `keep` rotated files across reopens and delete the oldest first', async () => {
    for (let round = 0; round < 3; round++) {
      const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 2, fsync: false });
      for (const event of someEvents(20)) await log.append(event);
      await log.close();
    }
    const files = baseNames(dir.path, await logFiles(dir.path));
    expect(files).toHaveLength(3);
    const firstSeqs = files.slice(0, 2).map((f) => Number(/-(\d{12})\./.exec(f)?.[1]));
    expect(firstSeqs[0]).toBeLessThan(firstSeqs[1]!);
    const report = await verifyLog(dir.path);
    expect(report).toMatchObject({ ok: true });
    expect(report.head?.seq).toBeGreaterThan(60);
  });

  it('should name the next file when a rotated file lost its last record', async () => {
    const { files } = await rotatedLog(40);
    const middle = join(dir.path, files[1]!);
    await truncate(middle, (await stat(middle)).size - 1); // the last `\n` gone: torn now
    expect((await verifyLog(dir.path, { key })).firstProblem).toMatchObject({
      file: files[2],
      line: 1,
      kind: 'seq',
    });
  });
});
