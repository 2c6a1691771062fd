// SPDX-License-Identifier: AGPL-3.0-only
// What a same-user attacker or a crash can leave at the log's paths: binary junk, a 10 MB line,
// no final newline, an empty file, a FIFO, a directory, a file where the directory should be,
// and a second writer process on the same log. Every reader and the writer either refuse with
// a stable code or report the exact problem; none hangs, none follows the path elsewhere.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, waitForLine, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, findLastRecords, readRecords, verifyLog, type AuditRecord } from '../src/index.ts';
import { allRecords, FIXTURES, hasCode, someEvents } from './helpers.ts';

const OPENER = fileURLToPath(new URL('./fixtures/opener.ts', import.meta.url));
const APPENDER = fileURLToPath(new URL('./fixtures/appender.ts', import.meta.url));
const BIG = 10 * 1024 * 1024;

/** Run one reader (or open) in a child; null when it did not finish in time (it blocked). */
function inChild(
  what: 'open' | 'verify' | 'records' | 'find',
  dir: string,
): { ok?: true; code?: string } | null {
  const result = spawnSync(process.execPath, ['--conditions=cora-source', OPENER, what, dir], {
    encoding: 'utf8',
    timeout: 8000,
  });
  if (result.status !== 0) return null;
  return JSON.parse(result.stdout) as { ok?: true; code?: string };
}

