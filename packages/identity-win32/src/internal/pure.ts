// SPDX-License-Identifier: AGPL-3.0-only
// The parts of the Windows implementation that need no Windows: decoding what the kernel hands
// back (FILETIME, SID bytes, UTF-16 paths, command lines). Tested on Linux in the normal suite.

/**
 * Wine's answer to GetNamedPipeClientProcessId on a pipe instance no client holds (measured):
 * never a real pid on Windows (pids are multiples of 4), refused outright.
 */
export const BOGUS_PIPE_PID = 0x5555_5555;

/** A FILETIME (100 ns ticks since 1601-01-01 UTC) from its two 32-bit halves. */
export function filetime(low: number, high: number): bigint {
  if (!isUint32(low) || !isUint32(high)) throw new RangeError('FILETIME halves must be uint32');
  return (BigInt(high) << 32n) | BigInt(low);
}

/** A FILETIME as milliseconds since the Unix epoch (for display only; compare the ticks). */
export function filetimeToUnixMs(ticks: bigint): number {
  return Number((ticks - 116_444_736_000_000_000n) / 10_000n);
}

/**
 * The string form of a binary SID (`S-1-5-21-…`), as ConvertSidToStringSidW writes it:
 * revision 1, 0–15 sub-authorities, the 48-bit identifier authority big-endian (decimal
 * below 2^32, else `0x` + 12 hex digits), each sub-authority a little-endian uint32.
 *
 * @throws RangeError for bytes that are not one well-formed SID (no trailing bytes allowed).
 */
export function sidToString(bytes: Uint8Array): string {
  if (bytes.length < 8) throw new RangeError('a SID has at least 8 bytes');
  const revision = bytes[0] ?? 0;
  const count = bytes[1] ?? 0;
  if (revision !== 1) throw new RangeError(`unknown SID revision ${revision}`);
  if (count > 15) throw new RangeError(`a SID has at most 15 sub-authorities, got ${count}`);
  if (bytes.length !== 8 + 4 * count) throw new RangeError('the SID length does not match its count');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const authority = (BigInt(view.getUint16(2)) << 32n) | BigInt(view.getUint32(4));
  const parts = [
    'S',
    '1',
    authority < 2n ** 32n
      ? authority.toString()
      : `0x${authority.toString(16).toUpperCase().padStart(12, '0')}`,
  ];
  for (let i = 0; i < count; i++) parts.push(String(view.getUint32(8 + 4 * i, true)));
  return parts.join('-');
}

const SID_STRING = /^S-1-(?:\d{1,10}|0x[0-9A-F]{12})(?:-\d{1,10}){0,15}$/;

/** Whether `s` is a SID string of the form {@link sidToString} writes (usable in a pipe name). */
export function isSidString(s: string): boolean {
  if (!SID_STRING.test(s)) return false;
  return s
    .split('-')
    .slice(3)
    .every((part) => Number(part) <= 0xffff_ffff);
}

/** A NUL-terminated (or full) UTF-16LE buffer of `chars` characters as a string. */
export function utf16(buffer: Buffer, chars: number): string {
  const end = Math.min(chars * 2, buffer.length - (buffer.length % 2));
  const text = buffer.toString('utf16le', 0, end);
  const nul = text.indexOf('\0');
  return nul === -1 ? text : text.slice(0, nul);
}

/**
 * Split a Windows command line into argv the way the Microsoft C runtime does for `main`
 * (the program name: up to the closing quote or the first blank, no escapes; then 2n
 * backslashes + quote → n backslashes and a quote toggle, 2n+1 → n and a literal quote,
 * `""` inside quotes → a literal quote). A program may parse its own line differently:
 * this is evidence for display and `via` matching, like Linux's argv.
 */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  // argv[0]
  let first = '';
  if (line[0] === '"') {
    i = 1;
    while (i < line.length && line[i] !== '"') first += line.charAt(i++);
    if (i < line.length) i++;
  } else {
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') first += line.charAt(i++);
  }
  if (line.length > 0) args.push(first);
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let arg = '';
    let quoted = false;
    while (i < line.length) {
      const c = line.charAt(i);
      if (!quoted && (c === ' ' || c === '\t')) break;
      if (c === '\\') {
        let n = 0;
        while (line[i] === '\\') {
          n++;
          i++;
        }
        if (line[i] === '"') {
          arg += '\\'.repeat(Math.floor(n / 2));
          if (n % 2 === 1) {
            arg += '"';
            i++;
          }
        } else {
          arg += '\\'.repeat(n);
        }
        continue;
      }
      if (c === '"') {
        if (quoted && line[i + 1] === '"') {
          arg += '"';
          i += 2;
          continue;
        }
        quoted = !quoted;
        i++;
        continue;
      }
      arg += c;
      i++;
    }
    args.push(arg);
  }
  return args;
}

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
}
