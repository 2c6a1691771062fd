// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Byte-level encoders for the masker's patterns (architecture §8, G10). They read a secret value and
 * write one encoded form straight into secure memory: no JS string, no intermediate array, so
 * nothing derived from the value lands on the V8 heap (G3). Called with `out === undefined`
 * they only count, so the caller can size the secure allocation first.
 *
 * Each encoder returns the number of bytes written (or that would be written), or -1 when the
 * form does not apply to this value (a code-point form of bytes that are not valid UTF-8).
 */

/** Writes one encoded form of `src` at `out[at]`; see the module comment. */
type Encoder = (src: Uint8Array, out: Uint8Array | undefined, at: number) => number;

const HEX_LOWER = ascii('0123456789abcdef');
const HEX_UPPER = ascii('0123456789ABCDEF');
const B64 = ascii('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const B64URL = ascii('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
const B32_UPPER = ascii('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567');
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
/** Shortest base64/base32 core kept (the scanner needs patterns of 6+ bytes). */
const MIN_CORE = 6;

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) out[i] = text.charCodeAt(i);
  return out;
}

function put(out: Uint8Array | undefined, at: number, byte: number): void {
  if (out !== undefined) out[at] = byte;
}

function byteAt(src: Uint8Array, i: number): number {
  return src[i] ?? 0;
}

/** Hex of every byte (RFC 4648 §8), lower or upper case. */
function hex(digits: Uint8Array): Encoder {
  return (src, out, at) => {
    if (out !== undefined) {
      for (let i = 0; i < src.length; i += 1) {
        const b = byteAt(src, i);
        out[at + 2 * i] = byteAt(digits, b >>> 4);
        out[at + 2 * i + 1] = byteAt(digits, b & 15);
      }
    }
    return 2 * src.length;
  };
}

/**
 * The value's bits read `width` (6 for base64, 5 for base32) at a time, as if the value started
 * `shift` bytes into the encoder's input (RFC 4648 §4-§6).
 *
 * - `shift === undefined`: the encoding of the value alone, with its final partial character
 *   (zero-filled, as RFC 4648 prescribes) and, when `pad`, the `=` padding.
 * - `shift = s`: the "core" of the value embedded `s` bytes into a larger encoded stream: only
 *   characters whose bits all come from the value, so the form is found whatever bytes
 *   surround it. s ranges over every alignment (0-2 for base64, 0-4 for base32). The core ends
 *   at the last whole quantum (3 bytes → 4 chars, 5 bytes → 8 chars), like test-utils'
 *   canaryForms, so a truncated encoding is caught too; when that leaves fewer than
 *   MIN_CORE characters (a 6-7 byte value) it runs to the last character fully determined by
 *   the value instead.
 */
function radix(alphabet: Uint8Array, width: number, shift: number | undefined, pad: boolean): Encoder {
  const group = width === 6 ? 4 : 8; // characters per padded quantum
  return (src, out, at) => {
    const s = shift ?? 0;
    const startBit = 8 * s;
    const endBit = 8 * (s + src.length);
    const first = Math.ceil(startBit / width);
    let last = Math.ceil(endBit / width);
    if (shift !== undefined) {
      const quantum = width === 6 ? 3 : 5; // bytes per group
      last = Math.floor((s + src.length) / quantum) * group;
      if (last - first < MIN_CORE) last = Math.floor(endBit / width);
    }
    let n = 0;
    for (let c = first; c < last; c += 1) {
      if (out !== undefined) {
        let v = 0;
        for (let k = 0; k < width; k += 1) {
          const bit = c * width + k;
          const index = (bit >>> 3) - s;
          const b = index >= 0 && index < src.length ? byteAt(src, index) : 0;
          v = (v << 1) | ((b >>> (7 - (bit & 7))) & 1);
        }
        out[at + n] = byteAt(alphabet, v);
      }
      n += 1;
    }
    if (shift === undefined && pad) {
      while (n % group !== 0) {
        put(out, at + n, EQUALS);
        n += 1;
      }
    }
    return n;
  };
}

/**
 * Which bytes a URL encoder leaves alone, and whether it writes a space as `+`.
 *
 * - `rfc3986`: RFC 3986 §2.3 unreserved (`-._~`), e.g. Go's `url.PathEscape` minus its extras.
 * - `component`: ECMAScript `encodeURIComponent`: unreserved plus `!'()*`.
 * - `uri`: ECMAScript `encodeURI`: `encodeURIComponent`'s set plus `;,/?:@&=+$#`.
 * - `path`: Python's `urllib.parse.quote()` (default `safe='/'`): unreserved plus `/`.
 * - `form-*`: space as `+`, `-._` kept, and `*` and `~` kept (`k`) or encoded (`e`):
 *   `form-ke` WHATWG `application/x-www-form-urlencoded` and Java's `URLEncoder`; `form-ek`
 *   Python's `quote_plus` (3.7+) and Go's `url.QueryEscape`; `form-ee` PHP's `urlencode` and
 *   Python before 3.7; `form-kk` the remaining combination.
 * - `all`: every byte encoded.
 */
