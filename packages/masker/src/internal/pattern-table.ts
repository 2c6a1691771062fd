// SPDX-License-Identifier: AGPL-3.0-only
import { SecretBuf } from '@cora/memstore';
import { MaskerError } from '../errors.ts';
import { FORMS } from './encodings.ts';

/**
 * The masker's pattern table (architecture §8, G10), in TWO secure regions.
 *
 * Why not an Aho–Corasick automaton, or any index in normal memory: its goto table spells out
 * every pattern byte by byte, so it is as secret as the values, and even a bitmap of 4-gram
 * hashes leaks bits of every form of every value. So everything derived from a value lives in
 * SecretBuf regions. Why not an automaton in secure memory either: with 100 secrets it would
 * hold ~200,000 states, and on the bench machine (a VM) every secure page touched after the
 * region is opened costs ~5 µs (masker README, "Performance"), so a scanner that walks a big
 * table over random text cannot reach the budget. Hence a small filter, opened per push, and
 * the big table, opened only when the filter finds a candidate:
 *
 * Region 1, opened by every push (`filter` + `works`, one mprotect pair):
 *   Int32 filter[2^filterBits / 32]  4-gram Bloom filter, two bits per gram (bits per gram below)
 *   works[streams]: bytes[junctionBytes] each, the hold-back tail + the first bytes of the next
 *                                    chunk of one stream (streams sharing the table: stdout,
 *                                    stderr, the audit's command)
 *
 * Region 2, opened by a push only at its first candidate, or at a pause (`table`):
 *   Int32 heads[2^headBits]          hash bucket → 1 + first entry, or 0
 *   Int32 entries[entryCount * 3]    next (1 + entry, or 0), 4-gram, record * 8 + offset in pattern
 *   Int32 records[count * 3]         byte offset of the pattern, its length, flags (below)
 *   bytes[totalBytes]                the patterns themselves, back to back
 *
 * A record's flags are `secret << FLAG_SECRET_SHIFT | FLAG_HEX_SOURCE | FLAG_RAW_SOURCE |
 * FLAG_CASELESS`. The two source bits mark the pattern holding the value's raw bytes or its hex
 * form: fragments point into them and the idle flush's hold-back looks them up (scan.ts).
 *
 * Fragments: every run of FRAGMENT_BYTES (8) consecutive bytes of a value of at least 9 bytes,
 * raw or hex-encoded (16 digits, at a byte boundary, any letter case), is a pattern of its own.
 * Its record points into the value's raw or hex pattern (no extra pattern bytes); a longer run
 * is several overlapping fragments, which the scanner merges into one concealed span.
 *
 * Scanning (a sampled q-gram filter, as in Wu–Manber, with a run test): every pattern is at
 * least `minLength` (m ≥ 6) bytes, so an occurrence at i has the 4-grams of its offsets
 * 0 … s − 1 (s = m − 3 ≤ 5) at positions i … i + s − 1, and exactly one of those positions is a
 * multiple of s. The filter holds those s grams of every pattern. The scanner hashes every s-th
 * position only; where the gram passes, it checks that the s − 1 neighbouring positions on one
 * side or the other complete a run of s grams that all pass. A true occurrence always does; in
 * random text a run is rare (about s·f^s, f the filter's false-positive rate), so the table is
 * opened for almost nothing but real matches. Each candidate's gram is then looked up in the
 * hash chains and every pattern it may belong to is compared whole.
 *
 * What lives in normal memory: the layout numbers (pattern count, total pattern bytes, longest
 * and shortest pattern, table sizes) and the secrets' names. They reveal value lengths, as the
 * vault's own metadata does, and nothing else.
 */
