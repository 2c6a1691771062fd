// SPDX-License-Identifier: AGPL-3.0-only
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, exportLog, isAuditError, logFiles, verifyExport } from '../src/index.ts';
import { collect, FIXTURES, someEvents } from './helpers.ts';

describe('exportLog / verifyExport', () => {
  let dir: TempDir;
  let key: SecretBuf;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-export-');
    key = SecretBuf.random(32);
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 2048, fsync: false });
    await log.append(FIXTURES['service-start']);
    log.setKey(key);
    await log.append(FIXTURES.unlock);
    for (const event of someEvents(30)) await log.append(event);
    await log.close();
  });
  afterEach(async () => {
    key.wipe();
    await dir.remove();
  });

  it('should round-trip across rotated files, also from a file stream', async () => {
    const lines = await collect(exportLog(dir.path, key));
    const trailer = JSON.parse(lines.at(-1)!.toString()) as Record<string, unknown>;
    expect(trailer).toMatchObject({ v: 1, type: 'export-trailer', count: lines.length - 1, firstSeq: 1 });
    expect(lines.every((l) => l.at(-1) === 10)).toBe(true);
    const report = await verifyExport(lines, key);
    expect(report).toMatchObject({ ok: true, trailer: true, records: lines.length - 1, firstSeq: 1 });
    expect(report.head?.hash).toBe(trailer['head']);
    const file = join(dir.path, 'export.ndjson');
    await writeFile(file, Buffer.concat(lines));
    expect(await verifyExport(createReadStream(file, { highWaterMark: 97 }), key)).toMatchObject({
      ok: true,
    });
  });

  it('should fail on a changed line, a changed trailer count, a missing trailer or the wrong key', async () => {
    const lines = await collect(exportLog(dir.path, key));
    const changed = [...lines];
    changed[5] = Buffer.from(changed[5]!.toString().replace('"seq":6', '"seq":7'));
    expect((await verifyExport(changed, key)).firstProblem).toMatchObject({ line: 6, kind: 'seq' });

    const count = lines.length - 1;
    const recount = [...lines];
    recount[count] = Buffer.from(
      recount[count]!.toString().replace(`"count":${String(count)}`, `"count":${String(count - 1)}`),
    );
    expect((await verifyExport(recount, key)).firstProblem).toMatchObject({ kind: 'trailer' });

    // Dropping the last record and keeping the trailer: count and head no longer match.
    const shortened = [...lines.slice(0, count - 1), lines[count]!];
    expect((await verifyExport(shortened, key)).firstProblem).toMatchObject({ kind: 'trailer' });
    expect((await verifyExport(lines.slice(0, count), key)).firstProblem).toMatchObject({ kind: 'trailer' });
    expect((await verifyExport([...lines, lines[0]!], key)).firstProblem).toMatchObject({ kind: 'trailer' });

    const other = SecretBuf.random(32);
    expect((await verifyExport(lines, other)).firstProblem).toMatchObject({ line: 2, kind: 'mac' });
    other.wipe();
  });

  it('should refuse to export a log that does not verify, and reject a non-SecretBuf key', async () => {
    const [path] = await logFiles(dir.path);
    const text = await readFile(path!, 'utf8');
    expect(text).toContain('"reason":"AUTH_FAILED"');
    await writeFile(path!, text.replace('"reason":"AUTH_FAILED"', '"reason":"DENIED"'));
    await expect(collect(exportLog(dir.path, key))).rejects.toSatisfy((e) =>
      isAuditError(e, 'VERIFY_FAILED'),
    );
    await expect(collect(exportLog(dir.path, Buffer.alloc(32) as unknown as SecretBuf))).rejects.toThrow(
      TypeError,
    );
    expect(() => verifyExport([], Buffer.alloc(32) as unknown as SecretBuf)).toThrow(TypeError);
  });
});
