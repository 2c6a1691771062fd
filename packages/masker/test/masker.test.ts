// SPDX-License-Identifier: AGPL-3.0-only
// Over 500 lines on purpose: one suite for createMasker over every encoding and chunking it must
// conceal; the table of encoded forms at the top serves all of it.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { SecretBuf, isMemstoreError } from '@cora/memstore';
import { canaryForms, makeCanary } from '@cora/test-utils';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { maskerInternals } from '../src/internal/masker-internals.ts';
import {
  MASKER_FRAGMENT_BYTES,
  createMasker,
  createMaskers,
  isMaskerError,
  type Masker,
} from '../src/index.ts';

// Tests build expected encodings with Node's own encoders (strings are fine here: the oracle
// must be independent of the byte encoders under test).

const made: { masker: Masker; values: SecretBuf[] }[] = [];

afterEach(() => {
  for (const { masker, values } of made.splice(0)) {
    masker.dispose();
    for (const v of values) v.wipe();
  }
});

/** A masker over `secrets` (name → plain value), disposed after the test. */
function masker(secrets: Record<string, Uint8Array | string>, minLength?: number): Masker {
  const list = Object.entries(secrets).map(([name, value]) => ({
    name,
    value: SecretBuf.from(typeof value === 'string' ? Buffer.from(value) : value),
  }));
  const m = createMasker(list, minLength === undefined ? {} : { minLength });
  made.push({ masker: m, values: list.map((s) => s.value) });
  return m;
}

/** Push `input` in the given chunk sizes (cycled), flush, and return everything emitted. */
function run(m: Masker, input: Uint8Array, sizes: readonly number[] = [input.length || 1]): Buffer {
  const parts: Uint8Array[] = [];
  let at = 0;
  let k = 0;
  while (at < input.length) {
    const size = Math.max(1, sizes[k % sizes.length] ?? 1);
    parts.push(m.push(input.subarray(at, at + size)));
    at += size;
    k += 1;
  }
  parts.push(m.flush());
  return Buffer.concat(parts);
}

const text = (s: string): Buffer => Buffer.from(s);

/** RFC 4648 base32, written independently of the masker's bit-walking encoder. */
function base32(bytes: Uint8Array, pad = true): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5)
    out += alphabet.charAt(parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2));
  if (pad) while (out.length % 8 !== 0) out += '=';
  return out;
}

const u4 = (n: number, upper = false): string => {
  const h = n.toString(16).padStart(4, '0');
  return `\\u${upper ? h.toUpperCase() : h}`;
};

/** A value with every class of byte the encoders treat specially, valid UTF-8. */
const TRICKY = 'p@ss/wörd "x" \\ 1+1=2 & a~b*c\n\t\u0001\u007f€😀 end';

