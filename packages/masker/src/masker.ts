// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The streaming output masker (architecture §8, promise G10): the bytes a child writes to stdout or
 * stderr go through one masker per stream, which replaces every injected value of 6+ bytes and
 * its common encodings with `<concealed:NAME>` before anything reaches the caller.
 * Past 500 lines on purpose: the scan, the hold-back and the idle flush share one buffer and
 * its invariants.
 *
 * Works on bytes only; no value, encoded form or output chunk ever becomes a JS string (G3).
 *
 * Forms covered (internal/encodings.ts has the exact list), per value:
 * - raw bytes (case-sensitive); hex in any letter case;
 * - base64 and base64url (RFC 4648 §4, §5): the encoding of the value alone, padded and
 *   unpadded, and — for a value embedded in a larger base64 stream — the "core" of each of the
 *   three byte alignments: the characters whose 6 bits all come from the value, up to the last
 *   whole 4-character group. Base32 (§6, any letter case), the same way with its five
 *   alignments (the core ends at the last whole 8-character group);
 * - fragments: any run of MASKER_FRAGMENT_BYTES (8) consecutive bytes of the value, raw or as
 *   hex digits (any letter case), wherever it sits (issue 13 §4);
 * - percent-encoding (RFC 3986 §2.1), any letter case: RFC 3986 unreserved kept,
 *   encodeURIComponent's, encodeURI's and Python quote()'s sets kept, form encoding (space as
 *   `+`, `*` and `~` each kept or encoded), and every byte encoded;
 * - JSON string escaping (RFC 8259 §7): `\"` `\\` `\b` `\f` `\n` `\r` `\t` and `\u00XX` for
 *   other control bytes, with `/` plain or `\/`, hex lower or upper, non-ASCII kept as UTF-8 or
 *   (Python's ensure_ascii) escaped as `\uXXXX` code points; Go's encoding/json escapes
 *   (`<` `>` `&` U+2028 U+2029 as `\uXXXX`);
 * - `\uXXXX` for every byte, and for every code point of a UTF-8 value (surrogate pairs above
 *   U+FFFF), any letter case.
 *
 * "Any letter case" (hex, base32, percent, `\u`: the forms whose letters are digits or escape
 * letters) also covers mixed case within one form, at no extra cost: those patterns are stored
 * folded and compared against folded text. The raw value and base64 stay case-sensitive.
 *
 * Not covered (documented G10 limits): values under `minLength` (6) bytes; JSON `\u00XX`
 * escapes that mix cases within one value; a value embedded in a base64/base32 stream leaves a few
 * characters at each end unreplaced (at most 2 + 3 for base64, 4 + 7 for base32: those that
 * mix its bits with neighbouring bytes or belong to its last partial group) — they leak a few
 * bits of the value's first and last bytes; encodings of encodings (base64 of hex),
 * compression, encryption, or any transformation not listed; line-wrapped base64 (MIME, PEM)
 * when a line break falls inside the value's form; a value that the child splits with other
 * bytes in between (pieces of 8+ bytes are still concealed); runs of up to 7 bytes; forms other
 * than raw and hex written in pieces around an idle flush. Masking is a safety net for honest tools, not a barrier against a child
 * that wants to leak its secret (architecture §1 out of scope).
 *
 * Matching: every position is tried, the longest form starting there is taken, and forms that
 * overlap are merged — every byte covered by any form is concealed, never only the leftmost
 * match. A merged span prints `<concealed:A>` once per run of the same secret, so two
 * overlapping different secrets give `<concealed:A><concealed:B>`. Two adjacent,
 * non-overlapping occurrences give two tags.
 *
 * Hold-back: after each push, the last (longest form − 1) bytes are kept (in secure memory),
 * because a form starting there may continue in the next chunk; everything before them is
 * returned at once. `flush()` at the end of the stream decides and returns the rest.
 * `flushIdle()` (the stream went quiet) decides it too but keeps the longest tail that is a
 * piece of a value's raw bytes (≤ 7) or hex form (≤ 15 digits), so that no 8 bytes of a value
 * written in pieces around a pause are ever emitted unconcealed (see holdTail). Memory is
 * bounded by the longest form (6 × the longest value for `\u` forms) plus one 64 KiB slice.
 *
 * Secure memory: the pattern table (every form of every value and a sampled 4-gram index over
 * them) and the working buffer are one SecretBuf region (internal/pattern-table.ts explains
 * why even the index is secret). `push` opens it once, scans with typed-array views made inside
 * that single `use()`, and the pages are no-access again before it returns. The caller's chunk
 * is copied into the working buffer and never kept: wipe it after `push` if it held secrets.
 * The returned arrays are ordinary memory holding masked output only.
 */
import { MemstoreError, SecretBuf, isValidSecretName } from '@cora/memstore';
import { MaskerError } from './errors.ts';
import { maskerInternals } from './internal/masker-internals.ts';
import {
  ENTRY_INTS,
  FLAG_CASELESS,
  FLAG_HEX_SOURCE,
  FLAG_RAW_SOURCE,
  FLAG_SECRET_SHIFT,
  FRAGMENT_BYTES,
  GRAM_FOLD,
  HASH_MULTIPLIER,
  MIN_PATTERN_BYTES,
  RECORD_INTS,
  STRIDE,
  buildPatternTable,
  type PatternTable,
} from './internal/pattern-table.ts';

/** Values shorter than this are not masked (G10: "every injected value of 6+ bytes"). */
export const MASKER_MIN_LENGTH = 6;

/**
 * Any run of this many consecutive bytes of a value (raw, or as hex digits in any letter case)
 * is concealed on its own, wherever it sits in the output (issue 13 §4).
 */
export const MASKER_FRAGMENT_BYTES = FRAGMENT_BYTES;

/** One injected secret: its name (shown in the tag) and its value. */
export interface MaskerSecret {
  /** A valid secret name (memstore's rule); shown in the tag, so it must not hold a value. */
  readonly name: string;
  /** The value; read while the masker is created (the masker keeps its own copies). */
  readonly value: SecretBuf;
}

/** Options of {@link createMasker}. */
export interface MaskerOptions {
  /**
   * Shortest value masked, in bytes (default and minimum {@link MASKER_MIN_LENGTH}). Shorter
   * values are left alone: masking 1-5 byte values would conceal common words and numbers.
   */
  readonly minLength?: number;
}

/** A streaming masker for one output stream; see {@link createMasker}. */
export interface Masker {
  /**
   * Mask the next chunk of the stream.
   * @param chunk - bytes the child wrote; copied, never kept (the caller may wipe it)
   * @returns the bytes that are safe to emit now (maybe empty; the rest is held back)
   * @throws TypeError when `chunk` is not a Uint8Array.
   * @throws MaskerError `DISPOSED` after {@link Masker.dispose}.
   */
  push(chunk: Uint8Array): Uint8Array;
  /**
   * End of stream: mask and return what was held back, then wipe the hold-back. The masker can
   * then start a new stream.
   * @returns the remaining masked bytes
   * @throws MaskerError `DISPOSED` after {@link Masker.dispose}.
   */
  flush(): Uint8Array;
  /**
   * The stream went quiet (the Cora service calls this after 150 ms without output): mask and
   * return everything held back except the longest tail that is a piece of a value — up to
   * {@link MASKER_FRAGMENT_BYTES} − 1 bytes of its raw bytes, or 2 × that − 1 hex digits. That
   * tail stays held until the next `push` or `flush`, so a value written in pieces around a
   * pause is still concealed. Output that is no piece of a value (a prompt) comes out whole.
   * @returns the masked bytes that are safe to emit now
   * @throws MaskerError `DISPOSED` after {@link Masker.dispose}.
   */
  flushIdle(): Uint8Array;
  /** Wipe every internal copy (patterns, index, hold-back). Idempotent. Unflushed bytes are lost. */
  dispose(): void;
}

const TAG_OPEN = asciiBytes('<concealed:');
const TAG_CLOSE = 0x3e; // '>'

function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * Create a masker for one output stream (architecture §8, G10). Builds the pattern table once: every
 * covered form of every value of at least `minLength` bytes, in secure memory.
 *
 * @param secrets - the injected secrets; names appear in `<concealed:NAME>` tags. The masker
 *   reads the values while it is created and keeps its own copies: the caller keeps ownership.
 * @param options - see {@link MaskerOptions}
 * @returns a masker; call `flush()` at the end of the stream and `dispose()` when done
 * @throws TypeError when `secrets` is not an array of `{ name, value: SecretBuf }`.
 * @throws RangeError when a name is not a valid secret name (architecture §4), or `minLength` is not
 *   an integer ≥ 6, or the forms need more than 256 MiB of secure memory.
 * @throws MemstoreError `WIPED` when a value was already wiped.
 * @example
 * ```ts
 * import { spawn } from 'node:child_process';
 *
 * const child = spawn('env', [], { stdio: ['ignore', 'pipe', 'inherit'] });
 * const masker = createMasker([{ name: 'API_KEY', value }]);
 * try {
 *   for await (const chunk of child.stdout) process.stdout.write(masker.push(chunk as Uint8Array));
 *   process.stdout.write(masker.flush());
 * } finally {
 *   masker.dispose();
 * }
 * ```
 */
export function createMasker(secrets: readonly MaskerSecret[], options: MaskerOptions = {}): Masker {
  if (!Array.isArray(secrets)) throw new TypeError('secrets must be an array of { name, value }');
  const minLength = options.minLength ?? MASKER_MIN_LENGTH;
  if (!Number.isSafeInteger(minLength) || minLength < MASKER_MIN_LENGTH) {
    throw new RangeError(
      `minLength must be an integer of at least ${MASKER_MIN_LENGTH}, got ${String(minLength)}`,
    );
  }
  const values: SecretBuf[] = [];
  const tags: Uint8Array[] = [];
  const list: readonly unknown[] = secrets;
  list.forEach((entry, i) => {
    const secret = checkSecret(entry, i);
    if (secret.value.length < minLength) return; // G10 limit: too short to mask
    values.push(secret.value);
    const tag = new Uint8Array(TAG_OPEN.length + secret.name.length + 1);
    tag.set(TAG_OPEN);
    tag.set(asciiBytes(secret.name), TAG_OPEN.length); // names are ASCII (architecture §4)
    tag[tag.length - 1] = TAG_CLOSE;
    tags.push(tag);
  });
  return new StreamMasker(buildPatternTable(values), tags);
}

function checkSecret(entry: unknown, i: number): MaskerSecret {
  if (typeof entry !== 'object' || entry === null) {
    throw new TypeError(`secrets[${i}] must be { name: string, value: SecretBuf }`);
  }
  const { name, value } = entry as { name?: unknown; value?: unknown };
  if (typeof name !== 'string' || !(value instanceof SecretBuf)) {
    throw new TypeError(`secrets[${i}] must be { name: string, value: SecretBuf }`);
  }
  if (!isValidSecretName(name)) throw new RangeError(`secrets[${i}].name is not a valid secret name`);
  if (value.wiped) throw new MemstoreError('WIPED', `secrets[${i}].value was wiped`);
  return { name, value };
}

/** A growable output buffer (masked bytes only: ordinary memory). */
class Output {
  bytes: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(Math.max(capacity, 64));
  }

  append(source: Uint8Array, start: number, end: number): void {
    if (end <= start) return;
    this.reserve(end - start);
    this.bytes.set(source.subarray(start, end), this.length);
    this.length += end - start;
  }

  reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  result(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

class StreamMasker implements Masker {
  readonly #table: PatternTable | undefined;
  readonly #tags: readonly Uint8Array[];
  #disposed = false;
  /** Bytes held in the work buffer (positions are relative to its start). */
  #held = 0;
  /** First held byte not yet emitted or concealed. */
  #emitFrom = 0;
  /** End of the last concealed span; a form starting before it extends that span. */
  #coverEnd = 0;
  /** Secret number of the last tag written in the current span. */
  #lastTag = -1;

  constructor(table: PatternTable | undefined, tags: readonly Uint8Array[]) {
    this.#table = table;
    this.#tags = tags;
    if (table !== undefined) maskerInternals.set(this, { buffers: [table.table, table.work] });
  }

  push(chunk: Uint8Array): Uint8Array {
    this.#checkLive();
    if (!(chunk instanceof Uint8Array)) throw new TypeError('chunk must be a Uint8Array');
    const pt = this.#table;
    if (pt === undefined) return chunk.slice();
    const out = new Output(chunk.length + 64);
    pt.table.use((mem) => {
      pt.work.use((work) => {
        const ints = new Int32Array(mem.buffer, mem.byteOffset, pt.intCount);
        const pat = mem.subarray(pt.intCount * 4);
        let taken = 0;
        while (taken < chunk.length) {
          const room = work.length - this.#held;
          const take = Math.min(room, chunk.length - taken);
          work.set(chunk.subarray(taken, taken + take), this.#held);
          this.#held += take;
          taken += take;
          this.#step(pt, ints, pat, work, out, 'push');
        }
      });
    });
    return out.result();
  }

  flush(): Uint8Array {
    const out = this.#decide('end');
    this.#held = 0;
    this.#emitFrom = 0;
    this.#coverEnd = 0;
    this.#lastTag = -1;
    return out;
  }

  flushIdle(): Uint8Array {
    return this.#decide('idle');
  }

  /** Decide the held bytes at the end of the stream or at a pause; zero the buffer at the end. */
  #decide(mode: 'end' | 'idle'): Uint8Array {
    this.#checkLive();
    const pt = this.#table;
    if (pt === undefined) return new Uint8Array(0);
    const out = new Output(this.#held + 64);
    pt.table.use((mem) => {
      pt.work.use((work) => {
        const ints = new Int32Array(mem.buffer, mem.byteOffset, pt.intCount);
        this.#step(pt, ints, mem.subarray(pt.intCount * 4), work, out, mode);
        if (mode === 'end') work.fill(0);
      });
    });
    return out.result();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#held = 0;
    this.#table?.table.wipe();
    this.#table?.work.wipe();
  }

  #checkLive(): void {
    if (this.#disposed) throw new MaskerError('DISPOSED', 'the output masker was disposed');
  }

  /**
   * Decide every position where a form can be checked completely (all of them at the `end` or
   * when `idle`), write the output, then move the undecided tail to the front of the work
   * buffer and zero the rest. When `idle`, the tail kept is the one {@link holdTail} picks.
   * Runs inside the single `use()` of a push or flush.
   */
  #step(
    pt: PatternTable,
    ints: Int32Array,
    pat: Uint8Array,
    data: Uint8Array,
    out: Output,
    mode: 'push' | 'end' | 'idle',
  ): void {
    const n = this.#held;
    // A form of length L starting at i is decidable when i + L <= n for the longest L.
    let limit = mode !== 'push' ? n : Math.max(0, n - (pt.maxLength - 1));
    // Starts past n - MIN_PATTERN_BYTES cannot begin any form.
    const scanEnd = Math.min(limit, n - MIN_PATTERN_BYTES + 1);
    let emitFrom = this.#emitFrom;
    let coverEnd = this.#coverEnd;
    let lastTag = this.#lastTag;
    // Sample every STRIDE-th position j (internal/pattern-table.ts): a form starting at i is
    // seen at the one j in [i, i + STRIDE) on the grid, through its 4-gram at offset j - i.
    // j + 4 <= n holds because j <= i + STRIDE - 1 and i + MIN_PATTERN_BYTES <= n.
    const jEnd = scanEnd + STRIDE - 1;
    const bitmapShift = pt.bitmapShift;
    const headShift = pt.headShift;
    const headsAt = pt.headsAt;
    const entriesAt = pt.entriesAt;
    const recordsAt = pt.recordsAt;
    for (
      let j = nextCandidate(data, ints, 0, jEnd, bitmapShift);
      j < jEnd;
      j = nextCandidate(data, ints, j + STRIDE, jEnd, bitmapShift)
    ) {
      const word =
        (data[j] as number) |
        ((data[j + 1] as number) << 8) |
        ((data[j + 2] as number) << 16) |
        ((data[j + 3] as number) << 24) |
        GRAM_FOLD;
      const bit = Math.imul(word, HASH_MULTIPLIER) >>> bitmapShift;
      // Longest match per candidate start j - off (off < STRIDE = 3), found in any order.
      let len0 = 0;
      let len1 = 0;
      let len2 = 0;
      let sec0 = 0;
      let sec1 = 0;
      let sec2 = 0;
      let next = ints[headsAt + (bit >>> headShift)] as number;
      while (next !== 0) {
        const e = entriesAt + (next - 1) * ENTRY_INTS;
        next = ints[e] as number;
        if (ints[e + 1] !== word) continue;
        const packed = ints[e + 2] as number;
        const off = packed & 3;
        const i = j - off;
        if (i < 0 || i >= scanEnd) continue;
        const r = recordsAt + (packed >>> 2) * RECORD_INTS;
        const length = ints[r + 1] as number;
        if (i + length > n) continue;
        if (length <= (off === 0 ? len0 : off === 1 ? len1 : len2)) continue;
        const offset = ints[r] as number;
        const tagged = ints[r + 2] as number;
        let k = 0;
        if ((tagged & FLAG_CASELESS) === 0) {
          while (k < length && pat[offset + k] === data[i + k]) k += 1;
        } else {
          // Caseless: the pattern is stored folded; fold the text's A-Z as we go.
          for (; k < length; k += 1) {
            const d = data[i + k] as number;
            if (pat[offset + k] !== (d - 0x41 < 26 && d >= 0x41 ? d | 0x20 : d)) break;
          }
        }
        if (k !== length) continue;
        const secret = tagged >>> FLAG_SECRET_SHIFT;
        if (off === 0) {
          len0 = length;
          sec0 = secret;
        } else if (off === 1) {
          len1 = length;
          sec1 = secret;
        } else {
          len2 = length;
          sec2 = secret;
        }
      }
      // Apply in start order (j - 2, j - 1, j): leftmost first, overlapping spans merged.
      for (let off = STRIDE - 1; off >= 0; off -= 1) {
        const length = off === 0 ? len0 : off === 1 ? len1 : len2;
        if (length === 0) continue;
        const secret = off === 0 ? sec0 : off === 1 ? sec1 : sec2;
        const i = j - off;
        const end = i + length;
        if (i >= coverEnd) {
          out.append(data, emitFrom, i);
          this.#writeTag(out, secret);
          lastTag = secret;
          coverEnd = end;
          emitFrom = end;
        } else if (end > coverEnd) {
          // Overlaps the span being concealed: extend it (never reveal its tail).
          if (secret !== lastTag) this.#writeTag(out, secret);
          lastTag = secret;
          coverEnd = end;
          emitFrom = end;
        }
      }
    }
    // Idle: keep the longest unconcealed tail that could be the start of a fragment or value.
    if (mode === 'idle') limit = n - holdTail(pt, ints, pat, data, Math.max(emitFrom, 0), n);
    // Bytes before `limit` that no form covers are decided: emit them.
    if (emitFrom < limit) {
      out.append(data, emitFrom, limit);
      emitFrom = limit;
    }
    // Keep the undecided tail [limit, n) at the front; zero everything after it.
    if (limit > 0) {
      data.copyWithin(0, limit, n);
      data.fill(0, n - limit, n);
    }
    this.#held = n - limit;
    this.#emitFrom = emitFrom - limit;
    this.#coverEnd = coverEnd - limit;
    this.#lastTag = lastTag;
  }

  #writeTag(out: Output, secret: number): void {
    const tag = this.#tags[secret];
    if (tag !== undefined) out.append(tag, 0, tag.length);
  }
}

/**
 * The hot loop, kept tiny so the JIT compiles it tight: the first grid position j (stepping by
 * STRIDE from `from`) whose 4-gram's bitmap bit is set, or `end`.
 */
function nextCandidate(
  data: Uint8Array,
  bitmap: Int32Array,
  from: number,
  end: number,
  shift: number,
): number {
  for (let j = from; j < end; j += STRIDE) {
    const word =
      (data[j] as number) |
      ((data[j + 1] as number) << 8) |
      ((data[j + 2] as number) << 16) |
      ((data[j + 3] as number) << 24) |
      GRAM_FOLD;
    const bit = Math.imul(word, HASH_MULTIPLIER) >>> shift;
    if (((bitmap[bit >>> 5] as number) & (1 << (bit & 31))) !== 0) return j;
  }
  return end;
}

/**
 * The idle flush's hold-back (issue 13 §4): the length of the longest tail of `data[from, n)`
 * that occurs in some value's raw bytes (at most FRAGMENT_BYTES − 1 bytes) or in its hex form
 * (any letter case, at most 2 × FRAGMENT_BYTES − 1 digits). Emitting it could let the value's
 * next piece, written after the pause, show FRAGMENT_BYTES of it unconcealed; everything before
 * it cannot join a later byte into a fragment that was not already concealed.
 */
function holdTail(
  pt: PatternTable,
  ints: Int32Array,
  pat: Uint8Array,
  data: Uint8Array,
  from: number,
  n: number,
): number {
  let best = 0;
  for (let rec = 0; rec < pt.recordCount; rec += 1) {
    const r = pt.recordsAt + rec * RECORD_INTS;
    const flags = ints[r + 2] as number;
    if ((flags & (FLAG_RAW_SOURCE | FLAG_HEX_SOURCE)) === 0) continue;
    const cap = (flags & FLAG_HEX_SOURCE) !== 0 ? 2 * FRAGMENT_BYTES - 1 : FRAGMENT_BYTES - 1;
    const offset = ints[r] as number;
    const length = ints[r + 1] as number;
    const caseless = (flags & FLAG_CASELESS) !== 0;
    for (let t = Math.min(cap, n - from, length); t > best; t -= 1) {
      if (occursIn(pat, offset, length, data, n - t, t, caseless)) {
        best = t;
        break;
      }
    }
  }
  return best;
}

/** Whether `text[at, at + t)` occurs in `pat[offset, offset + length)` (text A-Z folded when caseless). */
function occursIn(
  pat: Uint8Array,
  offset: number,
  length: number,
  text: Uint8Array,
  at: number,
  t: number,
  caseless: boolean,
): boolean {
  for (let p = offset; p + t <= offset + length; p += 1) {
    let k = 0;
    for (; k < t; k += 1) {
      const d = text[at + k] as number;
      if (pat[p + k] !== (caseless && d - 0x41 < 26 && d >= 0x41 ? d | 0x20 : d)) break;
    }
    if (k === t) return true;
  }
  return false;
}
