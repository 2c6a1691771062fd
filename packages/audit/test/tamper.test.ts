// SPDX-License-Identifier: AGPL-3.0-only
// Each tamper class of README "What verify detects", pinned to the first bad line.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyLog, type AuditEvent, type AuditRecord, type VerifyReport } from '../src/index.ts';
import { sha256Hex } from '../src/internal/mac.ts';
import { finishLine, serialiseBody } from '../src/internal/schema.ts';
import { CALLER, FIXTURES, someEvents } from './helpers.ts';

const UNLOCK_LINE = 4;
const LOCK_LINE = 15;

/** 17 records: 3 locked (null mac), unlock, 10 sealed, lock, 2 locked after it. */
async function buildLog(dir: string, key: SecretBuf): Promise<AuditLog> {
  const log = await AuditLog.open({ dir, fsync: false });
  await log.append(FIXTURES['service-start']);
  await log.append(FIXTURES.connect);
  await log.append(FIXTURES['unlock-failed']);
  log.setKey(key);
  await log.append(FIXTURES.unlock);
  for (const event of someEvents(10)) await log.append(event);
  await log.append(FIXTURES.lock);
  log.setKey(null);
  await log.append(FIXTURES.connect);
  await log.append(FIXTURES['service-stop']);
  return log;
}

function rewrite(line: Buffer, patch: (r: Record<string, unknown>) => void, mac?: string | null): Buffer {
  const record = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
  patch(record);
  const { seq, time, prev, mac: oldMac, ...rest } = record;
  const event = Object.fromEntries(Object.entries(rest).filter(([k]) => k !== 'v'));
  const body = serialiseBody(event as unknown as AuditEvent, seq as number, time as string, prev as string);
  return Buffer.from(finishLine(body, mac === undefined ? (oldMac as string | null) : mac));
}

/** Recompute prev (and seq) from `from` on, as an attacker without the key can. */
function rechain(lines: Buffer[], from: number, macs: 'keep' | 'null'): Buffer[] {
  const out = [...lines];
  for (let i = Math.max(from, 1); i < out.length; i++) {
    const prevHash = sha256Hex(out[i - 1]!);
    const seq = (JSON.parse(out[i - 1]!.toString()) as AuditRecord).seq + 1;
    out[i] = rewrite(
      out[i]!,
      (r) => Object.assign(r, { prev: prevHash, seq }),
      macs === 'null' ? null : undefined,
    );
  }
  return out;
}

