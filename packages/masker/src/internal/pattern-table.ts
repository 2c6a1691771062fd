// SPDX-License-Identifier: AGPL-3.0-only
import { SecretBuf } from '@cora/memstore';
import { MaskerError } from '../errors.ts';
import { FORMS } from './encodings.ts';

/**
 * The masker's pattern table (architecture §8, G10), kept entirely in ONE secure region.
 *
 * Why not an Aho–Corasick automaton in normal memory: its goto table spells out every pattern
 * byte by byte, so it is as secret as the values. And why not any prefix index in normal
 * memory: even a bitmap of 4-gram hashes leaks bits of every form of every value. So
 * everything derived from a value lives in the SecretBuf `table`:
 *
 *   Int32 bitmap[2^bitmapBits / 32]  one bit per 4-gram hash: "some entry may start here"
 *   Int32 heads[2^headBits]          hash bucket → 1 + first entry, or 0
 *   Int32 entries[entryCount * 3]    next (1 + entry, or 0), 4-gram, record * 4 + offset in pattern
 *   Int32 records[count * 3]         byte offset of the pattern, its length, flags (below)
 *   bytes[totalBytes]                the patterns themselves, back to back
 *
 * A record's flags are `secret << FLAG_SECRET_SHIFT | FLAG_HEX_SOURCE | FLAG_RAW_SOURCE |
 * FLAG_CASELESS`. The two source bits mark the pattern holding the value's raw bytes or its hex
 * form: fragments point into them and the idle flush's hold-back looks them up (masker.ts).
 *
 * Fragments: every run of FRAGMENT_BYTES (8) consecutive bytes of a value of at least 8 bytes,
 * raw or hex-encoded (16 digits, at a byte boundary, any letter case), is a pattern of its own.
 * Its record points into the value's raw or hex pattern (no extra pattern bytes); a longer run
 * is several overlapping fragments, which the scanner merges into one concealed span.
 *
 * Scanning (a sampled q-gram filter, as in Wu–Manber): every pattern is at least 6 bytes, so
 * each occurrence contains the 4-grams at its offsets 0, 1 and 2, and one of them starts at a
 * position that is a multiple of 3. The scanner therefore hashes only every third position,
 * tests the bitmap (≈ 1-2 % of positions pass), and for each entry in the bucket whose 4-gram
 * equals the text's, compares the whole pattern at (position − offset). Three times fewer steps
 * than a byte-by-byte automaton, which is what makes ≥ 300 MB/s reachable in JS (architecture §12).
 * The scanner (masker.ts) opens the region once per push and makes typed-array views over it
 * inside that single `use()` callback; the views are dropped when it returns and the pages are
 * no-access again.
 *
 * What does live in normal memory: the layout numbers (pattern count, total pattern bytes,
 * longest pattern, table sizes) and the secrets' names. They reveal value lengths, as the
 * vault's own metadata does, and nothing else.
 */
export interface PatternTable {
  /** Secure region part 1: bitmap, heads, entries, records and pattern bytes (layout above). */
  readonly table: SecretBuf;
  /** Secure region part 2: the masker's working buffer (hold-back + one slice of input). */
  readonly work: SecretBuf;
  /** `Math.imul(gram, HASH_MULTIPLIER) >>> bitmapShift` is the bitmap bit. */
  readonly bitmapShift: number;
  /** `bit >>> headShift` is the bucket (the top headBits bits of the same hash). */
  readonly headShift: number;
  /** Int32 index of heads[0] (= bitmap length). */
  readonly headsAt: number;
  /** Int32 index of entries[0]. */
  readonly entriesAt: number;
  /** Int32 index of records[0]. */
  readonly recordsAt: number;
  /** Int32 slots before the pattern bytes. */
  readonly intCount: number;
  /** Length of the longest pattern. */
  readonly maxLength: number;
  /** Records allocated (unused ones have flags 0). */
  readonly recordCount: number;
}

/** Fibonacci hashing constant (2^32 / φ), spreads the 4-grams over the buckets. */
export const HASH_MULTIPLIER = 0x9e3779b1;

/** Every pattern is at least this long (G10's 6-byte floor; encodings only get longer). */
export const MIN_PATTERN_BYTES = 6;

/** Sampling stride: MIN_PATTERN_BYTES - 4 + 1 four-grams fit in the shortest pattern. */
export const STRIDE = MIN_PATTERN_BYTES - 3;

/** Shortest run of a value's bytes concealed on its own (issue 13 §4): raw 8 bytes, hex 16 digits. */
export const FRAGMENT_BYTES = 8;

