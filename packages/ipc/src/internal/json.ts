// SPDX-License-Identifier: AGPL-3.0-only
import { IpcError } from '../errors.ts';

/**
 * Keys refused anywhere in a header. `__proto__` would become the prototype under plain
 * assignment or a later spread/`Object.assign`; `constructor` and `prototype` are the other
 * two roads to prototype pollution in code that merges objects (architecture §5, G9).
 */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

// fatal: invalid UTF-8 is refused, not replaced. ignoreBOM: a BOM stays a character, which the
// parser then refuses (RFC 8259 §8.1: a sender must not add one).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parse a frame header: strict RFC 8259 JSON with a nesting limit, duplicate keys and the
 * forbidden keys refused. A recursive-descent parser rather than `JSON.parse`, because
 * `JSON.parse` silently keeps the last of duplicate keys and recurses without a limit (a
 * 100 000-deep array is refused here at depth `maxDepth + 1`, with a constant stack).
 * Strings are decoded by `JSON.parse` on their exact literal once the scanner has checked it.
 *
 * @throws IpcError `BAD_JSON` for anything else.
 */
export function parseHeaderJson(bytes: Uint8Array, maxDepth: number): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new IpcError('BAD_JSON', 'the header is not valid UTF-8');
  }
  const parser = new Parser(text, maxDepth);
  const value = parser.value(0);
  parser.ws();
  if (parser.pos !== text.length) parser.fail('unexpected data after the JSON value');
  return value;
}

class Parser {
  pos = 0;
  readonly #text: string;
  readonly #maxDepth: number;

  constructor(text: string, maxDepth: number) {
    this.#text = text;
    this.#maxDepth = maxDepth;
  }

  fail(what: string): never {
    throw new IpcError('BAD_JSON', `invalid header JSON at offset ${this.pos}: ${what}`);
  }

  ws(): void {
    const t = this.#text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos += 1;
    }
  }

  value(depth: number): unknown {
    this.ws();
    const t = this.#text;
    const c = t[this.pos];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default: {
        NUMBER.lastIndex = this.pos;
        const m = NUMBER.exec(t);
        if (m === null) this.fail(c === undefined ? 'unexpected end' : 'unexpected character');
        this.pos += m[0].length;
        const n = Number(m[0]);
        if (!Number.isFinite(n)) this.fail('number out of range');
        return n;
      }
    }
  }

  literal<T>(word: string, value: T): T {
    if (!this.#text.startsWith(word, this.pos)) this.fail('unexpected character');
    this.pos += word.length;
    return value;
  }

  checkDepth(depth: number): void {
    if (depth > this.#maxDepth) this.fail(`nesting deeper than ${this.#maxDepth}`);
  }

  object(depth: number): Record<string, unknown> {
    this.checkDepth(depth);
    this.pos += 1;
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.ws();
    if (this.#text[this.pos] === '}') {
      this.pos += 1;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.#text[this.pos] !== '"') this.fail('expected a key');
      const key = this.string();
      if (FORBIDDEN_KEYS.has(key)) this.fail('forbidden key');
      if (seen.has(key)) this.fail('duplicate key');
      seen.add(key);
      this.ws();
      if (this.#text[this.pos] !== ':') this.fail("expected ':'");
      this.pos += 1;
      const value = this.value(depth);
      // defineProperty, not assignment: no setter on the prototype chain can ever run.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.#text[this.pos];
      this.pos += 1;
      if (c === '}') return out;
      if (c !== ',') this.fail("expected ',' or '}'");
    }
  }

  array(depth: number): unknown[] {
    this.checkDepth(depth);
    this.pos += 1;
    const out: unknown[] = [];
    this.ws();
    if (this.#text[this.pos] === ']') {
      this.pos += 1;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.ws();
      const c = this.#text[this.pos];
      this.pos += 1;
      if (c === ']') return out;
      if (c !== ',') this.fail("expected ',' or ']'");
    }
  }

  string(): string {
    const t = this.#text;
    const start = this.pos;
    let i = start + 1;
    for (;;) {
      if (i >= t.length) {
        this.pos = i;
        this.fail('unterminated string');
      }
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) {
        this.pos = i;
        this.fail('control character in a string');
      }
      if (c === 0x5c) {
        const e = t[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) {
            this.pos = i;
            this.fail('bad \\u escape');
          }
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) {
          this.pos = i;
          this.fail('bad escape');
        }
        i += 2;
        continue;
      }
      i += 1;
    }
    this.pos = i + 1;
    // The literal was checked above, so JSON.parse only decodes escapes here.
    return JSON.parse(t.slice(start, i + 1)) as string;
  }
}