describe('readers and the writer on damaged or hostile files', () => {
  let dir: TempDir;
  let path: string;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-robust-');
    path = join(dir.path, 'audit.jsonl');
  });
  afterEach(async () => {
    await dir.remove();
  });

  async function seed(n: number, key?: SecretBuf): Promise<AuditLog> {
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    if (key !== undefined) {
      log.setKey(key);
      await log.append(FIXTURES.unlock);
    }
    for (const event of someEvents(n)) await log.append(event);
    return log;
  }

  it('should read nothing and verify an empty file or a missing directory', async () => {
    expect(await allRecords(join(dir.path, 'none'))).toEqual([]);
    expect(await verifyLog(join(dir.path, 'none'))).toMatchObject({ ok: true, records: 0, files: [] });
    await writeFile(path, '', { mode: 0o600 });
    expect(await allRecords(dir.path)).toEqual([]);
    expect(await verifyLog(dir.path)).toMatchObject({ ok: true, records: 0, head: null, torn: null });
    expect(await findLastRecords(dir.path, ['connect'])).toEqual([]);
    const log = await AuditLog.open({ dir: dir.path });
    expect(log.head()).toEqual({ seq: 0, hash: '0'.repeat(64), sealedSeq: null });
    expect((await log.append(FIXTURES.connect)).seq).toBe(1);
    await log.close();
  });

  it('should stop every reader at the last newline when the file does not end with one', async () => {
    await (await seed(4)).close();
    const torn = '{"v":1,"seq":5,"time":"2026';
    await appendFile(path, torn);
    expect((await allRecords(dir.path)).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(await verifyLog(dir.path)).toMatchObject({ ok: true, records: 4, torn: { bytes: torn.length } });
    expect((await findLastRecords(dir.path, ['connect'])).map((f) => f.record.seq)).toEqual([3]);
  });

  it('should name the line of binary junk in readRecords and verifyLog, and refuse to continue from it', async () => {
    await (await seed(3)).close();
    const junk = Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22, 0xc3, 0x28, 0x0a]);
    await appendFile(path, junk);
    await expect(allRecords(dir.path)).rejects.toThrow(/audit\.jsonl:4: not a valid audit record/);
    await expect(allRecords(dir.path)).rejects.toSatisfy(hasCode('VERIFY_FAILED'));
    expect((await verifyLog(dir.path)).firstProblem).toMatchObject({ line: 4, kind: 'bad-json', seq: null });
    await expect(AuditLog.open({ dir: dir.path })).rejects.toSatisfy(hasCode('VERIFY_FAILED'));
    expect((await stat(path)).size).toBeGreaterThan(0);
  });

  it('should refuse to continue when the first line is junk even though the last is a record', async () => {
    const log = await seed(0);
    await log.close();
    await writeFile(path, 'junk\n', { mode: 0o600 });
    const other = await makeTempDir('cora-audit-robust-src-');
    try {
      const source = await AuditLog.open({ dir: other.path, fsync: false });
      await source.append(FIXTURES.connect);
      await source.close();
      await appendFile(path, await readFile(join(other.path, 'audit.jsonl')));
    } finally {
      await other.remove();
    }
    await expect(AuditLog.open({ dir: dir.path })).rejects.toSatisfy(hasCode('VERIFY_FAILED'));
    expect((await verifyLog(dir.path)).firstProblem).toMatchObject({ line: 1, kind: 'bad-json' });
  });

  it('should report a 10 MB line as a bad line, not a crash, and skip it when looking up records', async () => {
    const key = SecretBuf.random(32);
    try {
      const log = await seed(0, key);
      await log.append({ ...FIXTURES['vault-state'], generation: 5 });
      await log.close();
      await appendFile(path, Buffer.concat([Buffer.alloc(BIG, 0x41), Buffer.from('\n')]));
      expect((await verifyLog(dir.path, { key })).firstProblem).toMatchObject({ line: 3, kind: 'bad-json' });
      await expect(allRecords(dir.path)).rejects.toThrow(/audit\.jsonl:3:/);
      const [found] = await findLastRecords(dir.path, ['vault-state'], { key });
      expect(found).toMatchObject({ macValid: true, chained: false, record: { generation: 5 } });
      // The writer reads only the tail, up to a bound, and refuses a line that long.
      await expect(AuditLog.open({ dir: dir.path })).rejects.toSatisfy(hasCode('VERIFY_FAILED'));
    } finally {
      key.wipe();
    }
  });

  it('should report a 10 MB torn tail without reading it as a record', async () => {
    await (await seed(2)).close();
    await appendFile(path, Buffer.alloc(BIG, 0x7b));
    expect(await verifyLog(dir.path)).toMatchObject({ ok: true, records: 2, torn: { bytes: BIG } });
    expect(await allRecords(dir.path)).toHaveLength(2);
  });

  it('should refuse a FIFO at the log path in the writer and every reader, without blocking', async () => {
    spawnSync('mkfifo', ['-m', '600', path]);
    expect((await stat(path)).isFIFO()).toBe(true);
    for (const what of ['open', 'verify', 'records', 'find'] as const) {
      expect([what, inChild(what, dir.path)]).toEqual([what, { code: 'UNSAFE_FILE' }]);
    }
  });

  it('should refuse a FIFO or a directory under a rotated file name', async () => {
    await (await seed(2)).close();
    spawnSync('mkfifo', ['-m', '600', join(dir.path, 'audit-000000000001.jsonl')]);
    expect(inChild('verify', dir.path)).toEqual({ code: 'UNSAFE_FILE' });
    expect(inChild('records', dir.path)).toEqual({ code: 'UNSAFE_FILE' });
    const other = await makeTempDir('cora-audit-robust-dir-');
    try {
      await mkdir(join(other.path, 'audit-000000000001.jsonl'));
      await expect(verifyLog(other.path)).rejects.toSatisfy(hasCode('UNSAFE_FILE'));
      await expect(findLastRecords(other.path, ['connect'])).rejects.toSatisfy(hasCode('UNSAFE_FILE'));
    } finally {
      await other.remove();
    }
  });

  it('should refuse a regular file where the log directory or one of its parents should be', async () => {
    const file = join(dir.path, 'file');
    await writeFile(file, 'x', { mode: 0o600 });
    await expect(AuditLog.open({ dir: file })).rejects.toSatisfy(hasCode('UNSAFE_FILE'));
    await expect(AuditLog.open({ dir: join(file, '.cora') })).rejects.toSatisfy(hasCode('UNSAFE_FILE'));
    expect(await readFile(file, 'utf8')).toBe('x');
  });
});

describe('two writer processes on one log', () => {
  let dir: TempDir;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-two-');
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await dir.remove();
  });

  it('should keep every line whole and have verify name the first break between them', async () => {
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, ['--conditions=cora-source', APPENDER, dir.path, 'loop'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      await waitForLine(child.stdout, (l) => l.includes('"ready"'));
    }
    await sleep(300);
    await Promise.all(
      children.map(async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    const text = await readFile(join(dir.path, 'audit.jsonl'));
    const whole = text.subarray(0, text.lastIndexOf(10) + 1);
    const newlines = whole.reduce((n, byte) => n + (byte === 10 ? 1 : 0), 0);
    // O_APPEND: batches of the two writers interleave, the bytes of a line never do.
    const records: AuditRecord[] = [];
    for await (const record of readRecords(dir.path)) records.push(record);
    expect(records).toHaveLength(newlines);
    const key = SecretBuf.alloc(32); // the appenders' key
    try {
      const report = await verifyLog(dir.path, { key });
      expect(report.ok).toBe(false);
      expect(['seq', 'chain']).toContain(report.firstProblem?.kind);
      expect(report.firstProblem?.line).toBe(report.records + 1);
      expect(report.records).toBeLessThan(newlines);
    } finally {
      key.wipe();
    }
  }, 20_000);
});
