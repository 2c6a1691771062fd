// SPDX-License-Identifier: AGPL-3.0-only
// Reading and verifying the audit log (architecture §10, G7); exporting is in export.ts. Files are streamed line
// by line; see the README's "What verify detects" for exactly what a green verify means.
import { basename } from 'node:path';
import type { SecretBuf } from '@cora/memstore';
import { AuditError } from './errors.ts';
import { DEFAULT_FILE_NAME, fileLineBatches, fileLines, logPaths, type Line } from './internal/files.ts';
import { Checker, parseText, withMac } from './internal/checker.ts';
import { ZERO_HASH } from './internal/mac.ts';
import type { AuditRecord, VerifyProblemKind } from './types.ts';

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
