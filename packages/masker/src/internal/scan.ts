// SPDX-License-Identifier: AGPL-3.0-only
import {
  ENTRY_INTS,
  FLAG_CASELESS,
  FLAG_HEX_SOURCE,
  FLAG_RAW_SOURCE,
  FLAG_SECRET_SHIFT,
  FRAGMENT_BYTES,
  GRAM_FOLD,
  HASH_MULTIPLIER,
  HASH_MULTIPLIER_2,
  OFFSET_BITS,
  RECORD_INTS,
  type PatternTable,
} from './pattern-table.ts';

/**
 * The masker's scan (architecture §8, G10): the filter pass over the text and the check of its
 * candidates against the table (pattern-table.ts has the layout and why it is split in two).
 * Every view passed in was made inside the `use()` of its region and is dropped with it.
 */

/**
 * The hot loop, kept tiny so the JIT compiles it tight: the first grid position j (stepping by
 * `step` from `from`) whose folded 4-gram, read at `j - base` in `text`, sets both its filter
 * bits, or `end`.
 */
export function nextCandidate(
  text: DataView,
  base: number,
  from: number,
  end: number,
  step: number,
  filter: Int32Array,
  shift: number,
): number {
  for (let j = from; j < end; j += step) {
    const word = text.getUint32(j - base, true) | GRAM_FOLD;
    const a = Math.imul(word, HASH_MULTIPLIER) >>> shift;
    const b = Math.imul(word, HASH_MULTIPLIER_2) >>> shift;
    // Both bits tested without a branch between them (`>>> a` shifts by a mod 32): a branch on
    // the first bit alone, taken for ~1 in 5 positions, mispredicts too often to be cheaper.
    if ((((filter[a >>> 5] as number) >>> a) & ((filter[b >>> 5] as number) >>> b) & 1) !== 0) return j;
  }
  return end;
}

/** Whether the folded 4-gram at `p - base` sets both its filter bits. */
function passes(text: DataView, base: number, p: number, filter: Int32Array, shift: number): boolean {
  const word = text.getUint32(p - base, true) | GRAM_FOLD;
  const a = Math.imul(word, HASH_MULTIPLIER) >>> shift;
  const b = Math.imul(word, HASH_MULTIPLIER_2) >>> shift;
  return (((filter[a >>> 5] as number) >>> a) & ((filter[b >>> 5] as number) >>> b) & 1) !== 0;
}

/**
 * The run test: whether j (which passes) lies in a run of `step` consecutive gram positions that
 * all pass, within [lo, hi]. An occurrence of a pattern starting at i makes the run i … i + step − 1.
 */
export function inRun(
  text: DataView,
  base: number,
  j: number,
  lo: number,
  hi: number,
  step: number,
  filter: Int32Array,
  shift: number,
): boolean {
  let run = 1;
  for (let p = j - 1; p >= lo && p > j - step && passes(text, base, p, filter, shift); p -= 1) run += 1;
  for (let p = j + 1; run < step && p <= hi && p < j + step && passes(text, base, p, filter, shift); p += 1) {
    run += 1;
  }
  return run >= step;
}

/** The longest match per start of one grid position; reused, holds no pattern byte. */
export class Found {
  readonly length = new Int32Array(8);
  readonly secret = new Int32Array(8);
  readonly record = new Int32Array(8);

  clear(): void {
    this.length.fill(0);
  }
}

/**
 * For the grid position j, the longest pattern starting at each j − off (off < stride), within
 * [0, scanEnd) and ending by `n`; ties go to the first record (the first secret). `text` holds
 * the stream from position `base`, up to `textEnd`.
 */
export function matchAt(
  pt: PatternTable,
  ints: Int32Array,
  pat: Uint8Array,
  text: Uint8Array,
  base: number,
  j: number,
  scanEnd: number,
  n: number,
  found: Found,
): void {
  found.clear();
  const word =
    (text[j - base] as number) |
    ((text[j - base + 1] as number) << 8) |
    ((text[j - base + 2] as number) << 16) |
    ((text[j - base + 3] as number) << 24) |
    GRAM_FOLD;
  const offMask = (1 << OFFSET_BITS) - 1;
  let next = ints[Math.imul(word, HASH_MULTIPLIER) >>> pt.headShift] as number;
  while (next !== 0) {
    const e = pt.entriesAt + (next - 1) * ENTRY_INTS;
    next = ints[e] as number;
    if (ints[e + 1] !== word) continue;
    const packed = ints[e + 2] as number;
    const off = packed & offMask;
    const i = j - off;
    if (i < 0 || i >= scanEnd || i < base) continue;
    const record = packed >>> OFFSET_BITS;
    const r = pt.recordsAt + record * RECORD_INTS;
    const length = ints[r + 1] as number;
    const best = found.length[off] as number;
    if (i + length > n || length < best || (length === best && record > (found.record[off] as number))) {
      continue;
    }
    const offset = ints[r] as number;
    const flags = ints[r + 2] as number;
    const at = i - base;
    let k = 0;
    if ((flags & FLAG_CASELESS) === 0) {
      while (k < length && pat[offset + k] === text[at + k]) k += 1;
    } else {
      // Caseless: the pattern is stored folded; fold the text's A-Z as we go.
      for (; k < length; k += 1) {
        const d = text[at + k] as number;
        if (pat[offset + k] !== (d - 0x41 < 26 && d >= 0x41 ? d | 0x20 : d)) break;
      }
    }
    if (k !== length) continue;
    found.length[off] = length;
    found.secret[off] = flags >>> FLAG_SECRET_SHIFT;
    found.record[off] = record;
  }
}

/**
 * The idle flush's hold-back (issue 13 §4): the length of the longest tail of `data[from, n)`
 * that occurs in some value's raw bytes (at most FRAGMENT_BYTES − 1 bytes) or in its hex form
 * (any letter case, at most 2 × FRAGMENT_BYTES − 1 digits). Emitting it could let the value's
 * next piece, written after the pause, show FRAGMENT_BYTES of it unconcealed; everything before
 * it cannot join a later byte into a fragment that was not already concealed.
 */
export function holdTail(
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
