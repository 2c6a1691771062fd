// SPDX-License-Identifier: AGPL-3.0-only
// Reading, verifying and exporting the audit log (architecture §10, G7). Files are streamed line
// by line; see the README's "What verify detects" for exactly what a green verify means.
import { basename, join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { AuditError } from './errors.ts';
import { DEFAULT_FILE_NAME, fileLineBatches, fileLines, logPaths, type Line } from './internal/files.ts';
import { MacKey, sha256Hex, ZERO_HASH } from './internal/mac.ts';
import { parseLine } from './internal/schema.ts';
import type { AuditRecord } from './types.ts';

/** Options of {@link verifyLog}. */
export interface VerifyOptions {
  /** The audit key: without it only the chain is checked (anyone can recompute a chain). */
  readonly key?: SecretBuf;
  /** Current file's name; default `audit.jsonl`. */
  readonly fileName?: string;
  /**
   * The running service's in-memory head (its last durable record): the log must hold that
   * record, byte for byte. Records after it are accepted (they were appended while verify
   * ran); a log that ends before it, or holds another record at that seq, was cut or changed.
   */
  readonly expectHead?: { readonly seq: number; readonly hash: string };
}

/** What a problem is. */
export type VerifyProblemKind =
  'bad-json' | 'bad-record' | 'seq' | 'chain' | 'mac' | 'head-mismatch' | 'missing-file';

/** The first problem verify met. */
export interface VerifyProblem {
  /** File name (no directory). */
  readonly file: string;
  /** 1-based line number in that file. */
  readonly line: number;
  readonly seq: number | null;
  readonly kind: VerifyProblemKind;
  readonly message: string;
}

/** Result of {@link verifyLog}. */
export interface VerifyReport {
  /** No problem found (a torn tail of the newest file alone keeps this true). */
  readonly ok: boolean;
  /** Whole records checked (up to the first problem). */
  readonly records: number;
  /** File names verified, oldest first. */
  readonly files: readonly string[];
  /** Whether MACs were checked (a key was given). */
  readonly macChecked: boolean;
  /** Seq of the last record carrying a MAC (checked when `macChecked`). */
  readonly lastSealedSeq: number | null;
  /** Records after the last MACed one: authenticated by nothing until the next seal. */
  readonly unsealed: number;
  /** Last whole record checked. */
  readonly head: { readonly seq: number; readonly hash: string } | null;
  /** Bytes after the last `\n` of the newest file (a crash mid-append). */
  readonly torn: { readonly file: string; readonly offset: number; readonly bytes: number } | null;
  readonly firstProblem: VerifyProblem | null;
}

/**
 * The log's files, oldest → newest: rotated files by first seq, then the current file.
 *
 * @param dir - the log directory
 * @param fileName - current file's name (default `audit.jsonl`)
 * @returns absolute paths (empty when there is no log)
 */
export function logFiles(dir: string, fileName: string = DEFAULT_FILE_NAME): Promise<string[]> {
  return logPaths(dir, fileName);
}

/**
 * The records of the log, oldest first, parsed and schema-checked but not verified (for
 * `cr audit tail` / `show`). Stops at a torn tail.
 *
 * @param dir - the log directory
 * @param options - `fileName`, default `audit.jsonl`
 * @returns an async iterable of records
 * @throws AuditError `VERIFY_FAILED` (while iterating) at a line that is not a valid record.
 * @throws AuditError `UNSAFE_FILE` (while iterating) when a log file is a symlink or not a regular file.
 */
export async function* readRecords(
  dir: string,
  options: { readonly fileName?: string } = {},
): AsyncGenerator<AuditRecord> {
  for (const path of await logPaths(dir, options.fileName ?? DEFAULT_FILE_NAME)) {
    for await (const line of fileLines(path, { offset: 0, bytes: 0 })) {
      const parsed = parseText(line.bytes);
      if (parsed === null || !('record' in parsed)) {
        throw new AuditError(
          'VERIFY_FAILED',
          `${basename(path)}:${String(line.number)}: not a valid audit record; run \`cr audit verify\``,
        );
      }
      yield parsed.record;
    }
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseText(bytes: Uint8Array): ReturnType<typeof parseLine> | null {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return null;
  }
  return parseLine(text);
}

interface LineProblem {
  readonly kind: VerifyProblemKind;
  readonly message: string;
  readonly seq: number | null;
}

/** Streaming chain/MAC checker shared by {@link verifyLog} and {@link verifyExport}. */
class Checker {
  records = 0;
  prevSeq: number | null = null;
  prevHash: string | null = null;
  lastSealedSeq: number | null = null;
  unsealed = 0;
  firstSeq: number | null = null;
  last: AuditRecord | null = null;
  readonly #mac: MacKey | null;

  constructor(mac: MacKey | null) {
    this.#mac = mac;
  }

  /** Check one line; returns a problem (without file/line) or the record. */
  line(bytes: Uint8Array): LineProblem | { readonly record: AuditRecord } {
    const parsed = parseText(bytes);
    if (parsed === null) return { kind: 'bad-json', message: 'not valid UTF-8', seq: null };
    if (!('record' in parsed)) return { kind: parsed.kind, message: parsed.message, seq: parsed.seq };
    const { record, body } = parsed;
    const seq = record.seq;
    if (this.prevSeq !== null && seq !== this.prevSeq + 1) {
      return { kind: 'seq', message: `seq ${String(seq)} follows ${String(this.prevSeq)}`, seq };
    }
    if (this.prevHash === null) {
      // The oldest record kept is either the log's very first (seq 1, zero prev) or the
      // file-start of a file whose predecessors were rotated away: anything else lost its start.
      if (record.type !== 'file-start' && seq !== 1) {
        return {
          kind: 'chain',
          message: `the log starts at seq ${String(seq)} without a file-start: its beginning was removed`,
          seq,
        };
      }
      if (seq === 1 && record.prev !== ZERO_HASH) {
        return { kind: 'chain', message: 'the first record of the log must have prev = 64 zeros', seq };
      }
    } else if (record.prev !== this.prevHash) {
      return { kind: 'chain', message: 'prev does not match the previous line', seq };
    }
    if (this.#mac !== null) {
      if (record.mac !== null && !this.#mac.verify(Buffer.from(body, 'utf8'), record.mac)) {
        return { kind: 'mac', message: 'MAC does not match (edited, forged or from another log)', seq };
      }
      if (record.mac === null && record.type === 'unlock') {
        return {
          kind: 'mac',
          message: 'an unlock record must carry a MAC (it seals the records before it)',
          seq,
        };
      }
    }
    this.records += 1;
    this.prevSeq = seq;
    this.prevHash = sha256Hex(bytes);
    this.firstSeq ??= seq;
    this.last = record;
    if (record.mac === null) {
      this.unsealed += 1;
    } else {
      this.lastSealedSeq = seq;
      this.unsealed = 0;
    }
    return { record };
  }
}

function withMac<T>(key: SecretBuf | undefined, fn: (mac: MacKey | null) => Promise<T>): Promise<T> {
  if (key !== undefined && !(key instanceof SecretBuf)) throw new TypeError('key must be a SecretBuf');
  const mac = key === undefined ? null : new MacKey(key);
  return fn(mac).finally(() => mac?.wipe());
}

/**
 * Verify the whole log: schema and canonical form of every line, seq continuity, the hash
 * chain across files, `file-start` links, MACs (with the key) and the expected head.
 * Stops at the first problem.
 *
 * @param dir - the log directory
 * @param options - key, fileName, expectHead
 * @returns a report; `ok` is false when `firstProblem` is set
 * @throws TypeError when `options.key` is not a SecretBuf.
 * @throws AuditError `UNSAFE_FILE` when a log file is a symlink or not a regular file.
 * @example
 * ```ts
 * const report = await verifyLog(dir, { key: auditKey, expectHead: log.head() });
 * if (!report.ok) console.error(report.firstProblem);
 * ```
 */
export async function verifyLog(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const fileName = options.fileName ?? DEFAULT_FILE_NAME;
  return withMac(options.key, async (mac) => {
    const paths = await logPaths(dir, fileName);
    const checker = new Checker(mac);
    const files: string[] = [];
    let torn: VerifyReport['torn'] = null;
    let problem = null as VerifyProblem | null; // set inside `handle`: keep TS from narrowing it
    let lastFile = '';
    let lastLine = 0;
    let previousFile: { name: string; torn: number } | null = null;
    /** The hash of the record at expectHead.seq, once met. */
    let atHead = null as string | null; // set inside `handle`: keep TS from narrowing it
    outer: for (const path of paths) {
      const name = basename(path);
      files.push(name);
      const tail = { offset: 0, bytes: 0 };
      let first = true;
      const prior = previousFile;
      /** Check one line; true = stop (a problem was recorded). */
      const handle = (line: Line): boolean => {
        const checked = checker.line(line.bytes);
        if (!('record' in checked)) {
          problem = { file: name, line: line.number, ...checked };
          if (first && prior !== null && (checked.kind === 'seq' || checked.kind === 'chain')) {
            // A broken link at a file boundary: say so when a rotated file is missing.
            const parsed = parseText(line.bytes);
            if (
              parsed !== null &&
              'record' in parsed &&
              parsed.record.type === 'file-start' &&
              parsed.record.previous !== prior.name
            ) {
              problem = {
                ...problem,
                kind: 'missing-file',
                message: `file-start names ${String(parsed.record.previous)}, but the previous file present is ${prior.name}: a rotated file is missing`,
              };
            }
          }
          return true;
        }
        const result = checked.record;
        if (first && prior !== null) {
          // Every file after the oldest kept one starts with file-start naming its predecessor.
          if (result.type !== 'file-start') {
            problem = {
              file: name,
              line: 1,
              seq: result.seq,
              kind: 'chain',
              message: `the file does not start with file-start after ${prior.name}`,
            };
            return true;
          }
          if (result.previous !== prior.name) {
            problem = {
              file: name,
              line: 1,
              seq: result.seq,
              kind: 'missing-file',
              message: `file-start names ${String(result.previous)}, but the previous file is ${prior.name}`,
            };
            return true;
          }
          if (result.torn !== prior.torn) {
            problem = {
              file: name,
              line: 1,
              seq: result.seq,
              kind: 'chain',
              message: `${prior.name} ends with ${String(prior.torn)} torn bytes, file-start records ${String(result.torn)}`,
            };
            return true;
          }
        }
        first = false;
        lastFile = name;
        lastLine = line.number;
        if (result.seq === options.expectHead?.seq) atHead = checker.prevHash;
        return false;
      };
      for await (const batch of fileLineBatches(path, tail)) {
        // One secure-memory session per batch: two mprotect calls per read, not per line.
        const stop = mac === null ? batch.some(handle) : mac.session(() => batch.some(handle));
        if (stop) break outer;
      }
      previousFile = { name, torn: tail.bytes };
      if (tail.bytes > 0 && path === paths.at(-1))
        torn = { file: name, offset: tail.offset, bytes: tail.bytes };
    }
    if (problem === null && options.expectHead !== undefined) {
      const head =
        checker.last === null
          ? { seq: 0, hash: ZERO_HASH }
          : { seq: checker.last.seq, hash: checker.prevHash ?? ZERO_HASH };
      const held = options.expectHead.seq === 0 || atHead === options.expectHead.hash;
      if (!held) {
        problem = {
          file: lastFile || (files.at(-1) ?? fileName),
          line: lastLine,
          seq: checker.last?.seq ?? null,
          kind: 'head-mismatch',
          message:
            atHead === null
              ? `the log ends at seq ${String(head.seq)}, the service's head is seq ${String(options.expectHead.seq)}: records were removed after the last one shown`
              : `the record at seq ${String(options.expectHead.seq)} is not the one the service wrote: records were changed`,
        };
      }
    }
    return {
      ok: problem === null,
      records: checker.records,
      files,
      macChecked: mac !== null,
      lastSealedSeq: checker.lastSealedSeq,
      unsealed: checker.unsealed,
      head: checker.last === null ? null : { seq: checker.last.seq, hash: checker.prevHash ?? ZERO_HASH },
      torn,
      firstProblem: problem,
    };
  });
}

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
