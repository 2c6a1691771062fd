// SPDX-License-Identifier: AGPL-3.0-only

/** How much of an untrusted string to show. */
export interface CutOptions {
  /** Most UTF-8 bytes of the original shown; the rest is counted, not shown. Default 4096. */
  readonly maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 4096;

/**
 * Characters that must never reach a terminal as themselves: C0 and C1 controls and DEL (they
 * move the cursor, clear the screen, set titles), format characters (bidi overrides and
 * isolates, zero-width spaces and joiners, soft hyphen, BOM), line and paragraph separators,
 * lone surrogates, private use and unassigned code points (a font may draw anything for them).
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/u;
const HIDDEN_ALL = new RegExp(HIDDEN.source, 'gu');
/** Characters a POSIX shell reads as themselves outside quotes. */
const SHELL_PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

const NAMED: Readonly<Record<string, string>> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\x1b': '\\e',
  '\0': '\\0',
};

function codePointEscape(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\U${cp.toString(16).padStart(8, '0')}`;
}

/** A hidden character as bash `$'…'` reads it in any locale: its UTF-8 bytes as `\xNN`. */
function byteEscape(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  return [...Buffer.from(ch, 'utf8')].map((byte) => `\\x${byte.toString(16).padStart(2, '0')}`).join('');
}

/**
 * Cut `text` to at most `maxBytes` UTF-8 bytes, on a code point boundary.
 * @returns the kept part and how many bytes were left out
 */
function cut(text: string, maxBytes: number): { kept: string; dropped: number } {
  const total = Buffer.byteLength(text);
  if (total <= maxBytes) return { kept: text, dropped: 0 };
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return { kept: text.slice(0, end), dropped: total - bytes };
}

export function checkMax(options: CutOptions): number {
  const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError('maxBytes must be a non-negative integer');
  return max;
}

const more = (dropped: number): string => (dropped === 0 ? '' : ` …(${String(dropped)} more bytes)`);

/**
 * `text` with every character that could steer a terminal or hide itself shown as an escape
 * (`\e`, `\n`, `\x85`, `\u202e`…), a backslash doubled so an escape cannot be forged, and
 * anything past `maxBytes` replaced by "…(N more bytes)".
 *
 * @param text - untrusted text
 * @param options - {@link CutOptions}
 * @returns one line of printable text
 * @example
 * ```ts
 * visible('ok\x1b[2Jfake'); // 'ok\\e[2Jfake'
 * ```
 */
export function visible(text: string, options: CutOptions = {}): string {
  const { kept, dropped } = cut(text, checkMax(options));
  return kept.replaceAll('\\', '\\\\').replace(HIDDEN_ALL, codePointEscape) + more(dropped);
}

/** How much of an argument to show, and how much its sender already left out. */
export interface QuoteOptions extends CutOptions {
  /** Bytes the sender cut from the end before it got here (the service bounds what it sends). */
  readonly more?: number;
}

/**
 * One argument as a POSIX shell would need it typed: bare when it is only plain characters,
 * in single quotes otherwise, and as bash `$'…'` when it holds anything hidden (`\e`, `\n`,
 * other characters as their UTF-8 bytes `\xe2\x80\xae`, exact in any locale), so the text
 * stays exact, copyable and free of control characters.
 * An empty argument shows as `''`.
 *
 * @param arg - one untrusted argument
 * @param options - {@link QuoteOptions}; a cut argument is followed by its count, outside quotes
 * @returns the quoted argument
 * @throws RangeError when `maxBytes` or `more` is not a non-negative integer
 * @example
 * ```ts
 * shellQuote('a b'); // "'a b'"
 * shellQuote('abc', { more: 10 }); // 'abc …(10 more bytes)'
 * ```
 */
export function shellQuote(arg: string, options: QuoteOptions = {}): string {
  return quoteCut(arg, checkMax(options), checkCount(options.more, 'more'));
}

/**
 * {@link shellQuote} of `arg` cut at `maxBytes`, counting `before` bytes more that were cut
 * before it got here (a value the service already shortened).
 * @internal
 */
export function quoteCut(arg: string, maxBytes: number, before: number): string {
  const { kept, dropped } = cut(arg, maxBytes);
  let quoted: string;
  if (kept !== '' && SHELL_PLAIN.test(kept)) quoted = kept;
  else if (!HIDDEN.test(kept)) quoted = `'${kept.replaceAll("'", `'\\''`)}'`;
  else quoted = `$'${kept.replaceAll('\\', '\\\\').replaceAll("'", "\\'").replace(HIDDEN_ALL, byteEscape)}'`;
  return quoted + more(dropped + before);
}

/** How much of a command line to show, and what its sender already left out. */
export interface CommandOptions extends CutOptions {
  /** Bytes the sender cut from each argument (by index; missing entries are 0). */
  readonly more?: readonly number[];
  /** Arguments the sender left out after the last one given. */
  readonly omitted?: number;
}

/**
 * A command line with each argument through {@link shellQuote}, joined by spaces: argument
 * boundaries and empty arguments stay visible; what the sender left out is counted.
 *
 * @param argv - the command and its arguments
 * @param options - {@link CommandOptions}; `maxBytes` applies to each argument
 * @returns one line
 * @throws RangeError when `maxBytes`, `omitted` or an entry of `more` is not a non-negative integer
 * @example
 * ```ts
 * quoteCommand(['curl', 'a b'], { omitted: 3 }); // "curl 'a b' …(3 more arguments)"
 * ```
 */
export function quoteCommand(argv: readonly string[], options: CommandOptions = {}): string {
  const max = checkMax(options);
  const quoted = argv.map((arg, i) => quoteCut(arg, max, checkCount(options.more?.[i], 'more')));
  const omitted = checkCount(options.omitted, 'omitted');
  if (omitted > 0) quoted.push(`…(${String(omitted)} more arguments)`);
  return quoted.join(' ');
}

/** A count given by a sender: absent is 0. */
function checkCount(value: number | undefined, name: string): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${name} must be a non-negative integer`);
  return value;
}