/** Every standalone form the masker promises (architecture §8), from independent encoders. */
function standaloneForms(value: string): Record<string, string> {
  const bytes = Buffer.from(value);
  const json = JSON.stringify(value).slice(1, -1);
  const asciiJson = json.replace(/[\u0080-\uffff]/g, (c) => u4(c.charCodeAt(0)));
  const component = encodeURIComponent(value);
  const rfc3986 = component.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const form = new URLSearchParams({ v: value }).toString().slice(2);
  return {
    raw: value,
    hex: bytes.toString('hex'),
    HEX: bytes.toString('hex').toUpperCase(),
    base64: bytes.toString('base64'),
    'base64 unpadded': bytes.toString('base64').replace(/=+$/, ''),
    base64url: bytes.toString('base64url'),
    'base64url padded': bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_'),
    base32: base32(bytes),
    'base32 unpadded': base32(bytes, false),
    'url component': component,
    'url component lower': component.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    'url rfc3986': rfc3986,
    'url rfc3986 lower': rfc3986.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    'url form': form,
    'url every byte': [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''),
    'url every byte lower': [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
    json,
    'json \\/': json.replace(/\//g, '\\/'),
    'json upper \\u00XX': json.replace(/\\u00([0-9a-f]{2})/g, (_m, h: string) => `\\u00${h.toUpperCase()}`),
    'json ensure_ascii': asciiJson,
    '\\u every byte': [...bytes].map((b) => u4(b)).join(''),
    '\\u every byte upper': [...bytes].map((b) => u4(b, true)).join(''),
    '\\u every code unit': Array.from({ length: value.length }, (_, i) => u4(value.charCodeAt(i))).join(''),
    '\\u every code unit upper': Array.from({ length: value.length }, (_, i) =>
      u4(value.charCodeAt(i), true),
    ).join(''),
  };
}

describe('createMasker', () => {
  describe('forms', () => {
    const forms = standaloneForms(TRICKY);

    it.each(Object.entries(forms))('should conceal the %s form', (_label, form) => {
      const m = masker({ API_KEY: TRICKY });
      expect(run(m, text(`before ${form} after`)).toString()).toBe('before <concealed:API_KEY> after');
    });

    it('should conceal the UTF-16LE and UTF-16BE forms, surrogate pairs included', () => {
      const le = Buffer.from(TRICKY, 'utf16le');
      const be = Buffer.from(le).swap16();
      for (const form of [le, be]) {
        const m = masker({ API_KEY: TRICKY });
        const out = run(m, Buffer.concat([text('before '), form, text(' after')]));
        expect(out.toString()).toBe('before <concealed:API_KEY> after');
      }
      // A Windows tool writes its whole output as UTF-16: the value inside is found too.
      const m = masker({ API_KEY: 'sk-live-0123456789' });
      const out = run(m, Buffer.from('key: sk-live-0123456789\r\n', 'utf16le'));
      expect(out.includes(Buffer.from('sk-live-0123456789', 'utf16le'))).toBe(false);
      expect(out.toString()).toContain('<concealed:API_KEY>');
    });

    it('should conceal the \\u code-unit form of a value with a surrogate pair', () => {
      // The oracle above spells each UTF-16 unit; check it really contains a pair.
      expect(forms['\\u every code unit']).toMatch(/\\ud83d\\ude00/);
    });

    it('should conceal hex, base32, percent and \\u forms in mixed case', () => {
      const value = Buffer.from('k3y/\u0001value?');
      const m = masker({ KEY: value });
      const mixed = (s: string): string =>
        [...s].map((c, i) => (i % 2 ? c.toUpperCase() : c.toLowerCase())).join('');
      const forms = [
        value.toString('hex'),
        base32(value).toLowerCase(),
        [...value].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
        [...value].map((b) => u4(b, true)).join(''),
      ];
      for (const form of forms) {
        expect(run(m, text(`<${mixed(form)}>`)).toString()).toBe('<<concealed:KEY>>');
      }
      // The raw value stays case-sensitive: a value that differs in case is not this secret.
      expect(run(m, text('K3Y/\u0001VALUE?')).toString()).toBe('K3Y/\u0001VALUE?');
    });

    it('should conceal the byte forms of a value that is not UTF-8', () => {
      const value = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x41, 0x22, 0x0a, 0xc3]);
      const m = masker({ BIN: value });
      const forms = [
        value,
        text(value.toString('hex')),
        text(value.toString('base64')),
        text(value.toString('base64url')),
        text(base32(value)),
        text([...value].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('')),
        text([...value].map((b) => u4(b)).join('')),
      ];
      for (const form of forms) {
        expect(run(m, Buffer.concat([text('['), form, text(']')])).toString()).toBe('[<concealed:BIN>]');
      }
    });

    it.each([0, 1, 2])('should conceal the base64 core of a value %i bytes into a base64 stream', (shift) => {
      const canary = makeCanary();
      const m = masker({ CANARY: canary });
      for (const encoding of ['base64', 'base64url'] as const) {
        const stream = Buffer.concat([randomBytes(shift + 30), canary, randomBytes(31)]).toString(encoding);
        const out = run(m, text(`x ${stream} y`));
        expect(out.toString()).toContain('<concealed:CANARY>');
        for (const needle of canaryForms(canary)) expect(out.includes(Buffer.from(needle))).toBe(false);
      }
    });

    it.each([0, 1, 2, 3, 4])(
      'should conceal the base32 core of a value %i bytes into a base32 stream',
      (shift) => {
        const value = randomBytes(20);
        const m = masker({ TOKEN: value });
        const stream = base32(Buffer.concat([randomBytes(5 * 7 + shift), value, randomBytes(13)]));
        const out = run(m, text(stream)).toString();
        expect(out).toContain('<concealed:TOKEN>');
        // The characters fully inside the value are gone (the core's middle 20 characters).
        const core = base32(Buffer.concat([Buffer.alloc(shift), value]), false).slice(
          Math.ceil((8 * shift) / 5) + 2,
          -3,
        );
        expect(core.length).toBeGreaterThan(20);
        expect(out).not.toContain(core);
      },
    );

    it('should never let any canaryForms needle through, whatever surrounds them', () => {
      const canary = makeCanary();
      const m = masker({ CANARY: canary });
      const parts: Buffer[] = [];
      for (const needle of canaryForms(canary)) parts.push(randomBytes(17), Buffer.from(needle));
      parts.push(randomBytes(5));
      const out = run(m, Buffer.concat(parts), [1, 7, 64, 3, 1000]);
      for (const needle of canaryForms(canary)) expect(out.includes(Buffer.from(needle))).toBe(false);
    });
  });

  describe('chunk boundaries', () => {
    const value = 'sk-live-0123456789abcdef';
    const input = text(
      `A ${value} B ${Buffer.from(value).toString('base64')} C ${Buffer.from(value).toString('hex')} D`,
    );
    const expected = 'A <concealed:KEY> B <concealed:KEY> C <concealed:KEY> D';

    it('should find values split at every byte position across two chunks', () => {
      const m = masker({ KEY: value });
      for (let cut = 0; cut <= input.length; cut += 1) {
        const out = Buffer.concat([m.push(input.subarray(0, cut)), m.push(input.subarray(cut)), m.flush()]);
        expect(out.toString(), `cut at ${cut}`).toBe(expected);
      }
    });

    it('should find values fed one byte at a time', () => {
      const m = masker({ KEY: value });
      expect(run(m, input, [1]).toString()).toBe(expected);
    });

    it('should hold back a value at the very end until flush', () => {
      const m = masker({ KEY: value });
      const first = m.push(text(`tail ${value}`));
      expect(Buffer.from(first).includes(value)).toBe(false);
      expect(Buffer.concat([first, m.flush()]).toString()).toBe('tail <concealed:KEY>');
    });

    it('should emit at once everything before the bounded hold-back', () => {
      const m = masker({ KEY: value });
      const data = Buffer.alloc(1 << 20, 0x2e);
      const out = m.push(data);
      // Longest form: 24 bytes as \u00XX = 144 bytes; hold back at most 143.
      expect(out.length).toBe(data.length - 143);
      expect(m.flush().length).toBe(143);
    });

    it('should start a new stream after flush', () => {
      const m = masker({ KEY: value });
      // 7 bytes: shorter than a fragment, so they pass once the stream ended.
      expect(Buffer.concat([m.push(text(value.slice(0, 7))), m.flush()]).toString()).toBe(value.slice(0, 7));
      expect(run(m, text(value)).toString()).toBe('<concealed:KEY>');
    });

    it('should handle chunks larger than the internal 64 KiB slice', () => {
      const m = masker({ KEY: value });
      const big = Buffer.concat([Buffer.alloc(65536 - 10, 0x2e), text(value), Buffer.alloc(200_000, 0x2e)]);
      const out = run(m, big);
      expect(out.toString()).toBe(`${'.'.repeat(65526)}<concealed:KEY>${'.'.repeat(200_000)}`);
    });
  });

  describe('overlaps and limits', () => {
    it('should conceal both of two overlapping secrets, leftmost first', () => {
      const m = masker({ A: 'abcdefghij', B: 'ghijklmnop' });
      expect(run(m, text('xx abcdefghijklmnop yy')).toString()).toBe('xx <concealed:A><concealed:B> yy');
    });

    it('should prefer the longest form at a position and not split a secret that contains another', () => {
      const m = masker({ SHORT: 'value123', LONG: 'secretvalue123' });
      expect(run(m, text('1 secretvalue123 2 value123 3')).toString()).toBe(
        '1 <concealed:LONG> 2 <concealed:SHORT> 3',
      );
    });

    it('should merge overlapping occurrences of one secret into one tag, not adjacent ones', () => {
      const m = masker({ A: 'aaaaaa', B: 'abcdef' });
      expect(run(m, text('x aaaaaaaaaaaaaaa y abcdefabcdef z'), [3]).toString()).toBe(
        'x <concealed:A> y <concealed:B><concealed:B> z',
      );
    });

    it('should leave values under 6 bytes alone and mask 6-byte ones', () => {
      const m = masker({ FIVE: 'abcde', SIX: 'uvwxyz' });
      expect(run(m, text('abcde uvwxyz')).toString()).toBe('abcde <concealed:SIX>');
    });

    it('should honour a larger minLength', () => {
      const m = masker({ SIX: 'uvwxyz', TEN: '0123456789' }, 10);
      expect(run(m, text('uvwxyz 0123456789')).toString()).toBe('uvwxyz <concealed:TEN>');
    });

    it('should name the first secret when two share a value', () => {
      const m = masker({ FIRST: 'same-value', SECOND: 'same-value' });
      expect(run(m, text('same-value')).toString()).toBe('<concealed:FIRST>');
    });

    it('should pass everything through when no secret is long enough', () => {
      const m = masker({ A: 'abc' });
      const data = randomBytes(1000);
      const out = m.push(data);
      expect(Buffer.from(out).equals(data)).toBe(true);
      expect(out).not.toBe(data);
      expect(m.flush().length).toBe(0);
    });

    it('should conceal every one of 100 secrets, each planted in several forms', () => {
      const values = Array.from({ length: 100 }, () => randomBytes(32));
      const m = masker(Object.fromEntries(values.map((v, i) => [`S${i}`, v])));
      const parts: Buffer[] = [];
      values.forEach((v, i) => {
        parts.push(
          text(` ${i}:`),
          v,
          text(' '),
          text(v.toString(['hex', 'base64', 'base64url'][i % 3] as 'hex')),
        );
      });
      const out = run(m, Buffer.concat(parts), [4096, 13, 65536]);
      for (const v of values) {
        for (const needle of [
          v,
          text(v.toString('hex')),
          text(v.toString('base64')),
          text(v.toString('base64url')),
        ]) {
          expect(out.includes(needle)).toBe(false);
        }
      }
      values.forEach((_, i) => {
        expect(out.includes(text(` ${i}:<concealed:S${i}> <concealed:S${i}>`))).toBe(true);
      });
    });

    it('should not change data that holds no secret', () => {
      const m = masker(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`S${i}`, randomBytes(16)])));
      const data = randomBytes(300_000);
      expect(run(m, data, [4096, 1, 65536, 17]).equals(data)).toBe(true);
    });
  });

  describe('properties', () => {
    it('should conceal every planted form and keep every other byte, for any chunking', () => {
      // Filler bytes come from a set no form of any value can contain (values avoid it too;
      // '%' is left out because percent-encoded forms use it), so no match can ever cover
      // filler: every filler run must come out intact and in order.
      const FILLER = [0x20, 0x21, 0x22, 0x23, 0x24, 0x26, 0x27];
      const notFiller = (b: number): number => (FILLER.includes(b) ? b + 0x10 : b);
      const FORMS = ['raw', 'hex', 'HEX', 'base64', 'base64url'] as const;
      const encode = (v: Uint8Array, form: (typeof FORMS)[number]): Buffer => {
        const b = Buffer.from(v);
        if (form === 'raw') return b;
        if (form === 'HEX') return text(b.toString('hex').toUpperCase());
        return text(b.toString(form));
      };
      fc.assert(
        fc.property(
          fc.array(
            fc.uint8Array({ minLength: 6, maxLength: 40 }).map((v) => v.map(notFiller)),
            { minLength: 1, maxLength: 4 },
          ),
          fc.array(
            fc.record({
              filler: fc.array(fc.constantFrom(...FILLER), { maxLength: 40 }).map((a) => Buffer.from(a)),
              which: fc.nat(),
              form: fc.constantFrom(...FORMS),
            }),
            { maxLength: 8 },
          ),
          fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
          (values, plants, sizes) => {
            const m = masker(Object.fromEntries(values.map((v, i) => [`S${i}`, v])));
            const input = Buffer.concat(
              plants.flatMap((p) => [p.filler, encode(values[p.which % values.length]!, p.form)]),
            );
            const out = run(m, input, sizes);
            for (const v of values)
              for (const form of FORMS) expect(out.includes(encode(v, form))).toBe(false);
            // Fillers survive byte for byte, in order.
            let from = 0;
            for (const p of plants) {
              if (p.filler.length === 0) continue;
              const at = out.indexOf(p.filler, from);
              expect(at).toBeGreaterThanOrEqual(from);
              from = at + p.filler.length;
            }
            // Whatever is not a tag is a run of the input, in order (nothing altered or added).
            const source = input.toString('latin1');
            let cursor = 0;
            for (const segment of out.toString('latin1').split(/<concealed:S\d+>/)) {
              const at = source.indexOf(segment, cursor);
              expect(at).toBeGreaterThanOrEqual(cursor);
              cursor = at + segment.length;
            }
            // Chunking never changes the result.
            expect(out.equals(run(m, input))).toBe(true);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe('secure memory', () => {
    it('should wipe its internal buffers on dispose', () => {
      const m = masker({ KEY: 'sk-live-0123456789abcdef' });
      m.push(text('held back: sk-live-0123'));
      const internals = maskerInternals.get(m);
      expect(internals?.buffers.length).toBe(2);
      expect(internals?.buffers.every((b) => !b.wiped)).toBe(true);
      m.dispose();
      expect(internals?.buffers.every((b) => b.wiped)).toBe(true);
      m.dispose(); // idempotent
    });

    it('should let streams of createMaskers share the table but not their hold-back, and wipe the table with the last', () => {
      const value = SecretBuf.from(Buffer.from('sk-live-0123456789abcdef'));
      try {
        const [a, b, c] = createMaskers([{ name: 'KEY', value }], 3) as [Masker, Masker, Masker];
        const [ia, ib, ic] = [a, b, c].map((m) => maskerInternals.get(m));
        expect(ia?.buffers[0]).toBe(ib?.buffers[0]); // one table
        expect(ia?.buffers[1]).not.toBe(ib?.buffers[1]); // a hold-back each
        // What one stream holds back never comes out of another.
        a.push(text('a holds sk-live-0'));
        expect(Buffer.from(b.push(text('b says hi'))).toString() + Buffer.from(b.flush()).toString()).toBe(
          'b says hi',
        );
        // A whole value on one stream, while another holds a piece back.
        b.push(text('waiting sk-live-0123'));
        expect(run(c, text('a sk-live-0123456789abcdef b')).toString()).toBe('a <concealed:KEY> b');
        expect(Buffer.concat([b.push(text('456789abcdef!')), b.flush()]).toString()).toBe(
          'waiting <concealed:KEY>!',
        );
        a.dispose();
        b.dispose();
        expect(ia?.buffers[1]?.wiped).toBe(true);
        expect(ia?.buffers[0]?.wiped).toBe(false); // c still uses the table
        expect(run(c, text('again sk-live-0123456789abcdef')).toString()).toBe('again <concealed:KEY>');
        c.dispose();
        expect([...(ic?.buffers ?? []), ic?.filter].every((buf) => buf?.wiped === true)).toBe(true);
      } finally {
        value.wipe();
      }
      expect(() => createMaskers([], 0)).toThrow(RangeError);
      expect(() => createMaskers([], 17)).toThrow(RangeError);
    });

    it('should zero the hold-back on flush', () => {
      const m = masker({ KEY: 'sk-live-0123456789abcdef' });
      m.push(text('held back: sk-live-0123'));
      const work = maskerInternals.get(m)?.buffers[1];
      expect(work?.use((b) => b.some((x) => x !== 0))).toBe(true);
      m.flush();
      expect(work?.use((b) => b.every((x) => x === 0))).toBe(true);
    });

    it('should not keep or change the caller’s chunk', () => {
      const m = masker({ KEY: 'sk-live-0123456789abcdef' });
      const chunk = text('x sk-live-0123456789abcdef y');
      const copy = Buffer.from(chunk);
      m.push(chunk);
      expect(chunk.equals(copy)).toBe(true);
    });

    it('should keep working on values it copied after the caller wiped them', () => {
      const value = SecretBuf.from(text('sk-live-0123456789abcdef'));
      const m = createMasker([{ name: 'KEY', value }]);
      value.wipe();
      expect(run(m, text('a sk-live-0123456789abcdef b')).toString()).toBe('a <concealed:KEY> b');
      m.dispose();
    });
  });

  describe('errors', () => {
    it('should throw TypeError when secrets is not an array of { name, value }', () => {
      expect(() => createMasker('x' as never)).toThrow(TypeError);
      expect(() => createMasker([{ name: 'A', value: Buffer.from('abcdefgh') as never }])).toThrow(TypeError);
    });

    it('should throw RangeError for an invalid name or minLength', () => {
      const value = SecretBuf.from(text('abcdefgh'));
      try {
        expect(() => createMasker([{ name: '9bad', value }])).toThrow(RangeError);
        expect(() => createMasker([{ name: 'A', value }], { minLength: 5 })).toThrow(RangeError);
        expect(() => createMasker([{ name: 'A', value }], { minLength: 6.5 })).toThrow(RangeError);
      } finally {
        value.wipe();
      }
    });

    it('should throw MemstoreError WIPED for a wiped value', () => {
      const value = SecretBuf.from(text('abcdefgh'));
      value.wipe();
      expect(() => createMasker([{ name: 'A', value: value }])).toThrow(
        expect.toSatisfy((e: unknown) => isMemstoreError(e, 'WIPED')) as Error,
      );
    });

    it('should throw TypeError for a chunk that is not a Uint8Array', () => {
      const m = masker({ KEY: 'abcdefgh' });
      expect(() => m.push('abc' as never)).toThrow(TypeError);
    });

    it('should throw MaskerError DISPOSED after dispose', () => {
      const m = masker({ KEY: 'abcdefgh' });
      m.dispose();
      for (const call of [() => m.push(text('x')), () => m.flush()]) {
        expect(call).toThrow(expect.toSatisfy((e: unknown) => isMaskerError(e, 'DISPOSED')) as Error);
      }
    });
  });
});

describe('createMasker completeness (issue 13 §4)', () => {
  /**
   * A value whose every encoding below breaks it into runs of fewer than 8 kept bytes, so a
   * form is only concealed whole (one tag, nothing left over) when the masker knows that form.
   */
  const VALUE = "ab/cd~ef*gh ij&kl<mn>op(qr)st!uv;wx,yz?AB:CD@EF=GH+IJ$KL#MN\u2028OP\u2029QR'ST";

  /** Forms produced by the real tools: Python's urllib and json, Node's encodeURI(Component). */
  function toolForms(value: string): Record<string, string> {
    const script = [
      'import json, sys, urllib.parse as u',
      'v = sys.argv[1]',
      'print(json.dumps([u.quote(v), u.quote_plus(v), u.quote(v, safe=""), json.dumps(v)[1:-1],',
      '  json.dumps(v, ensure_ascii=False)[1:-1]]))',
    ].join('\n');
    const py = JSON.parse(execFileSync('python3', ['-c', script, value], { encoding: 'utf8' })) as string[];
    const [quote, quotePlus, quoteAll, pyJson, pyJsonUtf8] = py as [string, string, string, string, string];
    const component = encodeURIComponent(value);
    const strict = component.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    return {
      'python quote': quote,
      'python quote_plus': quotePlus,
      'python quote safe=""': quoteAll,
      // Other form encoders differ on ~ and *: PHP urlencode encodes both, WHATWG keeps *.
      'php urlencode': quotePlus.replace(/~/g, '%7E'),
      'whatwg form': new URLSearchParams({ v: value }).toString().slice(2),
      'form keeping ~ and *': quotePlus.replace(/%2A/g, '*'),
      'python json.dumps': pyJson,
      'python json.dumps ensure_ascii=False': pyJsonUtf8,
      encodeURI: encodeURI(value),
      encodeURIComponent: component,
      'rfc3986 strict': strict,
      'go encoding/json': goJson(value, false),
      'go encoding/json before 1.22': goJson(value, true),
      'json \\/': JSON.stringify(value).slice(1, -1).replace(/\//g, '\\/'),
    };
  }

  /**
   * Go's encoding/json string escaping, by its spec (encode.go appendString): `"` `\\` `\n`
   * `\r` `\t` (and since 1.22 `\b` `\f`) short, other controls `\u00xx`, and with HTML escaping
   * (the default) `<` `>` `&` as `\u003c` `\u003e` `\u0026`; U+2028/U+2029 always `\u2028`/`\u2029`.
   */
  function goJson(value: string, legacy: boolean): string {
    let out = '';
    for (const ch of value) {
      const c = ch.codePointAt(0) ?? 0;
      const short: Record<number, string> = {
        0x22: '\\"',
        0x5c: '\\\\',
        0x0a: '\\n',
        0x0d: '\\r',
        0x09: '\\t',
      };
      if (!legacy) Object.assign(short, { 0x08: '\\b', 0x0c: '\\f' });
      if (short[c] !== undefined) out += short[c];
      else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029)
        out += u4(c);
      else out += ch;
    }
    return out;
  }

  const VALUES = [VALUE, 'x\b\fy<z>&1/2~3*4 5\u2028\u2029end'];

  for (const [v, value] of VALUES.entries()) {
    for (const [label, form] of Object.entries(toolForms(value))) {
      for (const [caseLabel, spelled] of [
        ['', form],
        [' lower hex', form.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
        [
          ' upper hex',
          form.replace(/(%|\\u)([0-9a-f]{2,4})/g, (_m, p: string, h: string) => p + h.toUpperCase()),
        ],
      ] as const) {
        if (spelled === value) continue; // the raw form, tested above
        it(`should conceal value ${v} in ${label}${caseLabel} form, whole`, () => {
          const m = masker({ KEY: value });
          const out = run(m, text(`x= ${spelled} &y`), [5, 11]).toString();
          expect(out).toBe('x= <concealed:KEY> &y');
        });
      }
    }
  }

  describe('fragments', () => {
    const value = 'tok_9f3KqL7zXw2mVb8RcY4nHs6D';
    const hex = Buffer.from(value).toString('hex');

    it(`should be ${String(MASKER_FRAGMENT_BYTES)} bytes`, () => {
      expect(MASKER_FRAGMENT_BYTES).toBe(8);
    });

    it('should conceal any run of 8+ bytes at the start, middle or end of the output, split anywhere', () => {
      const m = masker({ KEY: value });
      for (let from = 0; from + 8 <= value.length; from += 3) {
        for (const len of [8, 9, 13]) {
          const piece = value.slice(from, from + len);
          if (piece.length < 8) continue;
          for (const [input, expected] of [
            [piece, '<concealed:KEY>'],
            [`[${piece}]`, '[<concealed:KEY>]'],
            [`say ${piece}`, 'say <concealed:KEY>'],
          ] as const) {
            for (let cut = 0; cut <= input.length; cut += 1) {
              const out = Buffer.concat([
                m.push(text(input.slice(0, cut))),
                m.push(text(input.slice(cut))),
                m.flush(),
              ]);
              expect(out.toString(), `${piece} cut at ${cut}`).toBe(expected);
            }
          }
        }
      }
    });

    it('should conceal runs of 8+ bytes as hex digits, lower, upper and mixed case', () => {
      const m = masker({ KEY: value });
      for (let from = 0; from + 16 <= hex.length; from += 2) {
        const piece = hex.slice(from, from + 16 + 2 * (from % 3));
        for (const spelled of [
          piece,
          piece.toUpperCase(),
          `${piece.slice(0, 5).toUpperCase()}${piece.slice(5)}`,
        ]) {
          expect(run(m, text(`h=${spelled};`), [3, 7]).toString()).toBe('h=<concealed:KEY>;');
        }
      }
    });

    it('should leave runs of 7 bytes (14 hex digits) alone', () => {
      const m = masker({ KEY: value });
      expect(run(m, text(`a ${value.slice(3, 10)} b ${hex.slice(4, 18)} c`)).toString()).toBe(
        `a ${value.slice(3, 10)} b ${hex.slice(4, 18)} c`,
      );
    });

    it('should never let 8 consecutive bytes of a value through, for any fragment and chunking', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 8, maxLength: 40 }),
          fc.nat(),
          fc.nat(),
          fc.uint8Array({ maxLength: 30 }),
          fc.uint8Array({ maxLength: 30 }),
          fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 5 }),
          fc.boolean(),
          (secret, a, b, before, after, sizes, asHex) => {
            const start = a % (secret.length - 7);
            const end = start + 8 + (b % (secret.length - start - 7));
            const piece = Buffer.from(secret.subarray(start, end));
            const shown = asHex ? text(piece.toString('hex')) : piece;
            const m = masker({ KEY: secret });
            const out = run(m, Buffer.concat([before, shown, after]), sizes);
            expect(hasRun(out, secret)).toBe(false);
          },
        ),
        { numRuns: 300 },
      );
    });
  });

  describe('pauses (flushIdle)', () => {
    const value = 'tok_9f3KqL7zXw2mVb8RcY4nHs6D';

    /** Feed `pieces`, calling flushIdle after each (a pause longer than 150 ms), then flush. */
    function paused(m: Masker, pieces: readonly string[]): Buffer {
      const parts: Uint8Array[] = [];
      for (const piece of pieces) parts.push(m.push(text(piece)), m.flushIdle());
      parts.push(m.flush());
      return Buffer.concat(parts);
    }

    it('should not show a value written in two pieces around a pause, split anywhere', () => {
      const m = masker({ KEY: value });
      const hex = Buffer.from(value).toString('hex');
      for (const form of [value, hex, hex.toUpperCase()]) {
        const input = `> ${form} <`;
        for (let cut = 0; cut <= input.length; cut += 1) {
          const out = paused(m, [input.slice(0, cut), input.slice(cut)]);
          expect(hasRun(out, Buffer.from(value)), `cut at ${cut}: ${out.toString()}`).toBe(false);
        }
      }
    });

    it('should not show a value written a few bytes at a time with pauses between', () => {
      for (const step of [1, 2, 3, 5, 7, 9, 15]) {
        const m = masker({ KEY: value });
        const hex = Buffer.from(value).toString('hex');
        for (const form of [value, hex]) {
          const pieces = [];
          for (let at = 0; at < form.length; at += step) pieces.push(form.slice(at, at + step));
          const out = paused(m, ['id: ', ...pieces, '\n']);
          expect(hasRun(out, Buffer.from(value)), `step ${step}: ${out.toString()}`).toBe(false);
        }
      }
    });

    it('should not show a 6-byte value written in two pieces around a pause', () => {
      const m = masker({ PIN: 'Zq7Wx2' });
      for (const form of ['Zq7Wx2', Buffer.from('Zq7Wx2').toString('hex')]) {
        for (let cut = 1; cut < form.length; cut += 1) {
          const out = paused(m, [`pin ${form.slice(0, cut)}`, `${form.slice(cut)} ok`]);
          expect(out.toString()).toBe('pin <concealed:PIN> ok');
        }
      }
    });

    it('should show a prompt that is no piece of a value at the pause', () => {
      const m = masker({ KEY: value });
      expect(Buffer.from(m.push(text('Password: '))).toString()).toBe('');
      expect(Buffer.from(m.flushIdle()).toString()).toBe('Password: ');
      expect(Buffer.from(m.push(text('ok\n'))).toString()).toBe('');
      expect(Buffer.from(m.flush()).toString()).toBe('ok\n');
    });

    it('should hold only the tail that is a piece of a value, until more output or the end', () => {
      const m = masker({ KEY: value });
      m.push(text('prompt tok_9f'));
      expect(Buffer.from(m.flushIdle()).toString()).toBe('prompt ');
      expect(Buffer.from(m.flushIdle()).toString()).toBe('');
      expect(Buffer.from(m.flush()).toString()).toBe('tok_9f');
    });

    it('should throw MaskerError DISPOSED after dispose', () => {
      const m = masker({ KEY: value });
      m.dispose();
      expect(() => m.flushIdle()).toThrow(expect.objectContaining({ code: 'DISPOSED' }) as Error);
    });
  });
});

/** Whether `out` holds 8 consecutive bytes of `secret`, raw or as hex digits in any case. */
function hasRun(out: Uint8Array, secret: Uint8Array): boolean {
  const hay = Buffer.from(out);
  const lower = Buffer.from(hay.toString('latin1').toLowerCase(), 'latin1');
  for (let k = 0; k + 8 <= secret.length; k += 1) {
    const window = Buffer.from(secret.subarray(k, k + 8));
    if (hay.includes(window)) return true;
    if (lower.includes(Buffer.from(window.toString('hex')))) return true;
  }
  return hay.includes(Buffer.from(secret));
}