describe('verifyLog tamper detection', () => {
  let dir: TempDir;
  let key: SecretBuf;
  let original: Buffer[];
  let head: { seq: number; hash: string };
  const path = (): string => join(dir.path, 'audit.jsonl');

  const check = async (
    lines: Buffer[],
    expectHead?: { seq: number; hash: string },
  ): Promise<VerifyReport> => {
    await writeFile(path(), Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    return verifyLog(dir.path, expectHead === undefined ? { key } : { key, expectHead });
  };

  beforeAll(async () => {
    dir = await makeTempDir('cora-audit-tamper-');
    key = SecretBuf.random(32);
    const log = await buildLog(dir.path, key);
    head = log.head();
    await log.close();
    const text = await readFile(path());
    original = text
      .subarray(0, -1)
      .toString('latin1')
      .split('\n')
      .map((l) => Buffer.from(l, 'latin1'));
  });

  afterAll(async () => {
    key.wipe();
    await dir.remove();
  });

  it('should accept the untouched log, with and without the expected head', async () => {
    expect(original).toHaveLength(17);
    const report = await check(original, head);
    expect(report).toMatchObject({
      ok: true,
      records: 17,
      macChecked: true,
      lastSealedSeq: LOCK_LINE,
      unsealed: 2,
      torn: null,
    });
    expect(report.head).toEqual({ seq: head.seq, hash: head.hash });
  });

  it('should pin every single-bit flip of a sealed record to that line', async () => {
    for (const target of [UNLOCK_LINE, UNLOCK_LINE + 1]) {
      const line = original[target - 1]!;
      for (let byte = 0; byte <= line.length; byte++) {
        for (let bit = 0; bit < 8; bit++) {
          // byte === line.length flips the line's own `\n`.
          const lines = [...original];
          const bytes = Buffer.concat([line, Buffer.from('\n')]);
          bytes[byte]! ^= 1 << bit;
          lines[target - 1] = bytes.subarray(0, -1);
          const file = Buffer.concat([
            ...lines.slice(0, target - 1).flatMap((l) => [l, Buffer.from('\n')]),
            bytes,
            ...lines.slice(target).flatMap((l) => [l, Buffer.from('\n')]),
          ]);
          await writeFile(path(), file);
          const report = await verifyLog(dir.path, { key });
          expect(report.ok, `flip ${String(byte)}.${String(bit)} of line ${String(target)}`).toBe(false);
          expect(
            report.firstProblem?.line,
            `flip ${String(byte)}.${String(bit)} of line ${String(target)}`,
          ).toBe(target);
        }
      }
    }
  }, 20_000);

  it('should catch a bit flip in every byte of an unsealed record at it or, by the chain, at the next line', async () => {
    const target = 2;
    const line = original[target - 1]!;
    for (let byte = 0; byte < line.length; byte++) {
      // One bit per byte (rotating), to keep the suite fast; the sealed case above tries all 8.
      for (const bit of [byte % 8]) {
        const lines = [...original];
        const bytes = Buffer.from(line);
        bytes[byte]! ^= 1 << bit;
        lines[target - 1] = bytes;
        const report = await check(lines);
        expect(report.ok).toBe(false);
        const problem = report.firstProblem!;
        expect([target, target + 1]).toContain(problem.line);
        if (problem.line === target + 1) expect(problem.kind).toBe('chain');
      }
    }
  }, 20_000);

  it('should catch a deleted line at the line that followed it', async () => {
    for (const gone of [1, 2, 9, LOCK_LINE]) {
      const lines = original.filter((_, i) => i !== gone - 1);
      const report = await check(lines);
      expect(report.ok).toBe(false);
      // A log that starts neither at seq 1 nor with a file-start lost its beginning.
      expect(report.firstProblem).toMatchObject(
        gone === 1 ? { line: 1, kind: 'chain' } : { line: gone, kind: 'seq' },
      );
    }
  });

  it('should catch two swapped lines and a duplicated line', async () => {
    const swapped = [...original];
    [swapped[7], swapped[8]] = [swapped[8]!, swapped[7]!];
    expect((await check(swapped)).firstProblem).toMatchObject({ line: 8, kind: 'seq' });
    const duplicated = [...original.slice(0, 9), original[8]!, ...original.slice(9)];
    expect((await check(duplicated)).firstProblem).toMatchObject({ line: 10, kind: 'seq' });
  });

  it('should catch a forged line inserted with a recomputed chain at the next MACed record', async () => {
    const forged = rewrite(
      original[5]!,
      (r) => Object.assign(r, { type: 'approval-expired', id: 99, task: 'evil' }),
      null,
    );
    const stripped = Buffer.from(
      JSON.stringify({
        v: 1,
        seq: 7,
        time: '2026-11-23T00:00:00.000Z',
        type: 'approval-expired',
        id: 99,
        task: 'evil',
        prev: sha256Hex(original[5]!),
        mac: null,
      }),
    );
    expect(forged.length).toBeGreaterThan(0);
    const lines = rechain([...original.slice(0, 6), stripped, ...original.slice(6)], 7, 'keep');
    expect((await check(lines)).firstProblem).toMatchObject({ line: 8, kind: 'mac' });
  });

  it('should catch an edit with the whole chain recomputed without the key', async () => {
    const edited = [...original];
    edited[8] = rewrite(edited[8]!, (r) => Object.assign(r, { time: '2020-01-01T00:00:00.000Z' }));
    expect((await check(rechain(edited, 8, 'keep'))).firstProblem).toMatchObject({ line: 9, kind: 'mac' });
    // Dropping every MAC too: the unlock record must carry one.
    expect(
      (
        await check(
          rechain(original, 0, 'null').map((l, i) => (i === 0 ? rewrite(l, () => undefined, null) : l)),
        )
      ).firstProblem,
    ).toMatchObject({
      line: UNLOCK_LINE,
      kind: 'mac',
    });
  });

  it('should catch a record spliced from another log (other key) by its MAC', async () => {
    await using other = await makeTempDir('cora-audit-other-');
    const otherKey = SecretBuf.random(32);
    try {
      await (await buildLog(other.path, otherKey)).close();
      const foreign = (await readFile(join(other.path, 'audit.jsonl'))).toString('latin1').split('\n')[8]!;
      const raw = [...original];
      raw[8] = Buffer.from(foreign, 'latin1');
      expect((await check(raw)).firstProblem).toMatchObject({ line: 9, kind: 'chain' });
      // Fitted into this chain (seq and prev rewritten, the other log's MAC kept).
      const fitted = [...original];
      fitted[8] = rewrite(Buffer.from(foreign, 'latin1'), (r) =>
        Object.assign(r, { prev: sha256Hex(original[7]!), seq: 9 }),
      );
      expect((await check(rechain(fitted, 9, 'keep'))).firstProblem).toMatchObject({ line: 9, kind: 'mac' });
    } finally {
      otherKey.wipe();
    }
  });

  it('should catch truncation only with the expected head (README: not without it)', async () => {
    for (const keepLines of [16, 15, 14, 5, 1]) {
      const lines = original.slice(0, keepLines);
      const plain = await check(lines);
      expect(plain.ok).toBe(true); // what remains is a consistent log: documented limit
      const withHead = await check(lines, head);
      expect(withHead.firstProblem).toMatchObject({ kind: 'head-mismatch', line: keepLines, seq: keepLines });
    }
    // Rewriting the unsealed tail is also caught by the head.
    const tailEdit = [...original];
    tailEdit[16] = rewrite(tailEdit[16]!, (r) => Object.assign(r, { reason: 'signal' }));
    expect((await check(tailEdit)).ok).toBe(true);
    expect((await check(tailEdit, head)).firstProblem?.kind).toBe('head-mismatch');
    // Records appended after the head (while a running service verifies) are fine…
    const earlier = { seq: 12, hash: sha256Hex(original[11]!) };
    expect((await check(original, earlier)).ok).toBe(true);
    // …but a changed record at the head's seq is not, even with a recomputed chain after it.
    const changed = [...original];
    changed[11] = rewrite(changed[11]!, (r) => Object.assign(r, { task: 'other' }));
    expect((await check(changed, earlier)).firstProblem?.kind).toMatch(/head-mismatch|mac|chain/);
  });

  it('should catch reformatted JSON (spacing, key order, escapes) as not canonical', async () => {
    const record = JSON.parse(original[11]!.toString()) as Record<string, unknown>;
    expect(record['type']).toBe('task-start');
    for (const text of [
      JSON.stringify(record, null, 1).replaceAll('\n', ''),
      JSON.stringify({ seq: record['seq'], ...record }),
      original[11]!.toString().replace('"deploy"', '"\\u0064eploy"'),
    ]) {
      expect(text).not.toBe(original[11]!.toString());
      const lines = [...original];
      lines[11] = Buffer.from(text);
      const report = await check(lines);
      expect(report.firstProblem).toMatchObject({ line: 12 });
      expect(['bad-record', 'bad-json']).toContain(report.firstProblem?.kind);
    }
  });

  it('should report chain-only results without the key and not see a re-chained edit', async () => {
    const edited = [...original];
    edited[8] = rewrite(edited[8]!, (r) => Object.assign(r, { time: '2020-01-01T00:00:00.000Z' }));
    await check(rechain(edited, 9, 'keep'));
    const noKey = await verifyLog(dir.path);
    expect(noKey).toMatchObject({ ok: true, macChecked: false });
    expect(CALLER.cli).toBe(false);
  });

  it("should catch a line appended behind the running writer at the writer's next record", async () => {
    await using other = await makeTempDir('cora-audit-live-');
    const log = await AuditLog.open({ dir: other.path, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    const file = join(other.path, 'audit.jsonl');
    const last = (await readFile(file, 'latin1')).split('\n')[0]!;
    const forged = Buffer.from(
      finishLine(
        serialiseBody(
          FIXTURES['task-refused'],
          2,
          '2026-11-23T00:00:00.000Z',
          sha256Hex(Buffer.from(last, 'latin1')),
        ),
        null,
      ),
    );
    await writeFile(file, Buffer.concat([forged, Buffer.from('\n')]), { flag: 'a' });
    await log.append(FIXTURES.connect);
    await log.close();
    expect((await verifyLog(other.path, { key })).firstProblem).toMatchObject({ line: 3, kind: 'seq' });
  });
});