type UrlMode =
  'rfc3986' | 'component' | 'uri' | 'path' | 'form-kk' | 'form-ke' | 'form-ek' | 'form-ee' | 'all';

/** `;,/?:@&=+$#`: the reserved characters `encodeURI` keeps (ECMA-262 §19.2.6.2 uriReserved + `#`). */
function isUriReserved(b: number): boolean {
  return (
    b === 0x3b ||
    b === 0x2c ||
    b === 0x2f ||
    b === 0x3f ||
    b === 0x3a ||
    b === 0x40 ||
    b === 0x26 ||
    b === 0x3d ||
    b === 0x2b ||
    b === 0x24 ||
    b === 0x23
  );
}

function urlKeeps(b: number, mode: UrlMode): boolean {
  if (mode === 'all') return false;
  const alnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
  if (alnum || b === 0x2d || b === 0x2e || b === 0x5f) return true; // - . _ : kept by all
  const markOrTilde = b === 0x7e || b === 0x21 || (b >= 0x27 && b <= 0x2a); // ~ ! ' ( ) *
  switch (mode) {
    case 'rfc3986':
      return b === 0x7e;
    case 'component':
      return markOrTilde;
    case 'uri':
      return markOrTilde || isUriReserved(b);
    case 'path':
      return b === 0x7e || b === 0x2f;
    case 'form-kk':
      return b === 0x2a || b === 0x7e;
    case 'form-ke':
      return b === 0x2a;
    case 'form-ek':
      return b === 0x7e;
    case 'form-ee':
      return false;
  }
}

/** Percent-encoding (RFC 3986 §2.1) with upper- or lower-case hex digits. */
function url(mode: UrlMode, digits: Uint8Array): Encoder {
  return (src, out, at) => {
    let n = 0;
    for (let i = 0; i < src.length; i += 1) {
      const b = byteAt(src, i);
      if (urlKeeps(b, mode)) {
        put(out, at + n, b);
        n += 1;
      } else if (b === 0x20 && mode.startsWith('form')) {
        put(out, at + n, 0x2b);
        n += 1;
      } else {
        put(out, at + n, PERCENT);
        put(out, at + n + 1, byteAt(digits, b >>> 4));
        put(out, at + n + 2, byteAt(digits, b & 15));
        n += 3;
      }
    }
    return n;
  };
}

/** `\uXXXX` with four hex digits; returns 6. */
function putU(out: Uint8Array | undefined, at: number, unit: number, digits: Uint8Array): number {
  put(out, at, BACKSLASH);
  put(out, at + 1, 0x75);
  put(out, at + 2, byteAt(digits, (unit >>> 12) & 15));
  put(out, at + 3, byteAt(digits, (unit >>> 8) & 15));
  put(out, at + 4, byteAt(digits, (unit >>> 4) & 15));
  put(out, at + 5, byteAt(digits, unit & 15));
  return 6;
}

/** `\uXXXX` (or a surrogate pair) for one code point; returns the bytes written. */
function putCodePoint(out: Uint8Array | undefined, at: number, cp: number, digits: Uint8Array): number {
  if (cp < 0x10000) return putU(out, at, cp, digits);
  const v = cp - 0x10000;
  putU(out, at, 0xd800 | (v >>> 10), digits);
  return 6 + putU(out, at + 6, 0xdc00 | (v & 0x3ff), digits);
}

/**
 * Decode one UTF-8 sequence at `src[i]` (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
 * Returns `cp * 8 + length`, or -1 when the bytes are not valid UTF-8. Packing both into one
 * number keeps the decoded code point out of any heap allocation.
 */
function decodeUtf8(src: Uint8Array, i: number): number {
  const b0 = byteAt(src, i);
  if (b0 < 0x80) return b0 * 8 + 1;
  let len: number;
  let cp: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
    cp = b0 & 0x1f;
    min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    cp = b0 & 0x0f;
    min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    return -1;
  }
  if (i + len > src.length) return -1;
  for (let k = 1; k < len; k += 1) {
    const b = byteAt(src, i + k);
    if ((b & 0xc0) !== 0x80) return -1;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  return cp * 8 + len;
}

/** JSON string escaping options (RFC 8259 §7). */
interface JsonStyle {
  /** Escape `/` as `\/` (PHP's json_encode, some Java encoders). */
  readonly slash: boolean;
  /** Hex digits of `\u00XX` escapes. */
  readonly digits: Uint8Array;
  /** Escape every non-ASCII code point as `\uXXXX` (Python's `ensure_ascii`); -1 on bad UTF-8. */
  readonly asciiOnly: boolean;
  /**
   * Go's `encoding/json` (HTMLEscape on by default): `<` `>` `&` as `\u003c` `\u003e`
   * `\u0026`, U+2028 and U+2029 as `\u2028` `\u2029`; with `'legacy'`, `\b` `\f` as
   * `\u0008` `\u000c` too (Go before 1.22).
   */
  readonly go?: 'current' | 'legacy';
}

