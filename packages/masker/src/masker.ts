// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The streaming output masker (architecture §8, promise G10): the bytes a child writes to stdout or
 * stderr go through one masker per stream, which replaces every injected value of 6+ bytes and
 * its common encodings with `<concealed:NAME>` before anything reaches the caller.
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
 * written in pieces around a pause are ever emitted unconcealed (see holdTail). The held bytes
 * are bounded by the longest form (6 × the longest value for `\u` forms).
 *
 * Secure memory: the filter and the working buffer (the hold-back) are one SecretBuf
 * region, the table (every form of every value, its hash chains) another (internal/pattern-
 * table.ts explains the split and why even the filter is secret). `push` opens the first once
 * and the second only when the filter found a candidate (almost only real matches) or at a
 * pause; the typed-array views over them are made inside those `use()` calls and the pages are
 * no-access again before it returns. The caller's chunk is read in place and never kept (only
 * its first bytes are copied, next to the hold-back, and zeroed after): wipe it after `push` if
 * it held secrets. The returned arrays are ordinary memory holding masked output only, each
 * exactly its own bytes.
 */
import { MemstoreError, SecretBuf, isValidSecretName } from '@cora/memstore';
import { MaskerError } from './errors.ts';
import { maskerInternals } from './internal/masker-internals.ts';
import { FRAGMENT_BYTES, buildPatternTable, type PatternTable } from './internal/pattern-table.ts';
import { Found, holdTail, inRun, matchAt, nextCandidate } from './internal/scan.ts';

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
  return createMaskers(secrets, 1, options)[0] as Masker;
}

/** Most streams {@link createMaskers} builds for one table. */
export const MASKER_MAX_STREAMS = 16;

/**
 * Create `count` maskers for as many streams of the same secrets (a child's stdout and stderr,
 * the command recorded for the audit log), sharing one pattern table: the table is built once
 * (its build is most of what a masker costs to make: about 0.5 ms per value) and each stream
 * keeps its own hold-back. The table is wiped when the last of them is disposed.
 *
 * @param secrets - as for {@link createMasker}
 * @param count - how many streams, 1 to {@link MASKER_MAX_STREAMS}
 * @param options - as for {@link createMasker}
 * @returns `count` independent maskers; dispose each
 * @throws RangeError when `count` is not an integer from 1 to 16, and as {@link createMasker}.
 * @throws TypeError, MemstoreError as {@link createMasker}.
 * @example
 * ```ts
 * const [out, err] = createMaskers([{ name: 'API_KEY', value }], 2);
 * ```
 */
