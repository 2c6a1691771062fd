// SPDX-License-Identifier: AGPL-3.0-only
import { MemstoreError } from './errors.ts';
import { checkName, checkNameBytes, asciiToString } from './internal/names.ts';
import { jsonObjectProblem } from './internal/json.ts';
import { BlockReader, BlockWriter } from './internal/reader.ts';
import { SecretBuf } from './secret-buf.ts';

/** One stored secret as it travels through the secrets block (architecture §4). */
export interface SecretEntry {
  /** `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes. Not secret. */
  readonly name: string;
  /** The value, at most {@link MAX_VALUE_BYTES} bytes. */
  readonly value: SecretBuf;
  /** Milliseconds since the Unix epoch. */
  readonly created: number;
  /** Milliseconds since the Unix epoch. */
  readonly updated: number;
}

/** The decrypted plaintext of a vault file (architecture §4), with its secret parts in secure memory. */
export interface SecretsBlock {
  readonly entries: readonly SecretEntry[];
  /** The audit log's MAC key: exactly {@link AUDIT_KEY_BYTES} bytes. */
  readonly auditKey: SecretBuf;
  /** UTF-8 JSON object `{"policy": …, "meta": …}`. Not secret: a plain copy. */
  readonly json: Uint8Array;
}

/** Largest value the block format carries (architecture §4: 64 KiB). */
export const MAX_VALUE_BYTES = 65_536;

/** Length of the audit MAC key in the block (architecture §4). */
export const AUDIT_KEY_BYTES = 32;

// Sizes of the fixed fields (architecture §4).
const COUNT_BYTES = 4;
const NAME_LEN_BYTES = 2;
const VALUE_LEN_BYTES = 4;
const TIME_BYTES = 8;
const KEY_LEN_BYTES = 2;
const JSON_LEN_BYTES = 4;
/** The smallest possible entry: empty name and value, two timestamps. */
const MIN_ENTRY_BYTES = NAME_LEN_BYTES + VALUE_LEN_BYTES + 2 * TIME_BYTES;
/** SecretBuf's allocation ceiling; a bigger block cannot live in secure memory. */
const MAX_BLOCK_BYTES = 256 * 1024 * 1024;
const MAX_U32 = 0xffff_ffff;

/**
 * Encode a secrets block (architecture §4, all integers little-endian) straight into one new
 * SecretBuf, in the order of `block.entries`. Nothing secret passes through a plain buffer.
 * The block is not consumed: the caller still owns (and wipes) its parts and the result.
 *
 * @param block - entries, audit key and JSON section to encode
 * @returns a new SecretBuf holding the plaintext block
 * @throws TypeError when `block` or one of its parts has the wrong type.
 * @throws MemstoreError `BLOCK_INVALID_NAME` for a name outside the architecture §4 rule,
 *   `BLOCK_DUPLICATE_NAME` when two entries share a name, `BLOCK_VALUE_TOO_LARGE` for a value
 *   over 64 KiB, `BLOCK_BAD_TIMESTAMP` for a time that is not an integer in
 *   [0, Number.MAX_SAFE_INTEGER], `BLOCK_BAD_AUDIT_KEY` when the key is not 32 bytes,
 *   `BLOCK_BAD_JSON` when `json` is not a UTF-8 JSON object, `WIPED` when a part was wiped.
 * @throws RangeError when the block would exceed 256 MiB.
 * @example
 * ```ts
 * const plaintext = encodeSecretsBlock({ entries: store.entries(), auditKey, json });
 * try { seal(plaintext); } finally { plaintext.wipe(); }
 * ```
 */