export interface PatternTable {
  /** Region 1: the 4-gram filter (layout above). */
  readonly filter: SecretBuf;
  /** Region 1: one working buffer (the junction) per stream sharing the table. */
  readonly works: readonly SecretBuf[];
  /** Region 2: heads, entries, records and pattern bytes. */
  readonly table: SecretBuf;
  /** `Math.imul(gram, HASH_MULTIPLIER or HASH_MULTIPLIER_2) >>> filterShift` are a gram's filter bits. */
  readonly filterShift: number;
  /** `Math.imul(gram, HASH_MULTIPLIER) >>> headShift` is the gram's bucket. */
  readonly headShift: number;
  /** Int32 index of entries[0] (heads start at 0). */
  readonly entriesAt: number;
  /** Int32 index of records[0]. */
  readonly recordsAt: number;
  /** Int32 slots before the pattern bytes. */
  readonly intCount: number;
  /** Length of the longest pattern. */
  readonly maxLength: number;
  /** Sampling stride s: shortest pattern − 3 (3 to 5). */
  readonly stride: number;
  /** Records allocated. */
  readonly recordCount: number;
  /** Bytes of `work` in use: the hold-back, then the first bytes of the chunk. */
  readonly junctionBytes: number;
  /** Secure bytes in all: the filter's region and the table's (reported by the bench). */
  readonly secureBytes: number;
}

/** Fibonacci hashing constant (2^32 / φ): the first filter bit and the bucket. */
export const HASH_MULTIPLIER = 0x9e3779b1;
/** A second odd multiplier (MurmurHash3's c1) for the filter's second bit. */
export const HASH_MULTIPLIER_2 = 0xcc9e2d51;

/** Every pattern is at least this long (G10's 6-byte floor; encodings only get longer). */
const MIN_PATTERN_BYTES = 6;

/** Shortest run of a value's bytes concealed on its own (issue 13 §4): raw 8 bytes, hex 16 digits. */
export const FRAGMENT_BYTES = 8;

/** Bits OR-ed into every 4-gram before hashing: folds ASCII case (and some punctuation) together. */
export const GRAM_FOLD = 0x20202020;

/** Record flag bits (layout above). */
export const FLAG_CASELESS = 1;
export const FLAG_RAW_SOURCE = 2;
export const FLAG_HEX_SOURCE = 4;
export const FLAG_SECRET_SHIFT = 3;

/** Int32 fields per entry and per record; entries pack `record << OFFSET_BITS | offset`. */
export const ENTRY_INTS = 3;
export const RECORD_INTS = 3;
export const OFFSET_BITS = 3;

/** The page size the filter's region is laid out for (sizes in multiples of it). */
const PAGE_BYTES = 4096;

/**
 * Build the table for `values` (each at least MIN_PATTERN_BYTES long).
 * @param values - the secret values; value i's patterns carry secret number i
 * @param streams - how many streams will share it (one working buffer each, 1-16)
 * @returns the table, or undefined when there is nothing to mask
 */
