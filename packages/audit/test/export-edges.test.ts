// SPDX-License-Identifier: AGPL-3.0-only
// verifyExport against what happens to an export file after it leaves the service: an empty
// log, every trailer field changed, truncation at any byte, reordering, a cut at a file
// boundary, other encodings (non-UTF-8, CRLF, BOM) and odd chunking.
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, exportLog, verifyExport, type AuditRecord } from '../src/index.ts';
import { collect, FIXTURES, hasCode, someEvents } from './helpers.ts';

const ZERO = '0'.repeat(64);

describe('exportLog / verifyExport edges', () => {
  let dir: TempDir;
  let key: SecretBuf;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-export-edges-');
    key = SecretBuf.random(32);
  });
  afterEach(async () => {
    key.wipe();
    await dir.remove();
  });

  /** A keyed log rotated into several files, exported: the record lines and the trailer. */
  async function exported(): Promise<{ lines: Buffer[]; trailer: Buffer }> {
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 100, fsync: false });
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(20)) await log.append(event);
    await log.close();
    const all = await collect(exportLog(dir.path, key));
    return { lines: all.slice(0, -1), trailer: all.at(-1) ?? Buffer.alloc(0) };
  }

  const problem = async (chunks: Buffer[]): Promise<unknown> =>
    (await verifyExport(chunks, key)).firstProblem;

  it('should export an empty or missing log as a trailer alone that verifies', async () => {
    for (const target of [join(dir.path, 'none'), dir.path]) {
      const out = await collect(exportLog(target, key));
      expect(out).toHaveLength(1);
      expect(JSON.parse(out[0]?.toString() ?? '')).toMatchObject({ count: 0, head: ZERO, firstSeq: 0 });
      expect(await verifyExport(out, key)).toMatchObject({ ok: true, records: 0, head: null, trailer: true });
      await (await AuditLog.open({ dir: dir.path })).close(); // an empty audit.jsonl next round
    }
  });

  it("should not let an empty log's trailer vouch for records put before it", async () => {
    const { lines } = await exported();
    const empty = await collect(exportLog(join(dir.path, 'none'), key));
    expect((await verifyExport([...lines, ...empty], key)).firstProblem).toMatchObject({ kind: 'trailer' });
  });

  it('should refuse each trailer field changed, and a trailer respelled', async () => {
    const { lines, trailer } = await exported();
    const text = trailer.toString();
    const t = JSON.parse(text) as { count: number; head: string; firstSeq: number; mac: string };
    const flip = (hex: string): string => `${hex.slice(0, -1)}${hex.endsWith('0') ? '1' : '0'}`;
    for (const edited of [
      text.replace(`"count":${String(t.count)}`, `"count":${String(t.count + 1)}`),
      text.replace(t.head, flip(t.head)),
      text.replace(`"firstSeq":1`, '"firstSeq":2'),
      text.replace(t.mac, flip(t.mac)),
      text.replace(`"count":${String(t.count)}`, `"count":0${String(t.count)}`),
      `${text.trimEnd()} \n`,
    ]) {
      expect(edited).not.toBe(text);
      expect(await problem([...lines, Buffer.from(edited)])).toMatchObject({ kind: 'trailer', seq: null });
    }
    // Respelled so it no longer looks like a trailer: read as a record, refused as one.
    const respelled = await verifyExport([...lines, Buffer.from(text.replace('{"v":1,', '{"v":1, '))], key);
    expect(respelled).toMatchObject({ ok: false, trailer: false, firstProblem: { kind: 'bad-record' } });
    expect(await verifyExport([...lines, trailer], key)).toMatchObject({ ok: true, records: t.count });
  });

  it('should refuse an export cut at any byte of its last two lines', async () => {
    const { lines, trailer } = await exported();
    const whole = Buffer.concat([...lines, trailer]);
    const from = whole.length - trailer.length - (lines.at(-1)?.length ?? 0);
    for (let cut = from; cut < whole.length; cut++) {
      const report = await verifyExport([whole.subarray(0, cut)], key);
      expect(report.ok).toBe(false);
      expect(report.trailer).toBe(false);
    }
  });

  it('should catch reordered record lines and a trailer moved to the front', async () => {
    const { lines, trailer } = await exported();
    const swapped = [...lines];
    [swapped[3], swapped[4]] = [lines[4]!, lines[3]!];
    expect(await problem([...swapped, trailer])).toMatchObject({ line: 4, kind: 'seq' });
    expect(await problem([trailer, ...lines])).toMatchObject({ line: 1, kind: 'trailer' });
    expect(await problem([...lines, trailer, trailer])).toMatchObject({
      kind: 'trailer',
      message: 'data after the trailer',
    });
  });

  it('should refuse an export trimmed to start at a later file-start, even with its own records intact', async () => {
    const { lines, trailer } = await exported();
    const starts = lines.flatMap((line, i) =>
      (JSON.parse(line.toString()) as AuditRecord).type === 'file-start' ? [i] : [],
    );
    expect(starts.length).toBeGreaterThan(1);
    // From a file-start the chain checks out; only the trailer's count and firstSeq tell.
    const trimmed = lines.slice(starts[1]);
    const report = await verifyExport([...trimmed, trailer], key);
    expect(report.records).toBe(trimmed.length);
    expect(report.firstProblem).toMatchObject({ kind: 'trailer', line: trimmed.length + 1 });
  });

  it('should refuse non-UTF-8 bytes, CRLF line ends and a byte-order mark', async () => {
    const { lines, trailer } = await exported();
    const bad = [...lines];
    bad[2] = Buffer.from(lines[2]!);
    bad[2][bad[2].indexOf('"time":"') + 8] = 0xff; // a lone continuation byte: not UTF-8
    expect(await problem([...bad, trailer])).toMatchObject({ line: 3, kind: 'bad-json' });

    const crlf = [...lines, trailer].map((l) => Buffer.from(l.toString().replace(/\n$/, '\r\n')));
    expect(await problem(crlf)).toMatchObject({ line: 1, kind: 'bad-record' });

    const bom = [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), lines[0]!]), ...lines.slice(1), trailer];
    expect(await problem(bom)).toMatchObject({ line: 1, kind: 'bad-json' });
  });

  it('should accept any chunking, including 1-byte chunks and views into one shared buffer', async () => {
    const { lines, trailer } = await exported();
    const whole = Buffer.concat([...lines, trailer]);
    const bytes = Array.from(whole, (_, i) => whole.subarray(i, i + 1));
    expect(await verifyExport(bytes, key)).toMatchObject({ ok: true, records: lines.length });
    // Views with offsets into a larger buffer, as a stream's pooled chunks are.
    const pool = new Uint8Array(whole.length + 64);
    pool.set(whole, 32);
    const views = Array.from({ length: Math.ceil(whole.length / 333) }, (_, k) =>
      pool.subarray(32 + k * 333, 32 + Math.min((k + 1) * 333, whole.length)),
    );
    expect(await verifyExport(views, key)).toMatchObject({ ok: true, records: lines.length });
  });

  it('should refuse to export a log that does not hold the expected head', async () => {
    const { lines } = await exported();
    const last = JSON.parse(lines.at(-1)?.toString() ?? '{}') as AuditRecord;
    const ahead = { seq: last.seq + 1, hash: ZERO };
    await expect(collect(exportLog(dir.path, key, { expectHead: ahead }))).rejects.toSatisfy(
      hasCode('VERIFY_FAILED'),
    );
  });
});