/** Record flag bits (layout above). */
export const FLAG_CASELESS = 1;
export const FLAG_RAW_SOURCE = 2;
export const FLAG_HEX_SOURCE = 4;
export const FLAG_SECRET_SHIFT = 3;

/** Int32 fields per entry and per record. */
export const ENTRY_INTS = 3;
export const RECORD_INTS = 3;

/** The input slice copied into secure memory per step (the work buffer is hold-back + this). */
const SLICE_BYTES = 64 * 1024;

/**
 * Build the table for `values` (each at least MIN_PATTERN_BYTES long).
 * @param values - the secret values; value i's patterns carry secret number i
 * @returns the table, or undefined when there is nothing to mask
 */
export function buildPatternTable(values: readonly SecretBuf[]): PatternTable | undefined {
  // Pass 1: sizes only, summed into plain numbers; no per-pattern array survives.
  let count = 0;
  let totalBytes = 0;
  let maxLength = 0;
  for (const value of values) {
    value.use((bytes) => {
      for (const form of FORMS) {
        const n = form.encode(bytes, undefined, 0);
        if (n < 0) continue;
        count += 1 + fragmentCount(form.label, n);
        totalBytes += n;
        if (n > maxLength) maxLength = n;
      }
    });
  }
  if (count === 0) return undefined;
  const entryCount = count * STRIDE;
  // ~32 bitmap bits per entry: ≈ 3 % of sampled positions pass the filter. Kept this small on
  // purpose: the whole region is mprotected twice per push and that costs per page (on the
  // 2-core bench machine ~0.35 µs a page), so a bigger filter loses more than it saves.
  const bitmapBits = Math.min(24, Math.max(12, Math.ceil(Math.log2(entryCount * 32))));
  const headBits = Math.min(bitmapBits, Math.max(8, Math.ceil(Math.log2(entryCount)) - 1));
  const headsAt = 2 ** (bitmapBits - 5);
  const entriesAt = headsAt + 2 ** headBits;
  const recordsAt = entriesAt + entryCount * ENTRY_INTS;
  const intCount = recordsAt + count * RECORD_INTS;
  // Round up so the work buffer that follows starts 8-aligned (tidy, not required).
  const tableBytes = Math.ceil((intCount * 4 + totalBytes) / 8) * 8;
  const workBytes = maxLength - 1 + SLICE_BYTES;
  // One region: a single mprotect pair per push opens both (SecretBuf.allocMany).
  const [table, work] = SecretBuf.allocMany([tableBytes, workBytes]) as [SecretBuf, SecretBuf];
  const layout: PatternTable = {
    table,
    work,
    bitmapShift: 32 - bitmapBits,
    headShift: bitmapBits - headBits,
    headsAt,
    entriesAt,
    recordsAt,
    intCount,
    maxLength,
    recordCount: count,
  };
  try {
    table.use((mem) => {
      // allocMany puts the first buffer at offset 0 of the region's ArrayBuffer: 4-aligned.
      if (mem.byteOffset % 4 !== 0) throw new MaskerError('INTERNAL', 'masker table is not 4-byte aligned');
      const ints = new Int32Array(mem.buffer, mem.byteOffset, intCount);
      const pat = mem.subarray(intCount * 4);
      const cursor = { record: 0, entry: 0, at: 0 };
      /** Add one record (and its STRIDE index entries) for `length` pattern bytes at `at`. */
      const add = (at: number, length: number, flags: number): void => {
        const r = recordsAt + cursor.record * RECORD_INTS;
        ints[r] = at;
        ints[r + 1] = length;
        ints[r + 2] = flags;
        for (let off = 0; off < STRIDE; off += 1) {
          link(layout, ints, cursor.entry, cursor.record, off, gram(pat, at + off));
          cursor.entry += 1;
        }
        cursor.record += 1;
      };
      values.forEach((value, secret) => {
        value.use((bytes) => {
          FORMS.forEach((form, f) => {
            const n = form.encode(bytes, pat, cursor.at);
            if (n < 0) return;
            // A later form identical to the raw value adds nothing (and, caseless, would make
            // the raw match caseless).
            if (f > 0 && n === bytes.length && same(pat, cursor.at, bytes, 0, n)) {
              pat.fill(0, cursor.at, cursor.at + n);
              return;
            }
            if (form.caseless) foldBytes(pat, cursor.at, n);
            const source =
              form.label === 'raw' ? FLAG_RAW_SOURCE : form.label === 'hex' ? FLAG_HEX_SOURCE : 0;
            const caseless = form.caseless ? FLAG_CASELESS : 0;
            let at = cursor.at;
            let flags = caseless;
            const earlier = findDuplicate(layout, ints, pat, cursor.at, n, form.caseless);
            if (earlier >= 0) {
              pat.fill(0, cursor.at, cursor.at + n); // forget it
              if (source === 0) return;
              // The value's bytes are already stored: mark them as a source, point fragments there.
              const r = recordsAt + earlier * RECORD_INTS;
              ints[r + 2] = (ints[r + 2] ?? 0) | source;
              at = ints[r] ?? 0;
              flags = (ints[r + 2] ?? 0) & FLAG_CASELESS;
            } else {
              add(at, n, (secret << FLAG_SECRET_SHIFT) | source | caseless);
              cursor.at += n;
            }
            // Fragments (issue 13 §4): every FRAGMENT_BYTES-byte run, raw or as hex digits.
            const width = source === FLAG_HEX_SOURCE ? 2 * FRAGMENT_BYTES : FRAGMENT_BYTES;
            const step = source === FLAG_HEX_SOURCE ? 2 : 1;
            for (let k = 0; source !== 0 && k + width <= n && width < n; k += step) {
              if (findDuplicate(layout, ints, pat, at + k, width, flags === FLAG_CASELESS) >= 0) continue;
              add(at + k, width, (secret << FLAG_SECRET_SHIFT) | flags);
            }
          });
        });
      });
    });
  } catch (error) {
    table.wipe();
    work.wipe();
    throw error;
  }
  return layout;
}

