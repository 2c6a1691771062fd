// SPDX-License-Identifier: AGPL-3.0-only
import { SecretBuf } from '@cora/memstore';
import { DEFAULT_FILE_NAME, fileLines, logPaths } from './internal/files.ts';
import { MacKey, sha256Hex } from './internal/mac.ts';
import { parseLine } from './internal/schema.ts';
import type { AuditEventType, AuditRecord } from './types.ts';

/** The seq at the start of a canonical line and its prev hash near the end. */
const CHAIN_FIELDS = /^\{"v":1,"seq":(\d{1,16}),.*,"prev":"([0-9a-f]{64})","mac":(?:null|"[0-9a-f]{64}")\}$/s;

/** One record found by {@link findLastRecords}. */
export interface FoundRecord {
  readonly record: AuditRecord;
  /** Whether its MAC verifies: null when it has none or no key was given. */
  readonly macValid: boolean | null;
  /**
   * Whether every line from this record to the end of its file chains to the one before it
   * (prev hash and seq): false for a record copied in from elsewhere, or followed by an edit.
   */
  readonly chained: boolean;
}

/** Options of {@link findLastRecords}. */
export interface FindOptions {
  /** Current file's name; default `audit.jsonl`. */
  readonly fileName?: string;
  /** The audit key, to check the MACs of the records found (not kept). */
  readonly key?: SecretBuf;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The newest records of the given types, newest first, down to and including the newest one
 * that carries a MAC (records written while unlocked); older ones are not read. Files are read
 * newest first, so a log whose newest file holds such a record costs one file. Lines that are
 * not valid records are skipped here: this is a lookup, `verifyLog` is the check.
 *
 * @param dir - the log directory
 * @param types - the event types to look for
 * @param options - file name and the key to check MACs with
 * @returns the records found (empty when the log has none of these types)
 * @throws AuditError `UNSAFE_FILE` when a log file is a symlink or not a regular file.
 * @example
 * ```ts
 * const [newest] = await findLastRecords(dir, ['vault-write', 'vault-state']);
 * ```
 */
export async function findLastRecords(
  dir: string,
  types: readonly AuditEventType[],
  options: FindOptions = {},
): Promise<FoundRecord[]> {
  if (options.key !== undefined && !(options.key instanceof SecretBuf)) {
    throw new TypeError('options.key must be a SecretBuf');
  }
  const wanted = new Set<string>(types);
  const mac = options.key === undefined ? null : new MacKey(options.key);
  try {
    const found: FoundRecord[] = [];
    const paths = await logPaths(dir, options.fileName ?? DEFAULT_FILE_NAME);
    for (const path of paths.reverse()) {
      const inFile: { record: AuditRecord; macValid: boolean | null; index: number }[] = [];
      // The chain is checked on every line (cheaply: hash, seq and prev only), so a record
      // replayed from elsewhere or an edit after it is seen without a full verify.
      let lastHash: string | null = null;
      let lastSeq = 0;
      let lastBreak = -1;
      let index = 0;
      for await (const line of fileLines(path, { offset: 0, bytes: 0 })) {
        index += 1;
        const raw = Buffer.from(line.bytes.buffer, line.bytes.byteOffset, line.bytes.byteLength);
        const head = CHAIN_FIELDS.exec(raw.toString('latin1'));
        const seq = head === null ? NaN : Number(head[1]);
        if (lastHash !== null && (head === null || head[2] !== lastHash || seq !== lastSeq + 1))
          lastBreak = index;
        lastHash = sha256Hex(line.bytes);
        lastSeq = seq;
        let text: string;
        try {
          text = decoder.decode(line.bytes);
        } catch {
          continue;
        }
        // Cheap pre-filter before parsing: most lines are of other types.
        if (![...wanted].some((type) => text.includes(`"type":"${type}"`))) continue;
        const parsed = parseLine(text);
        if (!('record' in parsed) || !wanted.has(parsed.record.type)) continue;
        const { record, body } = parsed;
        const macValid =
          mac === null || record.mac === null ? null : mac.verify(Buffer.from(body, 'utf8'), record.mac);
        inFile.push({ record, macValid, index });
      }
      for (const { record, macValid, index: at } of inFile.reverse()) {
        found.push({ record, macValid, chained: at > lastBreak });
        if (record.mac !== null) return found;
      }
    }
    return found;
  } finally {
    mac?.wipe();
  }
}
