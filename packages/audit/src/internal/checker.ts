// SPDX-License-Identifier: AGPL-3.0-only
// The streaming chain and MAC checker behind verifyLog and verifyExport: one rule for what a
// valid next record is, wherever the records come from.
import { SecretBuf } from '@cora/memstore';
import { MacKey, sha256Hex, ZERO_HASH } from './mac.ts';
import { parseLine } from './schema.ts';
import type { AuditRecord, VerifyProblemKind } from '../types.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function parseText(bytes: Uint8Array): ReturnType<typeof parseLine> | null {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return null;
  }
  return parseLine(text);
}

export interface LineProblem {
  readonly kind: VerifyProblemKind;
  readonly message: string;
  readonly seq: number | null;
}

/** Streaming chain/MAC checker shared by {@link verifyLog} and {@link verifyExport}. */
export class Checker {
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

export function withMac<T>(key: SecretBuf | undefined, fn: (mac: MacKey | null) => Promise<T>): Promise<T> {
  if (key !== undefined && !(key instanceof SecretBuf)) throw new TypeError('key must be a SecretBuf');
  const mac = key === undefined ? null : new MacKey(key);
  return fn(mac).finally(() => mac?.wipe());
}
