// SPDX-License-Identifier: AGPL-3.0-only
import { SecretBuf } from '@cora/memstore';
import { DEFAULT_FILE_NAME, fileLines, logPaths } from './internal/files.ts';
import { MacKey } from './internal/mac.ts';
import { parseLine } from './internal/schema.ts';
import type { AuditEventType, AuditRecord } from './types.ts';

/** One record found by {@link findLastRecords}. */
export interface FoundRecord {
  readonly record: AuditRecord;
  /** Whether its MAC verifies: null when it has none or no key was given. */
  readonly macValid: boolean | null;
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
 * @throws AuditError `UNSAFE_FILE` when a log file is a symlink.
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
      const inFile: FoundRecord[] = [];
      for await (const line of fileLines(path, { offset: 0, bytes: 0 })) {
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
        inFile.push({ record, macValid });
      }
      for (const item of inFile.reverse()) {
        found.push(item);
        if (item.record.mac !== null) return found;
      }
    }
    return found;
  } finally {
    mac?.wipe();
  }
}
