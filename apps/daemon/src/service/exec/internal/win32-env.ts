// SPDX-License-Identifier: AGPL-3.0-only
// The pure parts of spawning on Windows (spawn-win32.ts): the UTF-16LE environment block, laid
// out straight into secure memory from UTF-8 bytes (a value never becomes a JS string), and the
// command line CreateProcessW wants. Tested on Linux.
import { SecretBuf } from '@cora/memstore';

/** One environment entry as spawn.ts takes it. */
export interface EnvEntry {
  readonly name: string;
  readonly value: Uint8Array | SecretBuf;
}

/**
 * UTF-16 code units that the UTF-8 in `src` decodes to, or -1 when it is not well-formed UTF-8
 * (overlong forms, surrogates, past U+10FFFF, truncated) or holds a NUL.
 */
export function utf16Units(src: Uint8Array): number {
  return transcode(src, null, 0);
}

/**
 * Decode UTF-8 `src` into `dst` as UTF-16LE from byte `offset`; returns the code units written,
 * or -1 as {@link utf16Units}. Nothing but `dst` holds the decoded text.
 */
export function writeUtf16(src: Uint8Array, dst: Uint8Array | null, offset: number): number {
  return transcode(src, dst, offset);
}

function transcode(src: Uint8Array, dst: Uint8Array | null, offset: number): number {
  let units = 0;
  const put = (unit: number): void => {
    if (dst !== null) {
      dst[offset + 2 * units] = unit & 0xff;
      dst[offset + 2 * units + 1] = unit >> 8;
    }
    units++;
  };
  for (let i = 0; i < src.length;) {
    const b0 = src[i] ?? 0;
    let cp: number;
    let n: number;
    if (b0 < 0x80) {
      cp = b0;
      n = 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      cp = b0 & 0x1f;
      n = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      cp = b0 & 0x0f;
      n = 3;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      cp = b0 & 0x07;
      n = 4;
    } else {
      return -1;
    }
    if (i + n > src.length) return -1;
    for (let k = 1; k < n; k++) {
      const b = src[i + k] ?? 0;
      if ((b & 0xc0) !== 0x80) return -1;
      cp = (cp << 6) | (b & 0x3f);
    }
    const min = n === 1 ? 0 : n === 2 ? 0x80 : n === 3 ? 0x800 : 0x1_0000;
    if (cp < min || cp > 0x10_ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0) return -1;
    if (cp >= 0x1_0000) {
      const v = cp - 0x1_0000;
      put(0xd800 | (v >> 10));
      put(0xdc00 | (v & 0x3ff));
    } else {
      put(cp);
    }
    i += n;
  }
  return units;
}

function checkName(name: string): void {
  if (name === '' || name.includes('=') || name.includes('\0')) {
    throw new TypeError(`env ${JSON.stringify(name)}: a name is not empty and has no '=' or NUL`);
  }
}

function bytesOf<T>(value: Uint8Array | SecretBuf, fn: (bytes: Uint8Array) => T): T {
  return value instanceof SecretBuf ? value.use(fn) : fn(value);
}

/**
 * The environment block of CreateProcessW (CREATE_UNICODE_ENVIRONMENT): `NAME=value\0` in
 * UTF-16LE for each entry, sorted by upper-cased name as Windows keeps it, then one more NUL,
 * in ONE SecretBuf the caller wipes once the child is created (CreateProcessW copies it into the
 * child before it returns).
 *
 * @throws TypeError when a name is empty or holds '=' or NUL, two names differ only in case
 *   (Windows names are case-insensitive), or a value is not UTF-8 or holds NUL. Messages name the
 *   variable, never its value.
 */
export function windowsEnvBlock(env: readonly EnvEntry[]): SecretBuf {
  const sorted = [...env].sort((a, b) => {
    const x = a.name.toUpperCase();
    const y = b.name.toUpperCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
  // The final NUL; an empty block is two NULs.
  let units = env.length === 0 ? 2 : 1;
  let previous: string | null = null;
  for (const { name, value } of sorted) {
    checkName(name);
    if (previous === name.toUpperCase()) {
      throw new TypeError(`env ${name}: given twice (Windows names ignore case)`);
    }
    const n = bytesOf(value, utf16Units);
    if (n < 0) throw new TypeError(`env ${name}: the value is not UTF-8 text without NUL`);
    units += name.length + 1 + n + 1;
    previous = name.toUpperCase();
  }
  const block = SecretBuf.alloc(2 * units);
  try {
    block.use((bytes) => {
      let at = 0;
      for (const { name, value } of sorted) {
        for (let k = 0; k < name.length; k++) {
          const unit = name.charCodeAt(k);
          bytes[at++] = unit & 0xff;
          bytes[at++] = unit >> 8;
        }
        bytes[at] = 0x3d; // '=' (its high byte is already 0)
        at += 2;
        at += 2 * bytesOf(value, (v) => writeUtf16(v, bytes, at));
        at += 2; // the NUL: the allocation is zeroed
      }
    });
  } catch (error) {
    block.wipe();
    throw error;
  }
  return block;
}

/**
 * argv as one command line that the Microsoft C runtime (and CommandLineToArgvW) splits back
 * into the same argv. argv[0] is taken without escapes by those parsers: it may not hold `"`.
 *
 * @throws TypeError for an empty argv, a NUL anywhere, or a `"` in argv[0].
 */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('argv needs at least argv[0]');
  const [program = '', ...rest] = argv;
  if (argv.some((a) => a.includes('\0'))) throw new TypeError('argv may not contain NUL');
  if (program.includes('"')) throw new TypeError('argv[0] may not contain a double quote on Windows');
  const first = program === '' || /[ \t]/.test(program) ? `"${program}"` : program;
  return [first, ...rest.map(quoteArg)].join(' ');
}

function quoteArg(arg: string): string {
  if (arg !== '' && !/[ \t\n\v"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const c of arg) {
    if (c === '\\') {
      backslashes++;
      continue;
    }
    // Backslashes before a quote are doubled and the quote escaped; elsewhere they are literal.
    out += c === '"' ? '\\'.repeat(2 * backslashes + 1) + '"' : '\\'.repeat(backslashes) + c;
    backslashes = 0;
  }
  // Before the closing quote, backslashes are doubled.
  return `${out}${'\\'.repeat(2 * backslashes)}"`;
}
