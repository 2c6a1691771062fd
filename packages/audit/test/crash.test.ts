// SPDX-License-Identifier: AGPL-3.0-only
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, waitForLine, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, logFiles, readRecords, verifyLog, type AuditRecord } from '../src/index.ts';
import { FIXTURES, someEvents } from './helpers.ts';

const APPENDER = fileURLToPath(new URL('./fixtures/appender.ts', import.meta.url));

describe('AuditLog after a crash', () => {
  let dir: TempDir;
  let zero: SecretBuf; // the appender child's key
  let child: ChildProcess | null = null;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-crash-');
    zero = SecretBuf.alloc(32);
  });
  afterEach(async () => {
    child?.kill('SIGKILL');
    child = null;
    zero.wipe();
    await dir.remove();
  });

  it('should verify after each of several SIGKILLs of a child appending in a loop', async () => {
    let records = 0;
    for (let round = 0; round < 5; round++) {
      child = spawn(process.execPath, ['--conditions=cora-source', APPENDER, dir.path, 'loop'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await waitForLine(child.stdout!, (l) => l.includes('"ready"'));
      await sleep(30 + round * 17);
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      child = null;
      const report = await verifyLog(dir.path, { key: zero });
      expect(report.ok, JSON.stringify(report.firstProblem)).toBe(true);
      expect(report.records).toBeGreaterThan(records);
      records = report.records;
    }
  }, 30_000);

  it('should verify up to the last whole line, report a torn tail, and rotate past it on reopen', async () => {
    const log = await AuditLog.open({ dir: dir.path });
    log.setKey(zero);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(5)) await log.append(event);
    const head = log.head();
    await log.close();
    const path = join(dir.path, 'audit.jsonl');
    const whole = (await stat(path)).size;
    // A crash mid-append: half of a next line, no newline.
    const next = (await readFile(path, 'utf8')).split('\n')[3]!;
    await appendFile(path, next.slice(0, 57));
    let report = await verifyLog(dir.path, { key: zero, expectHead: head });
    expect(report).toMatchObject({
      ok: true,
      records: 6,
      torn: { file: 'audit.jsonl', offset: whole, bytes: 57 },
    });
    // Cutting into the last line instead: it is the torn part now.
    await truncate(path, whole - 10);
    report = await verifyLog(dir.path, { key: zero });
    const lastLen = Buffer.byteLength((await readFile(path, 'utf8')).split('\n').at(-1)!);
    expect(report).toMatchObject({ ok: true, records: 5, torn: { bytes: lastLen } });
    const records: AuditRecord[] = [];
    for await (const record of readRecords(dir.path)) records.push(record);
    expect(records).toHaveLength(5);

    // Reopen: the torn file is kept as it is, the new file starts with file-start { torn }.
    const before = await readFile(path);
    const reopened = await AuditLog.open({ dir: dir.path });
    const files = await logFiles(dir.path);
    expect(files.map((f) => f.slice(dir.path.length + 1))).toEqual([
      'audit-000000000001.jsonl',
      'audit.jsonl',
    ]);
    expect(await readFile(files[0]!)).toEqual(before);
    reopened.setKey(zero);
    await reopened.append(FIXTURES.unlock);
    const head2 = reopened.head();
    await reopened.close();
    const first = JSON.parse((await readFile(path, 'utf8')).split('\n')[0]!) as AuditRecord;
    expect(first).toMatchObject({
      type: 'file-start',
      seq: 6,
      previous: 'audit-000000000001.jsonl',
      torn: lastLen,
    });
    report = await verifyLog(dir.path, { key: zero, expectHead: head2 });
    expect(report).toMatchObject({ ok: true, records: 7, torn: null, lastSealedSeq: 7, unsealed: 0 });
  });

  it('should flag a torn tail in an older file that the next file-start does not acknowledge', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, fsync: false });
    for (const event of someEvents(12)) await log.append(event);
    await log.close();
    const files = await logFiles(dir.path);
    expect(files.length).toBeGreaterThanOrEqual(2);
    await appendFile(files[0]!, '{"v":1,"se');
    const report = await verifyLog(dir.path);
    expect(report.firstProblem).toMatchObject({
      file: files[1]!.slice(dir.path.length + 1),
      line: 1,
      kind: 'chain',
    });
    expect(report.firstProblem?.message).toMatch(/torn/);
  });

  it('should keep a torn-only file (crash during the first write of a file) without a name clash later', async () => {
    let log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, fsync: false });
    log.setKey(zero);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(8)) await log.append(event);
    await log.close();
    const path = join(dir.path, 'audit.jsonl');
    await truncate(path, 25); // the current file now holds only a torn first line
    expect(await verifyLog(dir.path, { key: zero })).toMatchObject({
      ok: true,
      torn: { file: 'audit.jsonl', bytes: 25 },
    });
    for (let round = 0; round < 2; round++) {
      log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, fsync: false });
      log.setKey(zero);
      if (round === 0) {
        for (const event of someEvents(12)) await log.append(event); // rotates again past the -torn file
      }
      const head = log.head();
      await log.close();
      const names = (await logFiles(dir.path)).map((f) => f.slice(dir.path.length + 1));
      expect(names.filter((n) => n.includes('-torn'))).toHaveLength(round + 1);
      const report = await verifyLog(dir.path, { key: zero, expectHead: head });
      expect(report.ok, JSON.stringify(report.firstProblem)).toBe(true);
      await truncate(path, 25);
    }
  });
});
