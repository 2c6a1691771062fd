// SPDX-License-Identifier: AGPL-3.0-only
import { MAX_VALUE_BYTES, SecretBuf, isValidSecretName } from '@cora/memstore';
import { readFileToSecret } from './read-bytes.ts';

/** Largest .env file read (`cr secrets import`, the TUI's import). */
const MAX_DOTENV_BYTES = 16 * 1024 * 1024;

/** One `NAME=value` of a .env file. The value lives in secure memory; the caller wipes it. */
export interface DotenvEntry {
  readonly name: string;
  readonly value: SecretBuf;
  /** 1-based line where the entry starts. */
  readonly line: number;
}

/** Why a line was refused. Carries a line number and a kind, never the line's bytes. */
export interface DotenvProblem {
  readonly line: number;
  readonly kind:
    | 'INVALID_NAME'
    | 'MISSING_EQUALS'
    | 'UNTERMINATED_QUOTE'
    | 'TRAILING_CHARACTERS'
    | 'DUPLICATE_NAME'
    | 'VALUE_TOO_LARGE';
  /** Human-readable, safe to print: names only valid secret names, never values. */
  readonly message: string;
}

/** Result of {@link parseDotenv}: entries, or problems (then `entries` is empty). */
export interface DotenvResult {
  readonly entries: DotenvEntry[];
  readonly problems: DotenvProblem[];
}

const C = {
  TAB: 0x09,
  LF: 0x0a,
  CR: 0x0d,
  SPACE: 0x20,
  DQUOTE: 0x22,
  HASH: 0x23,
  SQUOTE: 0x27,
  EQUALS: 0x3d,
  BACKSLASH: 0x5c,
  BACKTICK: 0x60,
} as const;

/** A value as byte ranges of the input; `escapes` means double-quoted (decode `\n` etc.). */
interface Span {
  readonly name: string;
  readonly line: number;
  readonly start: number;
  readonly end: number;
  readonly escapes: boolean;
}

/**
 * Parse a .env file from its bytes. Values are copied straight from `bytes` into secure memory
 * and never become strings; names are ASCII by rule and are not secret. `bytes` is not wiped
 * (the caller owns it).
 *
 * Syntax (the common dotenv subset, documented in the README):
 * - blank lines and lines whose first non-blank byte is `#` are skipped;
 * - an optional `export ` prefix;
 * - `NAME=value`, blanks allowed around `=`; NAME must match `[A-Za-z_][A-Za-z0-9_]*`;
 * - `'…'` and `` `…` `` are literal; `"…"` decodes `\n`, `\r`, `\t`, `\"` and `\\` (any other
 *   backslash is kept as is); quoted values may span lines; after the closing quote only
 *   blanks and a `#` comment may follow;
 * - unquoted values run to the end of the line, a `#` preceded by a blank starts a comment,
 *   and surrounding blanks are trimmed (so `a#b` keeps its `#`);
 * - `\r\n` line ends are accepted.
 *
 * @param bytes - the file's content
 * @returns entries in file order, or the problems found (all of them, by line number)
 * @example
 * ```ts
 * const { entries, problems } = parseDotenv(fileBytes);
 * try { ... } finally { for (const e of entries) e.value.wipe(); }
 * ```
 */