export function encodeSecretsBlock(block: SecretsBlock): SecretBuf {
  // Runtime guards: integrators may call from plain JavaScript.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  if (typeof block !== 'object' || block === null) throw new TypeError('block must be an object');
  const { entries, auditKey, json } = block;
  if (!isArray(entries)) throw new TypeError('block.entries must be an array');
  if (!(auditKey instanceof SecretBuf)) throw new TypeError('block.auditKey must be a SecretBuf');
  if (!(json instanceof Uint8Array)) throw new TypeError('block.json must be a Uint8Array');

  let size = COUNT_BYTES;
  const seen = new Set<string>();
  entries.forEach((entry: SecretEntry, i: number) => {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- untyped callers
    if (typeof entry !== 'object' || entry === null) {
      throw new TypeError(`block.entries[${String(i)}] must be an object`);
    }
    if (!checkName(entry.name)) {
      throw new MemstoreError('BLOCK_INVALID_NAME', `entry ${String(i)}: invalid secret name`);
    }
    if (seen.has(entry.name)) {
      throw new MemstoreError('BLOCK_DUPLICATE_NAME', `entry ${String(i)}: duplicate name ${entry.name}`);
    }
    seen.add(entry.name);
    if (!(entry.value instanceof SecretBuf)) {
      throw new TypeError(`block.entries[${String(i)}].value must be a SecretBuf`);
    }
    if (entry.value.wiped) {
      throw new MemstoreError('WIPED', `entry ${String(i)} (${entry.name}): value was wiped`);
    }
    if (entry.value.length > MAX_VALUE_BYTES) {
      throw new MemstoreError(
        'BLOCK_VALUE_TOO_LARGE',
        `entry ${String(i)} (${entry.name}): value is ${String(entry.value.length)} bytes, over ${String(MAX_VALUE_BYTES)}`,
      );
    }
    checkTime(entry.created, i, 'created');
    checkTime(entry.updated, i, 'updated');
    size += MIN_ENTRY_BYTES + entry.name.length + entry.value.length;
  });
  if (auditKey.wiped) throw new MemstoreError('WIPED', 'audit key was wiped');
  if (auditKey.length !== AUDIT_KEY_BYTES) {
    throw new MemstoreError(
      'BLOCK_BAD_AUDIT_KEY',
      `audit key must be ${String(AUDIT_KEY_BYTES)} bytes, got ${String(auditKey.length)}`,
    );
  }
  const jsonProblem = jsonObjectProblem(json);
  if (jsonProblem !== null) throw new MemstoreError('BLOCK_BAD_JSON', `JSON section ${jsonProblem}`);
  size += KEY_LEN_BYTES + AUDIT_KEY_BYTES + JSON_LEN_BYTES + json.length;
  if (size > MAX_BLOCK_BYTES || json.length > MAX_U32) {
    throw new RangeError(`block would be ${String(size)} bytes, over ${String(MAX_BLOCK_BYTES)}`);
  }

  const out = SecretBuf.alloc(size);
  try {
    out.use((dst) => {
      const w = new BlockWriter(dst);
      w.u32(entries.length);
      for (const entry of entries) {
        w.u16(entry.name.length);
        w.ascii(entry.name);
        w.u32(entry.value.length);
        const slot = w.view(entry.value.length);
        // Secure memory to secure memory: one memcpy, no intermediate copy.
        entry.value.use((src) => {
          slot.set(src);
        });
        w.u64(entry.created);
        w.u64(entry.updated);
      }
      w.u16(AUDIT_KEY_BYTES);
      const keySlot = w.view(AUDIT_KEY_BYTES);
      auditKey.use((src) => {
        keySlot.set(src);
      });
      w.u32(json.length);
      w.view(json.length).set(json);
      if (w.position !== size)
        throw new Error(`internal: wrote ${String(w.position)} of ${String(size)} bytes`);
    });
  } catch (error) {
    out.wipe();
    throw error;
  }
  return out;
}

/**
 * Decode a secrets block (architecture §4) and **consume** `plaintext`: it is wiped before this
 * returns or throws. Values and the audit key are copied from secure memory straight into new
 * SecretBufs; on a refusal every SecretBuf created so far is wiped too. Length fields are
 * checked against the bytes that remain before anything is allocated.
 *
 * @param plaintext - the decrypted block; wiped afterwards in every case
 * @returns the entries (in block order), the audit key and a plain copy of the JSON section;
 *   the caller owns them (see {@link wipeSecretsBlock})
 * @throws TypeError when `plaintext` is not a SecretBuf.
 * @throws MemstoreError `BLOCK_TRUNCATED` when a field or length runs past the end,
 *   `BLOCK_TRAILING_BYTES` when bytes follow the JSON section, `BLOCK_INVALID_NAME` for a
 *   name outside the architecture §4 rule (including invalid UTF-8), `BLOCK_DUPLICATE_NAME`,
 *   `BLOCK_VALUE_TOO_LARGE` for a value over 64 KiB, `BLOCK_BAD_TIMESTAMP` for a time over
 *   Number.MAX_SAFE_INTEGER, `BLOCK_BAD_AUDIT_KEY` when k ≠ 32, `BLOCK_BAD_JSON` when the
 *   JSON section is not a UTF-8 JSON object, `WIPED` when `plaintext` was already wiped.
 * @example
 * ```ts
 * const block = decodeSecretsBlock(plaintext); // plaintext.wiped === true from here on
 * try { load(block); } finally { wipeSecretsBlock(block); }
 * ```
 */
export function decodeSecretsBlock(plaintext: SecretBuf): SecretsBlock {
  if (!(plaintext instanceof SecretBuf)) throw new TypeError('plaintext must be a SecretBuf');
  const made: SecretBuf[] = [];
  try {
    return plaintext.use((bytes) => parseBlock(bytes, made));
  } catch (error) {
    for (const buf of made) buf.wipe();
    throw error;
  } finally {
    plaintext.wipe();
  }
}

/**
 * Wipe every secret part of a block: each entry's value and the audit key. Idempotent.
 *
 * @param block - a block from {@link decodeSecretsBlock} (or one built for encoding)
 * @throws TypeError when `block` is not an object with an `entries` array.
 * @example
 * ```ts
 * wipeSecretsBlock(block);
 * ```
 */
export function wipeSecretsBlock(block: SecretsBlock): void {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- untyped callers
  if (typeof block !== 'object' || block === null || !isArray(block.entries)) {
    throw new TypeError('block must be a SecretsBlock');
  }
  for (const entry of block.entries) {
    if (entry.value instanceof SecretBuf) entry.value.wipe();
  }
  if (block.auditKey instanceof SecretBuf) block.auditKey.wipe();
}