/** Bits OR-ed into every 4-gram before hashing (see the layout comment). */
export const GRAM_FOLD = 0x20202020;

/** The folded little-endian word of the 4 bytes at `at` (the scanner reads text the same way). */
function gram(bytes: Uint8Array, at: number): number {
  const word =
    (bytes[at] ?? 0) |
    ((bytes[at + 1] ?? 0) << 8) |
    ((bytes[at + 2] ?? 0) << 16) |
    ((bytes[at + 3] ?? 0) << 24);
  return word | GRAM_FOLD;
}

/** ASCII upper-case letters to lower case, in place. */
function foldBytes(bytes: Uint8Array, at: number, length: number): void {
  for (let k = at; k < at + length; k += 1) {
    const b = bytes[k] ?? 0;
    if (b >= 0x41 && b <= 0x5a) bytes[k] = b | 0x20;
  }
}

function link(
  t: PatternTable,
  ints: Int32Array,
  entry: number,
  record: number,
  off: number,
  word: number,
): void {
  const bit = Math.imul(word, HASH_MULTIPLIER) >>> t.bitmapShift;
  ints[bit >>> 5] = (ints[bit >>> 5] ?? 0) | (1 << (bit & 31));
  const head = t.headsAt + (bit >>> t.headShift);
  const e = t.entriesAt + entry * ENTRY_INTS;
  ints[e] = ints[head] ?? 0;
  ints[e + 1] = word;
  ints[e + 2] = record * 4 + off;
  ints[head] = entry + 1;
}

/** How many fragment records the form labelled `label`, `n` bytes long, adds (see the layout). */
function fragmentCount(label: string, n: number): number {
  if (label === 'raw') return n > FRAGMENT_BYTES ? n - FRAGMENT_BYTES + 1 : 0;
  if (label === 'hex') return n > 2 * FRAGMENT_BYTES ? (n - 2 * FRAGMENT_BYTES) / 2 + 1 : 0;
  return 0;
}

/**
 * The record that already covers this pattern — same bytes, and the earlier one caseless or
 * the new one case-sensitive (first secret wins) — or -1.
 */
function findDuplicate(
  t: PatternTable,
  ints: Int32Array,
  pat: Uint8Array,
  at: number,
  length: number,
  caseless: boolean,
): number {
  const word = gram(pat, at);
  const bit = Math.imul(word, HASH_MULTIPLIER) >>> t.bitmapShift;
  let next = ints[t.headsAt + (bit >>> t.headShift)] ?? 0;
  while (next !== 0) {
    const e = t.entriesAt + (next - 1) * ENTRY_INTS;
    const packed = ints[e + 2] ?? 0;
    if (packed % 4 === 0 && ints[e + 1] === word) {
      const r = t.recordsAt + (packed >>> 2) * RECORD_INTS;
      const otherCaseless = ((ints[r + 2] ?? 0) & 1) === 1;
      if (
        ints[r + 1] === length &&
        (otherCaseless || !caseless) &&
        same(pat, ints[r] ?? 0, pat, at, length)
      ) {
        return packed >>> 2;
      }
    }
    next = ints[e] ?? 0;
  }
  return -1;
}

function same(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, length: number): boolean {
  for (let k = 0; k < length; k += 1) if (a[aAt + k] !== b[bAt + k]) return false;
  return true;
}