export function parseDotenv(bytes: Uint8Array): DotenvResult {
  const spans: Span[] = [];
  const problems: DotenvProblem[] = [];
  const firstLine = new Map<string, number>();
  const n = bytes.length;
  let i = 0;
  let line = 1;

  const at = (k: number): number => bytes[k] ?? -1;
  const isBlank = (b: number): boolean => b === C.SPACE || b === C.TAB;
  const isEol = (b: number): boolean => b === C.LF || b === C.CR || b === -1;
  const skipBlanks = (): void => {
    while (i < n && isBlank(at(i))) i++;
  };
  /** Move to the start of the next line, counting it. */
  const skipLine = (): void => {
    while (i < n && at(i) !== C.LF) i++;
    if (i < n) {
      i++;
      line++;
    }
  };
  const problem = (kind: DotenvProblem['kind'], message: string, where = line): void => {
    problems.push({ line: where, kind, message: `line ${String(where)}: ${message}` });
  };

  while (i < n) {
    skipBlanks();
    const b = at(i);
    if (isEol(b) || b === C.HASH) {
      skipLine();
      continue;
    }
    const startLine = line;
    // `export NAME=…`: the keyword followed by at least one blank.
    if (matchesAscii(bytes, i, 'export') && isBlank(at(i + 6))) {
      i += 6;
      skipBlanks();
    }
    const nameStart = i;
    while (i < n && !isBlank(at(i)) && at(i) !== C.EQUALS && !isEol(at(i))) i++;
    const nameEnd = i;
    skipBlanks();
    if (at(i) !== C.EQUALS) {
      problem('MISSING_EQUALS', 'expected NAME=value');
      skipLine();
      continue;
    }
    i++; // '='
    // Decoded only once it is known to be a name: a stray value line never becomes a string.
    const name = nameBytesValid(bytes, nameStart, nameEnd) ? ascii(bytes, nameStart, nameEnd) : '';
    const validName = name !== '' && isValidSecretName(name);
    skipBlanks();

    const q = at(i);
    let span: { start: number; end: number; escapes: boolean };
    if (q === C.SQUOTE || q === C.DQUOTE || q === C.BACKTICK) {
      const start = i + 1;
      let k = start;
      let lines = 0;
      while (k < n && at(k) !== q) {
        if (q === C.DQUOTE && at(k) === C.BACKSLASH && k + 1 < n) {
          if (at(k + 1) === C.LF) lines++;
          k += 2;
          continue;
        }
        if (at(k) === C.LF) lines++;
        k++;
      }
      if (k >= n) {
        problem('UNTERMINATED_QUOTE', 'the quoted value is never closed', startLine);
        break; // everything after belongs to the open quote
      }
      span = { start, end: k, escapes: q === C.DQUOTE };
      line += lines;
      i = k + 1;
      skipBlanks();
      if (!isEol(at(i)) && at(i) !== C.HASH) {
        problem('TRAILING_CHARACTERS', 'unexpected characters after the closing quote');
        skipLine();
        continue;
      }
      skipLine();
    } else {
      const start = i;
      let end = i;
      while (i < n && !isEol(at(i))) {
        if (at(i) === C.HASH && i > start && isBlank(at(i - 1))) break;
        i++;
        end = i;
      }
      while (end > start && isBlank(at(end - 1))) end--;
      span = { start, end, escapes: false };
      skipLine();
    }

    if (!validName) {
      problem('INVALID_NAME', 'the name must match [A-Za-z_][A-Za-z0-9_]* (at most 128 bytes)', startLine);
      continue;
    }
    const seenAt = firstLine.get(name);
    if (seenAt !== undefined) {
      problem('DUPLICATE_NAME', `${name} was already set on line ${String(seenAt)}`, startLine);
      continue;
    }
    firstLine.set(name, startLine);
    spans.push({ name, line: startLine, ...span });
  }

  const lengths = spans.map((s) => (s.escapes ? decodedLength(bytes, s.start, s.end) : s.end - s.start));
  lengths.forEach((length, k) => {
    const span = spans[k];
    if (span !== undefined && length > MAX_VALUE_BYTES) {
      problem(
        'VALUE_TOO_LARGE',
        `the value of ${span.name} is ${String(length)} bytes, over the limit of ${String(MAX_VALUE_BYTES)}`,
        span.line,
      );
    }
  });
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line);
    return { entries: [], problems };
  }
  // One secure region for all values: straight from the input bytes, no intermediate copy.
  const values = SecretBuf.allocMany(lengths, (views) => {
    spans.forEach((s, k) => {
      const view = views[k];
      if (view === undefined) return;
      if (s.escapes) decodeInto(bytes, s.start, s.end, view);
      else view.set(bytes.subarray(s.start, s.end));
    });
  });
  return {
    entries: spans.map((s, k) => ({ name: s.name, line: s.line, value: values[k] as SecretBuf })),
    problems: [],
  };
}

/**
 * Read the .env file at `path` straight into secure memory and parse it there; the file's
 * bytes are wiped before this returns, the values are the caller's to wipe.
 * @param path - the file (any mode: a .env file is not a passphrase file)
 * @returns entries or problems, as {@link parseDotenv}
 * @throws CrError from the read (`NOT_FOUND`, `TOO_LARGE`, `UNSAFE_PATH`…).
 */
export function readDotenvFile(path: string): DotenvResult {
  const content = readFileToSecret(path, { requirePrivate: false, maxBytes: MAX_DOTENV_BYTES, what: path });
  try {
    return content.use((bytes) => parseDotenv(bytes));
  } finally {
    content.wipe();
  }
}

/** Wipe the values of parsed entries. */
export function wipeDotenv(entries: readonly DotenvEntry[]): void {
  for (const entry of entries) entry.value.wipe();
}

function escapeByte(b: number): number | null {
  switch (b) {
    case 0x6e: // n
      return C.LF;
    case 0x72: // r
      return C.CR;
    case 0x74: // t
      return C.TAB;
    case C.DQUOTE:
      return C.DQUOTE;
    case C.BACKSLASH:
      return C.BACKSLASH;
    default:
      return null;
  }
}

function decodedLength(bytes: Uint8Array, start: number, end: number): number {
  let length = 0;
  for (let k = start; k < end; k++) {
    if (bytes[k] === C.BACKSLASH && k + 1 < end && escapeByte(bytes[k + 1] ?? 0) !== null) k++;
    length++;
  }
  return length;
}

function decodeInto(bytes: Uint8Array, start: number, end: number, out: Uint8Array): void {
  let o = 0;
  for (let k = start; k < end; k++) {
    const b = bytes[k] ?? 0;
    const e = b === C.BACKSLASH && k + 1 < end ? escapeByte(bytes[k + 1] ?? 0) : null;
    if (e !== null) {
      out[o++] = e;
      k++;
    } else {
      out[o++] = b;
    }
  }
}

function matchesAscii(bytes: Uint8Array, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if (bytes[at + k] !== word.charCodeAt(k)) return false;
  return true;
}

/** `[A-Za-z_][A-Za-z0-9_]*`, 1 to 128 bytes, checked on the bytes (architecture §4). */
function nameBytesValid(bytes: Uint8Array, start: number, end: number): boolean {
  if (end <= start || end - start > 128) return false;
  for (let k = start; k < end; k++) {
    const b = bytes[k] ?? 0;
    const letter = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f;
    const digit = b >= 0x30 && b <= 0x39;
    if (!(letter || (digit && k > start))) return false;
  }
  return true;
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let k = start; k < end; k++) out += String.fromCharCode(bytes[k] ?? 0);
  return out;
}