export function buildPatternTable(values: readonly SecretBuf[], streams = 1): PatternTable | undefined {
  // Pass 1: sizes only, summed into plain numbers; no per-pattern array survives.
  let count = 0;
  let totalBytes = 0;
  let maxLength = 0;
  let minLength = Infinity;
  for (const value of values) {
    value.use((bytes) => {
      for (const form of FORMS) {
        const n = form.encode(bytes, undefined, 0);
        if (n < 0) continue;
        const fragments = fragmentCount(form.label, n);
        count += 1 + fragments;
        totalBytes += n;
        maxLength = Math.max(maxLength, n);
        minLength = Math.min(minLength, fragments > 0 ? fragmentWidth(form.label) : n);
      }
    });
  }
  if (count === 0) return undefined;
  if (minLength < MIN_PATTERN_BYTES) throw new MaskerError('INTERNAL', 'masker pattern under 6 bytes');
  const stride = Math.min(5, minLength - 3);
  const entryCount = count * stride;
  const headBits = Math.min(20, Math.max(8, Math.ceil(Math.log2(entryCount))));
  const entriesAt = 2 ** headBits;
  const recordsAt = entriesAt + entryCount * ENTRY_INTS;
  const intCount = recordsAt + count * RECORD_INTS;
  // Sizes rounded to 16 bytes: libsodium places a region's end at a page boundary, so its start
  // is aligned as well as its size is.
  const tableBytes = Math.ceil((intCount * 4 + totalBytes) / 16) * 16;
  const [table] = SecretBuf.allocMany([tableBytes]) as [SecretBuf];
  const shape = { headShift: 32 - headBits, entriesAt, recordsAt, stride };
  let grams: number;
  try {
    grams = table.use((mem) => fillTable(values, mem, intCount, shape));
  } catch (error) {
    table.wipe();
    throw error;
  }
  // Bits per distinct gram: a shorter run (smaller s) needs a sparser filter for the same
  // rate of false candidates (s·f^s). 2^15-2^20 bits (4-128 KiB): every page of it is touched
  // per push, and on the bench machine each page costs about as much as scanning 6 KiB.
  const filterBits = Math.min(20, Math.max(15, Math.ceil(Math.log2(grams * (8 << (5 - stride))))));
  // Junction: the hold-back (≤ maxLength − 1) and enough of the chunk that every form starting
  // in it, and the run test around the grid points near it, fit (scan.ts).
  const junctionBytes = Math.ceil((2 * maxLength + 4 * stride + 8) / 16) * 16;
  const filterBytes = 2 ** (filterBits - 3);
  // Whole pages, so that the region starts on a page too (libsodium aligns its end) and a push
  // touches no page more than it needs: the filter's and the junction's.
  const workBytes = Math.ceil(junctionBytes / PAGE_BYTES) * PAGE_BYTES;
  let region1: SecretBuf[] = [];
  try {
    region1 = SecretBuf.allocMany([filterBytes, ...Array.from({ length: streams }, () => workBytes)]);
    const [filter] = region1 as [SecretBuf, SecretBuf];
    filter.use((bits) => {
      table.use((mem) => {
        const ints = new Int32Array(mem.buffer, mem.byteOffset, intCount);
        const words = new Int32Array(bits.buffer, bits.byteOffset, filterBytes / 4);
        const shift = 32 - filterBits;
        for (let e = 0; e < entryCount; e += 1) {
          const word = ints[entriesAt + e * ENTRY_INTS + 1] ?? 0;
          setBit(words, Math.imul(word, HASH_MULTIPLIER) >>> shift);
          setBit(words, Math.imul(word, HASH_MULTIPLIER_2) >>> shift);
        }
      });
    });
  } catch (error) {
    for (const buf of region1) buf.wipe();
    table.wipe();
    throw error;
  }
  const [filter, ...works] = region1 as [SecretBuf, ...SecretBuf[]];
  return {
    filter,
    works,
    table,
    filterShift: 32 - filterBits,
    ...shape,
    intCount,
    maxLength,
    recordCount: count,
    junctionBytes,
    secureBytes: tableBytes + filterBytes + streams * workBytes,
  };
}

interface Shape {
  readonly headShift: number;
  readonly entriesAt: number;
  readonly recordsAt: number;
  readonly stride: number;
}

/** Write every form of every value, its records and index entries; returns the distinct grams. */
function fillTable(values: readonly SecretBuf[], mem: Uint8Array, intCount: number, t: Shape): number {
  // allocMany puts the first buffer at offset 0 of the region's ArrayBuffer: 4-aligned.
  if (mem.byteOffset % 4 !== 0) throw new MaskerError('INTERNAL', 'masker table is not 4-byte aligned');
  const ints = new Int32Array(mem.buffer, mem.byteOffset, intCount);
  const pat = mem.subarray(intCount * 4);
  const cursor = { record: 0, entry: 0, at: 0, grams: 0 };
  /** Add one record (and its `stride` index entries) for `length` pattern bytes at `at`. */
  const add = (at: number, length: number, flags: number): void => {
    const r = t.recordsAt + cursor.record * RECORD_INTS;
    ints[r] = at;
    ints[r + 1] = length;
    ints[r + 2] = flags;
    for (let off = 0; off < t.stride; off += 1) {
      if (link(t, ints, cursor.entry, (cursor.record << OFFSET_BITS) | off, gram(pat, at + off))) {
        cursor.grams += 1;
      }
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
        const source = form.label === 'raw' ? FLAG_RAW_SOURCE : form.label === 'hex' ? FLAG_HEX_SOURCE : 0;
        const caseless = form.caseless ? FLAG_CASELESS : 0;
        let at = cursor.at;
        // A raw or hex form's fragments take its matching rule, so its duplicate must share it.
        const earlier = findDuplicate(t, ints, pat, cursor.at, n, caseless, source !== 0);
        if (earlier >= 0) {
          pat.fill(0, cursor.at, cursor.at + n); // forget it
          if (source === 0) return;
          // The value's bytes are already stored, matched the same way: mark them as a
          // source and point the fragments there.
          const r = t.recordsAt + earlier * RECORD_INTS;
          ints[r + 2] = (ints[r + 2] ?? 0) | source;
          at = ints[r] ?? 0;
        } else {
          add(at, n, (secret << FLAG_SECRET_SHIFT) | source | caseless);
          cursor.at += n;
        }
        // Fragments (issue 13 §4): every FRAGMENT_BYTES-byte run, raw or as hex digits.
        const width = fragmentWidth(form.label);
        const step = source === FLAG_HEX_SOURCE ? 2 : 1;
        for (let k = 0; source !== 0 && k + width <= n && width < n; k += step) {
          if (findDuplicate(t, ints, pat, at + k, width, caseless, false) >= 0) continue;
          add(at + k, width, (secret << FLAG_SECRET_SHIFT) | caseless);
        }
      });
    });
  });
  return cursor.grams;
}

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

