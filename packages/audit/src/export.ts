// SPDX-License-Identifier: AGPL-3.0-only
// Exporting a verified log with a MACed trailer, and checking such an export on its own
// (architecture §10): the copy a user hands to someone else.
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { AuditError } from './errors.ts';
import { Checker, withMac } from './internal/checker.ts';
import { fileLineBatches } from './internal/files.ts';
import { MacKey, ZERO_HASH } from './internal/mac.ts';
import type { VerifyProblemKind } from './types.ts';
import { verifyLog } from './verify.ts';

const EXPORT_DOMAIN = 'cora-audit-export-v1\0';
const TRAILER_RE =
  /^\{"v":1,"type":"export-trailer","count":(0|[1-9]\d{0,15}),"head":"([0-9a-f]{64})","firstSeq":(0|[1-9]\d{0,15}),"mac":"([0-9a-f]{64})"\}$/;

function trailerMessage(count: number, head: string, firstSeq: number): Buffer {
  return Buffer.from(`${EXPORT_DOMAIN}${String(count)}\0${head}\0${String(firstSeq)}`, 'utf8');
}

/**
 * Export a verified log as NDJSON: every record line, then a MACed trailer
 * `{"v":1,"type":"export-trailer","count":N,"head":"<hash>","firstSeq":S,"mac":"<hmac>"}`.
 * The log is verified first (with the key); nothing is yielded when that fails.
 *
 * @param dir - the log directory
 * @param key - the audit key
 * @param options - `fileName`, `expectHead`
 * @returns the lines, each ending in `\n`
 * @throws AuditError `VERIFY_FAILED` (on first iteration) when the log does not verify, or
 * when it changed between the check and the copy.
 * @throws TypeError when `key` is not a SecretBuf.
 */
export async function* exportLog(
  dir: string,
  key: SecretBuf,
  options: {
    readonly fileName?: string;
    readonly expectHead?: { readonly seq: number; readonly hash: string };
  } = {},
): AsyncGenerator<Uint8Array> {
  if (!(key instanceof SecretBuf)) throw new TypeError('key must be a SecretBuf');
  const report = await verifyLog(dir, { ...options, key });
  if (!report.ok || report.firstProblem !== null) {
    const p = report.firstProblem;
    throw new AuditError(
      'VERIFY_FAILED',
      p === null ? 'the log does not verify' : `${p.file}:${String(p.line)}: ${p.kind}: ${p.message}`,
    );
  }
  const mac = new MacKey(key);
  try {
    // Second pass: copy exactly the verified records (re-checked, the files may have moved on).
    const checker = new Checker(mac);
    const end = report.head?.seq ?? 0;
    for (const name of report.files) {
      const path = join(dir, name);
      if (checker.prevSeq === end) break;
      for await (const batch of fileLineBatches(path, { offset: 0, bytes: 0 })) {
        // Check the batch in one secure-memory session, then hand its lines out.
        const out = mac.session(() => {
          const lines: Buffer[] = [];
          for (const line of batch) {
            if (checker.prevSeq === end) break;
            const result = checker.line(line.bytes);
            if (!('record' in result)) {
              throw new AuditError(
                'VERIFY_FAILED',
                `${name}:${String(line.number)}: changed while exporting (${result.message})`,
              );
            }
            lines.push(Buffer.concat([line.bytes, Buffer.from('\n')]));
          }
          return lines;
        });
        yield* out;
        if (checker.prevSeq === end) break;
      }
    }
    const head = checker.prevHash ?? ZERO_HASH;
    if (
      checker.prevSeq !== (report.head?.seq ?? null) ||
      (report.head !== null && head !== report.head.hash)
    ) {
      throw new AuditError(
        'VERIFY_FAILED',
        'the log changed while exporting (rotation or tampering); export again',
      );
    }
    const count = checker.records;
    const firstSeq = checker.firstSeq ?? 0;
    const tag = mac.hex(trailerMessage(count, head, firstSeq));
    yield Buffer.from(
      `{"v":1,"type":"export-trailer","count":${String(count)},"head":"${head}","firstSeq":${String(firstSeq)},"mac":"${tag}"}\n`,
    );
  } finally {
    mac.wipe();
  }
}

/** Result of {@link verifyExport}. */
export interface ExportReport {
  readonly ok: boolean;
  /** Records checked (the trailer excluded). */
  readonly records: number;
  readonly firstSeq: number | null;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  /** Whether a trailer was found and its MAC, count and head matched. */
  readonly trailer: boolean;
  readonly firstProblem: {
    readonly line: number;
    readonly seq: number | null;
    readonly kind: VerifyProblemKind | 'trailer';
    readonly message: string;
  } | null;
}

/**
 * Verify an export: every record's chain and MAC, then the trailer's MAC, count and head.
 * Chunks may split lines anywhere.
 *
 * @param chunks - the export's bytes (e.g. a file read stream)
 * @param key - the audit key the export was made with
 * @returns a report; `ok` only with a valid trailer and nothing after it
 * @throws TypeError when `key` is not a SecretBuf.
 */
export function verifyExport(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  key: SecretBuf,
): Promise<ExportReport> {
  if (!(key instanceof SecretBuf)) throw new TypeError('key must be a SecretBuf');
  return withMac(key, async (maybeMac) => {
    const mac = maybeMac as MacKey;
    const checker = new Checker(mac);
    let number = 0;
    let trailer = false as boolean; // set inside onLine: keep TS from narrowing it to false
    type Problem = NonNullable<ExportReport['firstProblem']>;
    const trailerProblem = (text: string): Problem | null => {
      const fail = (message: string): Problem => ({ line: number, seq: null, kind: 'trailer', message });
      const m = TRAILER_RE.exec(text);
      if (m === null) return fail('malformed trailer');
      const [, countText = '', head = '', firstText = '', tag = ''] = m;
      const count = Number(countText);
      const firstSeq = Number(firstText);
      if (!mac.verify(trailerMessage(count, head, firstSeq), tag)) return fail('trailer MAC does not match');
      if (
        count !== checker.records ||
        head !== (checker.prevHash ?? ZERO_HASH) ||
        firstSeq !== (checker.firstSeq ?? 0)
      ) {
        return fail(
          `trailer says ${countText} records ending at ${head.slice(0, 12)}…, the export has ${String(checker.records)}`,
        );
      }
      return null;
    };
    const onLine = (bytes: Buffer): Problem | null => {
      number += 1;
      if (trailer) return { line: number, seq: null, kind: 'trailer', message: 'data after the trailer' };
      const text = bytes.toString('latin1');
      if (text.startsWith('{"v":1,"type":"export-trailer"')) {
        const problem = trailerProblem(text);
        trailer = problem === null;
        return problem;
      }
      const result = checker.line(bytes);
      return 'record' in result ? null : { line: number, ...result };
    };
    let problem: Problem | null = null;
    let carry: Buffer = Buffer.alloc(0);
    outer: for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
      const data = Buffer.concat([carry, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)]);
      let start = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
        problem = onLine(data.subarray(start, nl));
        if (problem !== null) break outer;
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
    }
    if (problem === null && carry.length > 0) {
      problem = { line: number + 1, seq: null, kind: 'bad-json', message: 'torn last line' };
    }
    if (problem === null && !trailer) {
      problem = { line: number, seq: null, kind: 'trailer', message: 'no trailer: the export is incomplete' };
    }
    return {
      ok: problem === null,
      records: checker.records,
      firstSeq: checker.firstSeq,
      head: checker.last === null ? null : { seq: checker.last.seq, hash: checker.prevHash ?? ZERO_HASH },
      trailer,
      firstProblem: problem,
    };
  });
}