/** Array.isArray without widening a readonly array to any[]. */
function isArray(value: readonly SecretEntry[]): boolean {
  return Array.isArray(value);
}

function checkTime(value: number, index: number, field: 'created' | 'updated'): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new MemstoreError(
      'BLOCK_BAD_TIMESTAMP',
      `entry ${String(index)}: ${field} must be an integer from 0 to ${String(Number.MAX_SAFE_INTEGER)}`,
    );
  }
}

function readTime(r: BlockReader, index: number, field: 'created' | 'updated'): number {
  const raw = r.u64(`entry ${String(index)} ${field}`);
  if (raw > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new MemstoreError(
      'BLOCK_BAD_TIMESTAMP',
      `entry ${String(index)}: ${field} is over Number.MAX_SAFE_INTEGER`,
    );
  }
  return Number(raw);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Parse inside plaintext.use(); every SecretBuf made is pushed to `made` before it is filled. */
function parseBlock(bytes: Uint8Array, made: SecretBuf[]): SecretsBlock {
  const r = new BlockReader(bytes);
  const count = r.u32('entry count');
  // A count the remaining bytes cannot hold is refused before the loop, so a forged count
  // costs nothing proportional to its claim.
  if (count > Math.floor(r.remaining / MIN_ENTRY_BYTES)) {
    throw new MemstoreError(
      'BLOCK_TRUNCATED',
      `secrets block truncated: ${String(count)} entries claimed, at most ${String(Math.floor(r.remaining / MIN_ENTRY_BYTES))} fit`,
    );
  }
  // First pass: validate everything and remember where each value sits; values are copied
  // below in one go, into one secure region (see SecretBuf.allocMany).
  const parsed: { name: string; src: Uint8Array; created: number; updated: number }[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const nameLen = r.u16(`entry ${String(i)} name length`);
    const nameBytes = r.take(nameLen, `entry ${String(i)} name`);
    if (!checkNameBytes(nameBytes)) {
      // Names are not secret; only the reason is reported, never the bytes.
      const why = isUtf8(nameBytes)
        ? 'does not match [A-Za-z_][A-Za-z0-9_]* (1..128 bytes)'
        : 'is not valid UTF-8';
      throw new MemstoreError('BLOCK_INVALID_NAME', `entry ${String(i)}: name ${why}`);
    }
    const name = asciiToString(nameBytes);
    if (seen.has(name)) {
      throw new MemstoreError('BLOCK_DUPLICATE_NAME', `entry ${String(i)}: duplicate name ${name}`);
    }
    seen.add(name);
    const valueLen = r.u32(`entry ${String(i)} value length`);
    if (valueLen > MAX_VALUE_BYTES) {
      throw new MemstoreError(
        'BLOCK_VALUE_TOO_LARGE',
        `entry ${String(i)} (${name}): value is ${String(valueLen)} bytes, over ${String(MAX_VALUE_BYTES)}`,
      );
    }
    const src = r.take(valueLen, `entry ${String(i)} value`);
    const created = readTime(r, i, 'created');
    const updated = readTime(r, i, 'updated');
    parsed.push({ name, src, created, updated });
  }
  const keyLen = r.u16('audit key length');
  if (keyLen !== AUDIT_KEY_BYTES) {
    throw new MemstoreError(
      'BLOCK_BAD_AUDIT_KEY',
      `audit key must be ${String(AUDIT_KEY_BYTES)} bytes, block says ${String(keyLen)}`,
    );
  }
  const keySrc = r.take(keyLen, 'audit key');
  const jsonLen = r.u32('JSON length');
  const jsonView = r.take(jsonLen, 'JSON section');
  if (r.remaining !== 0) {
    throw new MemstoreError(
      'BLOCK_TRAILING_BYTES',
      `secrets block has ${String(r.remaining)} bytes after the JSON section`,
    );
  }
  const jsonProblem = jsonObjectProblem(jsonView);
  if (jsonProblem !== null) throw new MemstoreError('BLOCK_BAD_JSON', `JSON section ${jsonProblem}`);
  const values = SecretBuf.allocMany(
    parsed.map((p) => p.src.byteLength),
    (views) => {
      views.forEach((view, i) => {
        view.set((parsed[i] as (typeof parsed)[number]).src);
      });
    },
  );
  made.push(...values);
  const entries: SecretEntry[] = parsed.map((p, i) =>
    Object.freeze({ name: p.name, value: values[i] as SecretBuf, created: p.created, updated: p.updated }),
  );
  // The audit key gets its own region: using a secret never opens the key's pages.
  const auditKey = SecretBuf.from(keySrc);
  made.push(auditKey);
  // `new Uint8Array(view)` copies; Buffer#slice would only alias the secure memory.
  const json = new Uint8Array(jsonView);
  return Object.freeze({ entries: Object.freeze(entries), auditKey, json });
}