/** Byte → the letter of its two-character JSON escape (`\"` `\\` `\b` `\f` `\n` `\r` `\t`), or 0. */
const SHORT_ESCAPES = new Uint8Array(256);
for (const [b, letter] of [
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x08, 0x62],
  [0x0c, 0x66],
  [0x0a, 0x6e],
  [0x0d, 0x72],
  [0x09, 0x74],
] as const) {
  SHORT_ESCAPES[b] = letter;
}

/** The inside of a JSON string holding the value (JSON.stringify of its UTF-8 text, etc.). */
function json(style: JsonStyle): Encoder {
  return (src, out, at) => {
    let n = 0;
    let i = 0;
    while (i < src.length) {
      const b = byteAt(src, i);
      const go = style.go !== undefined;
      if (go && (b === 0x3c || b === 0x3e || b === 0x26)) {
        n += putU(out, at + n, b, style.digits); // Go's HTML escaping of < > &
        i += 1;
        continue;
      }
      // Go escapes U+2028 / U+2029 (E2 80 A8 / E2 80 A9 in UTF-8) for JSONP.
      if (
        go &&
        b === 0xe2 &&
        i + 2 < src.length &&
        byteAt(src, i + 1) === 0x80 &&
        (byteAt(src, i + 2) & 0xfe) === 0xa8
      ) {
        n += putU(out, at + n, 0x2028 | (byteAt(src, i + 2) & 1), style.digits);
        i += 3;
        continue;
      }
      const legacyControl = style.go === 'legacy' && (b === 0x08 || b === 0x0c);
      const short = style.slash && b === 0x2f ? 0x2f : legacyControl ? 0 : byteAt(SHORT_ESCAPES, b);
      if (short !== 0) {
        put(out, at + n, BACKSLASH);
        put(out, at + n + 1, short);
        n += 2;
        i += 1;
      } else if (b < 0x20) {
        n += putU(out, at + n, b, style.digits);
        i += 1;
      } else if (b < 0x80 || !style.asciiOnly) {
        put(out, at + n, b);
        n += 1;
        i += 1;
      } else {
        const packed = decodeUtf8(src, i);
        if (packed < 0) return -1;
        n += putCodePoint(out, at + n, Math.floor(packed / 8), style.digits);
        i += packed % 8;
      }
    }
    return n;
  };
}

/** Every byte as `\u00XX`. */
function uBytes(digits: Uint8Array): Encoder {
  return (src, out, at) => {
    for (let i = 0; i < src.length; i += 1) putU(out, at + 6 * i, byteAt(src, i), digits);
    return 6 * src.length;
  };
}

/**
 * Write each code point of the value's UTF-8 text with `write` (which returns the bytes it
 * wrote at the offset it is given); the total, or -1 when the value is not valid UTF-8.
 */
function perCodePoint(src: Uint8Array, write: (cp: number, n: number) => number): number {
  let n = 0;
  let i = 0;
  while (i < src.length) {
    const packed = decodeUtf8(src, i);
    if (packed < 0) return -1;
    n += write(Math.floor(packed / 8), n);
    i += packed % 8;
  }
  return n;
}

/** Every code point of the value's UTF-8 text as `\uXXXX` (surrogate pairs above U+FFFF). */
function uCodePoints(digits: Uint8Array): Encoder {
  return (src, out, at) => perCodePoint(src, (cp, n) => putCodePoint(out, at + n, cp, digits));
}

/**
 * The value's UTF-8 text as UTF-16 code units, little- or big-endian (Windows tools such as
 * `cmd /u`, .NET with a Unicode console encoding, PowerShell 5's redirection); -1 on bad UTF-8.
 */
function utf16(littleEndian: boolean): Encoder {
  const unit = (out: Uint8Array | undefined, at: number, u: number): number => {
    put(out, at, littleEndian ? u & 0xff : u >>> 8);
    put(out, at + 1, littleEndian ? u >>> 8 : u & 0xff);
    return 2;
  };
  return (src, out, at) =>
    perCodePoint(src, (cp, n) =>
      cp < 0x10000
        ? unit(out, at + n, cp)
        : unit(out, at + n, 0xd800 | ((cp - 0x10000) >>> 10)) +
          unit(out, at + n + 2, 0xdc00 | ((cp - 0x10000) & 0x3ff)),
    );
}

/** The raw bytes. */
const raw: Encoder = (src, out, at) => {
  out?.set(src, at);
  return src.length;
};

