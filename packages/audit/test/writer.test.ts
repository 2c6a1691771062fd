// SPDX-License-Identifier: AGPL-3.0-only
import { spawn } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, waitForLine, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, isAuditError, logFiles, readRecords, verifyLog, type AuditRecord } from '../src/index.ts';
import { writerStats } from '../src/internal/stats.ts';
import { FIXTURES, someEvents } from './helpers.ts';

const APPENDER = fileURLToPath(new URL('./fixtures/appender.ts', import.meta.url));
const isCode = (code: string) => (e: unknown) => isAuditError(e, code as 'CLOSED');

describe('AuditLog', () => {
  let dir: TempDir;
  let key: SecretBuf;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-writer-');
    key = SecretBuf.random(32);
  });
  afterEach(async () => {
    key.wipe();
    await dir.remove();
  });

  it('should create the directory 0700 and the file 0600, and write canonical lines', async () => {
    const home = join(dir.path, 'nested', '.cora');
    const log = await AuditLog.open({ dir: home });
    const record = await log.append(FIXTURES['service-start']);
    await log.close();
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    expect((await stat(log.path)).mode & 0o777).toBe(0o600);
    expect(record).toMatchObject({ v: 1, seq: 1, prev: '0'.repeat(64), mac: null, type: 'service-start' });
    const text = await readFile(log.path, 'utf8');
    expect(text).toBe(
      `{"v":1,"seq":1,"time":"${record.time}","type":"service-start","pid":100,"version":"0.1.0","prev":"${'0'.repeat(64)}","mac":null}\n`,
    );
  });

  it('should group-commit concurrent appends and resolve each only once it is on disk', async () => {
    const log = await AuditLog.open({ dir: dir.path });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    const before = { ...writerStats };
    const onDisk: boolean[] = [];
    const records = await Promise.all(
      someEvents(32).map((event) =>
        log.append(event).then(async (record) => {
          const text = await readFile(log.path, 'utf8');
          onDisk.push(text.includes(`"seq":${String(record.seq)},`));
          return record;
        }),
      ),
    );
    const fsyncs = writerStats.fsyncs - before.fsyncs;
    await log.close();
    expect(onDisk.every(Boolean)).toBe(true);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 32 }, (_, i) => i + 2));
    expect(fsyncs).toBeGreaterThanOrEqual(1);
    expect(fsyncs).toBeLessThanOrEqual(4); // the first record alone, then the rest as one batch
    expect(writerStats.writes - before.writes).toBe(fsyncs);
    expect((await verifyLog(dir.path, { key })).ok).toBe(true);
  });

  it('should continue seq and chain after close and reopen, and report the head', async () => {
    let log = await AuditLog.open({ dir: dir.path });
    expect(log.head()).toEqual({ seq: 0, hash: '0'.repeat(64), sealedSeq: null });
    for (const event of someEvents(5)) await log.append(event);
    const head = log.head();
    await log.close();
    log = await AuditLog.open({ dir: dir.path });
    expect(log.head()).toEqual(head);
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    await log.close();
    const report = await verifyLog(dir.path, { key });
    expect(report).toMatchObject({ ok: true, records: 6, lastSealedSeq: 6, unsealed: 0 });
    const seqs: number[] = [];
    for await (const record of readRecords(dir.path)) seqs.push(record.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('should write null MACs while locked and MAC from setKey on; unlock seals what came before', async () => {
    const log = await AuditLog.open({ dir: dir.path });
    const locked = await log.append(FIXTURES.connect);
    await expect(log.append(FIXTURES.unlock)).rejects.toSatisfy(isCode('INVALID_EVENT'));
    log.setKey(key);
    const unlock = await log.append(FIXTURES.unlock);
    const sealedHead = log.head();
    await log.append(FIXTURES.lock);
    log.setKey(null);
    const after = await log.append(FIXTURES.connect);
    await log.close();
    expect(locked.mac).toBeNull();
    expect(unlock.mac).toMatch(/^[0-9a-f]{64}$/);
    expect(after.mac).toBeNull();
    expect(sealedHead.sealedSeq).toBe(2);
    expect(await verifyLog(dir.path, { key })).toMatchObject({
      ok: true,
      lastSealedSeq: 3,
      unsealed: 1,
      macChecked: true,
    });
    // The wrong key fails at the first MACed record.
    const other = SecretBuf.random(32);
    expect((await verifyLog(dir.path, { key: other })).firstProblem).toMatchObject({ line: 2, kind: 'mac' });
    other.wipe();
  });

  it('should rotate by size, keep verify green across files and keep at most `keep` rotated files', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 2048, keep: 3, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(120)) await log.append(event);
    await log.close();
    const files = await logFiles(dir.path);
    expect(files.length).toBe(4);
    expect(files.at(-1)).toBe(log.path);
    const report = await verifyLog(dir.path, { key, expectHead: log.head() });
    expect(report).toMatchObject({ ok: true, files: files.map((f) => f.slice(dir.path.length + 1)) });
    const firsts: AuditRecord[] = [];
    for (const file of files.slice(1))
      firsts.push(JSON.parse((await readFile(file, 'utf8')).split('\n')[0]!) as AuditRecord);
    firsts.forEach((record, i) => {
      expect(record).toMatchObject({
        type: 'file-start',
        previous: files[i]!.slice(dir.path.length + 1),
        torn: 0,
      });
      expect(record.mac).not.toBeNull();
    });
    for (const file of files.slice(0, -1)) {
      const size = (await stat(file)).size;
      expect(size).toBeGreaterThan(2048);
      expect(size).toBeLessThan(2048 + 1024);
      expect(file).toMatch(/audit-\d{12}\.jsonl$/);
    }
    // Deleting a rotated file in the middle is named, not silently skipped.
    const names = await readdir(dir.path);
    expect(names.sort()).toEqual(files.map((f) => f.slice(dir.path.length + 1)).sort());
  });

  it('should rotate by age with an injected clock', async () => {
    let now = Date.parse('2026-01-01T00:00:00.000Z');
    const log = await AuditLog.open({ dir: dir.path, maxAgeMs: 60_000, now: () => now });
    await log.append(FIXTURES.connect);
    now += 30_000;
    await log.append(FIXTURES.connect);
    expect(await logFiles(dir.path)).toHaveLength(1);
    now += 30_000;
    const record = await log.append(FIXTURES.connect);
    await log.close();
    const files = await logFiles(dir.path);
    expect(files.map((f) => f.slice(dir.path.length + 1))).toEqual([
      'audit-000000000001.jsonl',
      'audit.jsonl',
    ]);
    expect(record.seq).toBe(4); // seq 3 is the new file's file-start
    expect(record.time).toBe('2026-01-01T00:01:00.000Z');
    expect(await verifyLog(dir.path)).toMatchObject({ ok: true, records: 4 });
  });

  it('should name a missing rotated file and a file that does not start with file-start', async () => {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 10, fsync: false });
    for (const event of someEvents(40)) await log.append(event);
    await log.close();
    const files = await logFiles(dir.path);
    expect(files.length).toBeGreaterThanOrEqual(3);
    const { unlink } = await import('node:fs/promises');
    await unlink(files[1]!);
    expect((await verifyLog(dir.path)).firstProblem).toMatchObject({ kind: 'missing-file', line: 1 });
    // Deleting the oldest files is indistinguishable from pruning (README).
    await unlink(files[0]!);
    expect((await verifyLog(dir.path)).ok).toBe(true);
  });

  it('should refuse a symlinked log file, a non-regular file, and files or directories open to others', async () => {
    const real = join(dir.path, 'elsewhere.jsonl');
    await writeFile(real, '', { mode: 0o600 });
    await symlink(real, join(dir.path, 'audit.jsonl'));
    await expect(AuditLog.open({ dir: dir.path })).rejects.toSatisfy(isCode('UNSAFE_FILE'));
    await expect(verifyLog(dir.path)).rejects.toSatisfy(isCode('UNSAFE_FILE'));
    expect((await lstat(join(dir.path, 'audit.jsonl'))).isSymbolicLink()).toBe(true);

    await mkdir(join(dir.path, 'd'), { mode: 0o700 });
    await mkdir(join(dir.path, 'd', 'audit.jsonl'));
    await expect(AuditLog.open({ dir: join(dir.path, 'd') })).rejects.toSatisfy(isCode('UNSAFE_FILE'));

    await mkdir(join(dir.path, 'wide'), { mode: 0o700 });
    await writeFile(join(dir.path, 'wide', 'audit.jsonl'), '', { mode: 0o644 });
    await chmod(join(dir.path, 'wide', 'audit.jsonl'), 0o644);
    await expect(AuditLog.open({ dir: join(dir.path, 'wide') })).rejects.toSatisfy(isCode('UNSAFE_FILE'));

    await mkdir(join(dir.path, 'open'));
    await chmod(join(dir.path, 'open'), 0o755);
    await expect(AuditLog.open({ dir: join(dir.path, 'open') })).rejects.toSatisfy(isCode('UNSAFE_FILE'));
    await symlink(join(dir.path, 'd'), join(dir.path, 'linkdir'));
    await expect(AuditLog.open({ dir: join(dir.path, 'linkdir') })).rejects.toSatisfy(isCode('UNSAFE_FILE'));
  });

  it('should refuse to continue from a last line that is not a record', async () => {
    await writeFile(join(dir.path, 'audit.jsonl'), '{"not":"a record"}\n', { mode: 0o600 });
    await expect(AuditLog.open({ dir: dir.path })).rejects.toSatisfy(isCode('VERIFY_FAILED'));
  });

  it('should reject bad arguments and use after close', async () => {
    await expect(AuditLog.open({ dir: '' })).rejects.toThrow(TypeError);
    await expect(AuditLog.open({ dir: dir.path, maxBytes: 10 })).rejects.toThrow(RangeError);
    await expect(AuditLog.open({ dir: dir.path, keep: 1.5 })).rejects.toThrow(TypeError);
    await expect(AuditLog.open({ dir: dir.path, fileName: '../x' })).rejects.toThrow(TypeError);
    const log = await AuditLog.open({ dir: dir.path });
    expect(() => log.setKey(Buffer.alloc(32) as unknown as SecretBuf)).toThrow(TypeError);
    const short = SecretBuf.alloc(16);
    expect(() => log.setKey(short)).toThrow(RangeError);
    short.wipe();
    await expect(log.append(FIXTURES['file-start'])).rejects.toSatisfy(isCode('INVALID_EVENT'));
    await log.close();
    await log.close();
    await expect(log.append(FIXTURES.connect)).rejects.toSatisfy(isCode('CLOSED'));
    expect(() => log.setKey(key)).toThrow(expect.objectContaining({ code: 'CLOSED' }) as Error);
    expect(() => log.setKey(null)).not.toThrow();
  });

  it('should fail closed when the file cannot grow (EFBIG), leave the log verifiable and recover', async () => {
    // prlimit --fsize: writes past the limit fail with EFBIG (Node ignores SIGXFSZ). Root is
    // bound by RLIMIT_FSIZE too, so this also runs as root.
    const seed = await AuditLog.open({ dir: dir.path });
    for (const event of someEvents(3)) await seed.append(event);
    await seed.close();
    const limit = (await stat(join(dir.path, 'audit.jsonl'))).size + 2000;
    const child = spawn(
      'prlimit',
      [
        `--fsize=${String(limit)}`,
        process.execPath,
        '--conditions=cora-source',
        APPENDER,
        dir.path,
        'until-fail',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const failed = JSON.parse(await waitForLine(child.stdout, (l) => l.includes('"failed"'))) as {
        failed: string;
        cause: string;
        head: { seq: number };
      };
      expect(failed).toMatchObject({ failed: 'WRITE_FAILED', cause: 'EFBIG' });
      const again = JSON.parse(await waitForLine(child.stdout, (l) => l.includes('"again"'))) as {
        again: string;
        head: { seq: number };
      };
      expect(again).toMatchObject({ again: 'WRITE_FAILED', head: failed.head });
    } finally {
      child.kill('SIGKILL');
    }
    const zero = SecretBuf.alloc(32);
    try {
      const report = await verifyLog(dir.path, { key: zero });
      expect(report).toMatchObject({ ok: true, torn: null });
      expect((await stat(join(dir.path, 'audit.jsonl'))).size).toBeLessThanOrEqual(limit);
      // Without the limit, appends continue the same chain.
      const log = await AuditLog.open({ dir: dir.path });
      const next = await log.append(FIXTURES.connect);
      expect(next.seq).toBe(report.head!.seq + 1);
      await log.close();
      expect(await verifyLog(dir.path, { key: zero })).toMatchObject({ ok: true });
    } finally {
      zero.wipe();
    }
  });
});

describe('record format (README worked example)', () => {
  it('should write exactly the documented bytes, MAC and chain hash', async () => {
    await using dir = await makeTempDir('cora-audit-example-');
    const key = SecretBuf.from(Uint8Array.from({ length: 32 }, (_, i) => i));
    const log = await AuditLog.open({ dir: dir.path, now: () => Date.parse('2026-01-01T00:00:00.000Z') });
    log.setKey(key);
    await log.append({ type: 'service-start', pid: 100, version: '0.1.0' });
    const head = log.head();
    await log.close();
    key.wipe();
    expect(await readFile(join(dir.path, 'audit.jsonl'), 'utf8')).toBe(
      '{"v":1,"seq":1,"time":"2026-01-01T00:00:00.000Z","type":"service-start","pid":100,"version":"0.1.0",' +
        '"prev":"0000000000000000000000000000000000000000000000000000000000000000",' +
        '"mac":"362a273a2b3b7c7263a40dd1e7f1ceb5a229bc3361c9a1b91c41b7c17c6b9fe2"}\n',
    );
    expect(head).toEqual({
      seq: 1,
      hash: '4703a31030a96914c627e7513ab64d9282ea44cdb4d6c7de63554d2d77d84e76',
      sealedSeq: 1,
    });
  });
});