function setBit(words: Int32Array, bit: number): void {
  words[bit >>> 5] = (words[bit >>> 5] ?? 0) | (1 << (bit & 31));
}

/** Prepend an entry to its bucket's chain; returns whether no earlier entry had this gram. */
function link(t: Shape, ints: Int32Array, entry: number, packed: number, word: number): boolean {
  const head = Math.imul(word, HASH_MULTIPLIER) >>> t.headShift;
  let fresh = true;
  for (let next = ints[head] ?? 0; next !== 0 && fresh;) {
    const e = t.entriesAt + (next - 1) * ENTRY_INTS;
    fresh = ints[e + 1] !== word;
    next = ints[e] ?? 0;
  }
  const e = t.entriesAt + entry * ENTRY_INTS;
  ints[e] = ints[head] ?? 0;
  ints[e + 1] = word;
  ints[e + 2] = packed;
  ints[head] = entry + 1;
  return fresh;
}

/** The pattern width of the fragments of the form labelled `label` (raw 8 bytes, hex 16 digits). */
function fragmentWidth(label: string): number {
  return label === 'hex' ? 2 * FRAGMENT_BYTES : FRAGMENT_BYTES;
}

/** How many fragment records the form labelled `label`, `n` bytes long, adds (see the layout). */
function fragmentCount(label: string, n: number): number {
  if (label === 'raw') return n > FRAGMENT_BYTES ? n - FRAGMENT_BYTES + 1 : 0;
  if (label === 'hex') return n > 2 * FRAGMENT_BYTES ? (n - 2 * FRAGMENT_BYTES) / 2 + 1 : 0;
  return 0;
}

/**
 * The record that already covers this pattern — same bytes, and the earlier one caseless or
 * the new one case-sensitive (or, when `exact`, both matched the same way) — or -1. The first
 * secret keeps it.
 */
function findDuplicate(
  t: Shape,
  ints: Int32Array,
  pat: Uint8Array,
  at: number,
  length: number,
  caseless: number,
  exact: boolean,
): number {
  const word = gram(pat, at);
  let next = ints[Math.imul(word, HASH_MULTIPLIER) >>> t.headShift] ?? 0;
  while (next !== 0) {
    const e = t.entriesAt + (next - 1) * ENTRY_INTS;
    const packed = ints[e + 2] ?? 0;
    if ((packed & ((1 << OFFSET_BITS) - 1)) === 0 && ints[e + 1] === word) {
      const r = t.recordsAt + (packed >>> OFFSET_BITS) * RECORD_INTS;
      if (
        ints[r + 1] === length &&
        (exact
          ? ((ints[r + 2] ?? 0) & FLAG_CASELESS) === caseless
          : ((ints[r + 2] ?? 0) & FLAG_CASELESS) >= caseless) &&
        same(pat, ints[r] ?? 0, pat, at, length)
      ) {
        return packed >>> OFFSET_BITS;
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