export function createMaskers(
  secrets: readonly MaskerSecret[],
  count: number,
  options: MaskerOptions = {},
): Masker[] {
  if (!Number.isSafeInteger(count) || count < 1 || count > MASKER_MAX_STREAMS) {
    throw new RangeError(`count must be an integer from 1 to ${MASKER_MAX_STREAMS}, got ${String(count)}`);
  }
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
  const table = buildPatternTable(values, count);
  const shared = { live: count };
  return Array.from({ length: count }, (_, i) => new StreamMasker(table, table?.works[i], tags, shared));
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

/**
 * What one step emits, in order: ranges of the stream and tags. Positions and secret numbers
 * only, which the output itself shows; the bytes are copied once the size is known.
 */
class Plan {
  readonly parts: number[] = [];
  size = 0;

  range(start: number, end: number): void {
    if (end <= start) return;
    this.parts.push(start, end);
    this.size += end - start;
  }

  tag(secret: number, length: number): void {
    this.parts.push(-1 - secret, 0);
    this.size += length;
  }
}

type Mode = 'push' | 'end' | 'idle';

class StreamMasker implements Masker {
  readonly #table: PatternTable | undefined;
  /** This stream's hold-back (the table's working buffer number i). */
  readonly #work: SecretBuf | undefined;
  readonly #tags: readonly Uint8Array[];
  /** Streams of the table not yet disposed: the last one wipes the table and the filter. */
  readonly #shared: { live: number };
  readonly #found = new Found();
  #disposed = false;
  /** Bytes held back in the work buffer (stream positions count from its start). */
  #held = 0;
  /** First stream position not yet emitted or concealed. */
  #emitFrom = 0;
  /** End of the last concealed span; a form starting before it extends that span. */
  #coverEnd = 0;
  /** Secret number of the last tag written in the current span. */
  #lastTag = -1;

  constructor(
    table: PatternTable | undefined,
    work: SecretBuf | undefined,
    tags: readonly Uint8Array[],
    shared: { live: number },
  ) {
    this.#table = table;
    this.#work = work;
    this.#tags = tags;
    this.#shared = shared;
    if (table !== undefined && work !== undefined) {
      maskerInternals.set(this, { buffers: [table.table, work], filter: table.filter });
    }
  }

  push(chunk: Uint8Array): Uint8Array {
    this.#checkLive();
    if (!(chunk instanceof Uint8Array)) throw new TypeError('chunk must be a Uint8Array');
    const pt = this.#table;
    // A copy, never a view (Buffer#slice is one): the caller wipes its chunk after push.
    if (pt === undefined) return new Uint8Array(chunk);
    if (chunk.length === 0) return new Uint8Array(0);
    // The chunk is read twice (scan, then copy out): memory another thread can write must not
    // change between the two, so it is copied first, and wiped after.
    if (!(chunk.buffer instanceof ArrayBuffer)) {
      const own = new Uint8Array(chunk);
      try {
        return this.#step(pt, own, 'push');
      } finally {
        own.fill(0);
      }
    }
    return this.#step(pt, chunk, 'push');
  }

  flush(): Uint8Array {
    this.#checkLive();
    const pt = this.#table;
    if (pt === undefined) return new Uint8Array(0);
    const out = this.#step(pt, undefined, 'end');
    this.#held = 0;
    this.#emitFrom = 0;
    this.#coverEnd = 0;
    this.#lastTag = -1;
    return out;
  }

  flushIdle(): Uint8Array {
    this.#checkLive();
    const pt = this.#table;
    if (pt === undefined) return new Uint8Array(0);
    return this.#step(pt, undefined, 'idle');
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#held = 0;
    this.#work?.wipe();
    this.#shared.live -= 1;
    if (this.#shared.live === 0) {
      this.#table?.table.wipe();
      this.#table?.filter.wipe();
    }
  }

  #checkLive(): void {
    if (this.#disposed) throw new MaskerError('DISPOSED', 'the output masker was disposed');
  }

  /**
   * Decide every start position where a form can be checked completely (all of them at the
   * `end` or when `idle`), return the output, and keep the undecided tail at the front of the
   * work buffer, zeroing the rest. When `idle`, the tail kept is the one {@link holdTail} picks.
   * The stream is the hold-back followed by `chunk`, read in place (never kept); the filter's
   * region is opened once, the table's only when there are candidates (or at a pause).
   */
  #step(pt: PatternTable, chunk: Uint8Array | undefined, mode: Mode): Uint8Array {
    if (this.#held === 0 && chunk === undefined) return new Uint8Array(0);
    const own = this.#work;
    if (own === undefined) throw new MaskerError('INTERNAL', 'a masker with a table has no working buffer');
    return pt.filter.use((bits) =>
      own.use((work) => {
        const held = this.#held;
        const n = held + (chunk?.length ?? 0);
        // The junction: the hold-back, then as much of the chunk as fits, so that forms
        // starting in the hold-back are checked on one contiguous buffer.
        const junctionEnd = Math.min(n, pt.junctionBytes);
        if (chunk !== undefined) work.set(chunk.subarray(0, junctionEnd - held), held);
        try {
          let limit = mode === 'push' ? Math.max(0, n - (pt.maxLength - 1)) : n;
          const plan = new Plan();
          this.#scan(pt, bits, work, chunk, n, limit, junctionEnd, plan);
          if (mode === 'idle') {
            // Keep the longest unconcealed tail that could be the start of a fragment or value.
            const from = Math.max(this.#emitFrom, 0);
            limit = n - pt.table.use((mem) => holdTail(pt, ...tableViews(pt, mem), work, from, n));
          }
          // Bytes before `limit` that no form covers are decided: emit them.
          if (this.#emitFrom < limit) {
            plan.range(this.#emitFrom, limit);
            this.#emitFrom = limit;
          }
          const out = this.#render(plan, work, chunk, held);
          // Keep the undecided tail [limit, n) at the front; zero everything after it.
          if (n <= junctionEnd) work.copyWithin(0, limit, n);
          else if (chunk !== undefined) work.set(chunk.subarray(limit - held), 0);
          work.fill(0, n - limit, mode === 'end' ? work.length : junctionEnd);
          this.#held = n - limit;
          this.#emitFrom -= limit;
          this.#coverEnd -= limit;
          return out;
        } catch (error) {
          work.fill(0, held, junctionEnd); // the chunk's bytes copied above
          throw error;
        }
      }),
    );
  }

  /**
   * The filter pass over every grid position that can start a decidable form, and the table
   * check of its candidates, applied in start order: a form starting at or after the concealed
   * span starts a new one, a form overlapping it extends it.
   */
  #scan(
    pt: PatternTable,
    bits: Uint8Array,
    work: Uint8Array,
    chunk: Uint8Array | undefined,
    n: number,
    limit: number,
    junctionEnd: number,
    plan: Plan,
  ): void {
    const step = pt.stride;
    const held = this.#held;
    // A form of at least step + 3 bytes starting at i is decidable when i < limit and fits by n.
    const scanEnd = Math.min(limit, n - step - 2);
    if (scanEnd <= 0) return;
    // A grid point j finds the starts j - step + 1 … j. Those before `split` are read from the
    // junction, the rest from the chunk in place (their starts are all in the chunk).
    const gridEnd = scanEnd + step - 1;
    const split = Math.ceil((held + step - 1) / step) * step;
    const filter = new Int32Array(bits.buffer, bits.byteOffset, bits.length >>> 2);
    const passes: readonly (readonly [DataView, number, number, number, number, number])[] = [
      // text, its base, first and end grid position, lowest and highest gram position
      [
        new DataView(work.buffer, work.byteOffset, junctionEnd),
        0,
        0,
        Math.min(gridEnd, split),
        0,
        junctionEnd - 4,
      ],
      ...(chunk === undefined || split >= gridEnd
        ? []
        : [
            [
              new DataView(chunk.buffer, chunk.byteOffset, chunk.length),
              held,
              split,
              gridEnd,
              held,
              n - 4,
            ] as const,
          ]),
    ];
    let pass = 0;
    let from = 0;
    /** The next grid position whose gram and its run pass the filter, or -1 when none is left. */
    const next = (): number => {
      for (; pass < passes.length; pass += 1, from = passes[pass]?.[2] ?? 0) {
        const [text, base, , to, lo, hi] = passes[pass] as (typeof passes)[number];
        while (from < to) {
          const j = nextCandidate(text, base, from, to, step, filter, pt.filterShift);
          from = j + step;
          if (j < to && inRun(text, base, j, lo, hi, step, filter, pt.filterShift)) return j;
        }
      }
      return -1;
    };
    let j = next();
    if (j < 0) return;
    // The table's region is opened once, at the first candidate, and checks the rest of them.
    pt.table.use((mem) => {
      const [ints, pat] = tableViews(pt, mem);
      for (; j >= 0; j = next()) {
        const inJunction = j < split || chunk === undefined;
        matchAt(pt, ints, pat, inJunction ? work : chunk, inJunction ? 0 : held, j, scanEnd, n, this.#found);
        this.#apply(j, step, plan);
      }
    });
  }

  /** Apply the matches found at grid position j in start order (j - step + 1 first). */
  #apply(j: number, step: number, plan: Plan): void {
    const found = this.#found;
    for (let off = step - 1; off >= 0; off -= 1) {
      const length = found.length[off] as number;
      if (length === 0) continue;
      const secret = found.secret[off] as number;
      const start = j - off;
      const end = start + length;
      if (start >= this.#coverEnd) {
        plan.range(this.#emitFrom, start);
        this.#tag(plan, secret);
      } else if (end > this.#coverEnd) {
        // Overlaps the span being concealed: extend it (never reveal its tail).
        if (secret !== this.#lastTag) this.#tag(plan, secret);
      } else {
        continue;
      }
      this.#lastTag = secret;
      this.#coverEnd = end;
      this.#emitFrom = end;
    }
  }

  #tag(plan: Plan, secret: number): void {
    plan.tag(secret, this.#tags[secret]?.length ?? 0);
  }

  /**
   * The planned output in one array of exactly its size (no spare bytes behind the view), every
   * byte of it written: stream positions before `held` come from the work buffer, the others
   * from the chunk.
   */
  #render(plan: Plan, work: Uint8Array, chunk: Uint8Array | undefined, held: number): Uint8Array {
    if (plan.size === 0) return new Uint8Array(0);
    // Not zero-filled first (a 64 KiB zero-fill costs as much as the scan): all of it is written.
    const out = new Uint8Array(Buffer.allocUnsafeSlow(plan.size).buffer, 0, plan.size);
    const parts = plan.parts;
    let at = 0;
    for (let k = 0; k < parts.length; k += 2) {
      const start = parts[k] as number;
      const end = parts[k + 1] as number;
      if (start < 0) {
        const tag = this.#tags[-1 - start] ?? new Uint8Array(0);
        out.set(tag, at);
        at += tag.length;
        continue;
      }
      if (start < held) {
        out.set(work.subarray(start, Math.min(end, held)), at);
        at += Math.min(end, held) - start;
      }
      if (end > held && chunk !== undefined) {
        out.set(chunk.subarray(Math.max(start, held) - held, end - held), at);
        at += end - Math.max(start, held);
      }
    }
    if (at !== plan.size) throw new MaskerError('INTERNAL', 'masker output size mismatch');
    return out;
  }
}

/** Typed views over the table region, made inside its `use()` (layout in pattern-table.ts). */
function tableViews(pt: PatternTable, mem: Uint8Array): [Int32Array, Uint8Array] {
  return [new Int32Array(mem.buffer, mem.byteOffset, pt.intCount), mem.subarray(pt.intCount * 4)];
}