/**
 * One named form; the label only appears in tests and comments, never next to bytes, and picks
 * the raw and hex forms that fragments come from (pattern-table.ts).
 */
export interface Form {
  readonly label: string;
  readonly encode: Encoder;
  /**
   * Match ASCII letters in any case. For forms whose letters are hex digits or escape letters
   * (hex, base32, percent-encoding, `\u`), so one pattern covers upper, lower and mixed case:
   * fewer patterns, a smaller secure region to open per push, and mixed case caught too.
   */
  readonly caseless: boolean;
}

function radixForms(label: string, alphabet: Uint8Array, width: number, caseless: boolean): Form[] {
  const forms: Form[] = [
    { label: `${label} padded`, encode: radix(alphabet, width, undefined, true), caseless },
    { label: `${label} unpadded`, encode: radix(alphabet, width, undefined, false), caseless },
  ];
  const alignments = width === 6 ? 3 : 5;
  for (let s = 0; s < alignments; s += 1) {
    forms.push({ label: `${label} core +${s}`, encode: radix(alphabet, width, s, false), caseless });
  }
  return forms;
}

/**
 * Every form the masker looks for (architecture §8). Caseless forms are listed once (their upper-
 * and lower-case spellings are the same pattern). The first is the raw value; a later form
 * that comes out identical to it (a plain ASCII value is its own URL- and JSON-encoding) is
 * dropped before it could make the raw match caseless, and other duplicates when the table is
 * built.
 */
export const FORMS: readonly Form[] = Object.freeze([
  { label: 'raw', encode: raw, caseless: false },
  { label: 'hex', encode: hex(HEX_LOWER), caseless: true },
  ...radixForms('base64', B64, 6, false),
  ...radixForms('base64url', B64URL, 6, false),
  ...radixForms('base32', B32_UPPER, 5, true),
  { label: 'url rfc3986', encode: url('rfc3986', HEX_UPPER), caseless: true },
  { label: 'url component', encode: url('component', HEX_UPPER), caseless: true },
  { label: 'url encodeURI', encode: url('uri', HEX_UPPER), caseless: true },
  { label: 'url python quote', encode: url('path', HEX_UPPER), caseless: true },
  { label: 'url form ~* kept', encode: url('form-kk', HEX_UPPER), caseless: true },
  { label: 'url form whatwg', encode: url('form-ke', HEX_UPPER), caseless: true },
  { label: 'url form quote_plus', encode: url('form-ek', HEX_UPPER), caseless: true },
  { label: 'url form php', encode: url('form-ee', HEX_UPPER), caseless: true },
  { label: 'url all', encode: url('all', HEX_UPPER), caseless: true },
  // JSON keeps the value's own letters as they are: case-sensitive, in both \u00XX spellings.
  { label: 'json', encode: json({ slash: false, digits: HEX_LOWER, asciiOnly: false }), caseless: false },
  {
    label: 'json slash',
    encode: json({ slash: true, digits: HEX_LOWER, asciiOnly: false }),
    caseless: false,
  },
  {
    label: 'json upper',
    encode: json({ slash: false, digits: HEX_UPPER, asciiOnly: false }),
    caseless: false,
  },
  {
    label: 'json ascii',
    encode: json({ slash: false, digits: HEX_LOWER, asciiOnly: true }),
    caseless: false,
  },
  {
    label: 'json ascii slash',
    encode: json({ slash: true, digits: HEX_LOWER, asciiOnly: true }),
    caseless: false,
  },
  {
    label: 'json ascii upper',
    encode: json({ slash: false, digits: HEX_UPPER, asciiOnly: true }),
    caseless: false,
  },
  {
    label: 'json go',
    encode: json({ slash: false, digits: HEX_LOWER, asciiOnly: false, go: 'current' }),
    caseless: false,
  },
  {
    // Upper-case hex, as Java's Jackson writes with HTML escaping on.
    label: 'json go upper',
    encode: json({ slash: false, digits: HEX_UPPER, asciiOnly: false, go: 'current' }),
    caseless: false,
  },
  {
    label: 'json go legacy upper',
    encode: json({ slash: false, digits: HEX_UPPER, asciiOnly: false, go: 'legacy' }),
    caseless: false,
  },
  {
    label: 'json go legacy',
    encode: json({ slash: false, digits: HEX_LOWER, asciiOnly: false, go: 'legacy' }),
    caseless: false,
  },
  { label: '\\u bytes', encode: uBytes(HEX_LOWER), caseless: true },
  { label: '\\u code points', encode: uCodePoints(HEX_LOWER), caseless: true },
  // Case-sensitive: folding would treat a letter's byte and its partner byte alike.
  { label: 'utf-16le', encode: utf16(true), caseless: false },
  { label: 'utf-16be', encode: utf16(false), caseless: false },
]);
