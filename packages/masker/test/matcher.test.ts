// SPDX-License-Identifier: AGPL-3.0-only
import { randomBytes } from 'node:crypto';
import { SecretBuf } from '@cora/memstore';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FORMS } from '../src/internal/encodings.ts';
import { maskerInternals } from '../src/internal/masker-internals.ts';
import { MASKER_FRAGMENT_BYTES, createMasker, type Masker } from '../src/index.ts';

// The scanner (a sampled 4-gram filter, a run test, hash chains in two secure regions, the
// chunk read in place) against a reference that tries every pattern at every position of the
// whole stream. The reference uses the package's encoders: what is compared is the matching
// and the streaming, not the encodings (masker.test.ts checks those against Node's encoders).

const made: { masker: Masker; values: SecretBuf[] }[] = [];

afterEach(() => {
  for (const { masker, values } of made.splice(0)) {
    masker.dispose();
    for (const v of values) v.wipe();
  }
});

function masker(values: readonly Uint8Array[]): Masker {
  const list = values.map((v, i) => ({ name: `S${i}`, value: SecretBuf.from(Buffer.from(v)) }));
  const m = createMasker(list);
  made.push({ masker: m, values: list.map((s) => s.value) });
  return m;
}

/** Push `input` in the given sizes (cycled), flush, and return everything emitted. */
function run(m: Masker, input: Uint8Array, sizes: readonly number[]): Buffer {
  const parts: Uint8Array[] = [];
  for (let at = 0, k = 0; at < input.length; k += 1) {
    const size = Math.max(1, sizes[k % sizes.length] ?? 1);
    parts.push(m.push(input.subarray(at, at + size)));
    at += size;
  }
  parts.push(m.flush());
  return Buffer.concat(parts);
}

interface RefPattern {
  readonly bytes: Uint8Array;
  readonly caseless: boolean;
  readonly secret: number;
}

const fold = (b: number): number => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b);

/** Every pattern the masker promises for these values, in secret order (the README's list). */
function referencePatterns(values: readonly Uint8Array[]): RefPattern[] {
  const out: RefPattern[] = [];
  values.forEach((value, secret) => {
    if (value.length < 6) return;
    FORMS.forEach((form, f) => {
      const n = form.encode(value, undefined, 0);
      if (n < 0) return;
      const bytes = new Uint8Array(n);
      form.encode(value, bytes, 0);
      // A form that spells the raw value is the raw value (case-sensitive).
      if (f > 0 && Buffer.from(bytes).equals(Buffer.from(value))) return;
      const stored = form.caseless ? bytes.map(fold) : bytes;
      out.push({ bytes: stored, caseless: form.caseless, secret });
      const width =
        form.label === 'hex' ? 2 * MASKER_FRAGMENT_BYTES : form.label === 'raw' ? MASKER_FRAGMENT_BYTES : 0;
      const step = form.label === 'hex' ? 2 : 1;
      for (let k = 0; width > 0 && width < n && k + width <= n; k += step) {
        out.push({ bytes: stored.subarray(k, k + width), caseless: form.caseless, secret });
      }
    });
  });
  return out;
}

/**
 * The contract, literally: at every position the longest pattern starting there (ties: the
 * first secret), in start order; a match starting inside the concealed span extends it (one
 * tag per run of the same secret), bytes no match covers are copied.
 */
function reference(values: readonly Uint8Array[], input: Uint8Array): Buffer {
  const patterns = referencePatterns(values);
  const parts: Buffer[] = [];
  let emitFrom = 0;
  let coverEnd = 0;
  let lastTag = -1;
  for (let i = 0; i < input.length; i += 1) {
    let best: RefPattern | undefined;
    for (const p of patterns) {
      const len = p.bytes.length;
      if (i + len > input.length || (best !== undefined && len <= best.bytes.length)) continue;
      let k = 0;
      while (k < len && p.bytes[k] === (p.caseless ? fold(input[i + k] ?? 0) : input[i + k])) k += 1;
      if (k === len) best = p;
    }
    if (best === undefined) continue;
    const end = i + best.bytes.length;
    if (i >= coverEnd) {
      parts.push(Buffer.from(input.subarray(emitFrom, i)), Buffer.from(`<concealed:S${best.secret}>`));
    } else if (end > coverEnd) {
      if (best.secret !== lastTag) parts.push(Buffer.from(`<concealed:S${best.secret}>`));
    } else {
      continue;
    }
    lastTag = best.secret;
    coverEnd = end;
    emitFrom = end;
  }
  parts.push(Buffer.from(input.subarray(Math.max(emitFrom, 0))));
  return Buffer.concat(parts);
}

/** Values over a small alphabet (so forms overlap and collide), some built from others. */
const valuesArb = fc
  .tuple(
    fc.array(fc.uint8Array({ minLength: 6, maxLength: 20 }), { minLength: 1, maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.constantFrom('prefix', 'overlap', 'inside')), {
      maxLength: 3,
    }),
  )
  .map(([bases, derived]) => {
    const alphabet = Buffer.from('ab0A9f/+=%\\u"\n');
    const values = bases.map((v) => v.map((b) => alphabet[b % alphabet.length] ?? 0x61));
    for (const [a, b, cut, kind] of derived) {
      const x = values[a % values.length] ?? new Uint8Array(6);
      const y = values[b % values.length] ?? new Uint8Array(6);
      if (kind === 'prefix') values.push(x.subarray(0, 6 + (cut % Math.max(1, x.length - 5))));
      else if (kind === 'inside')
        values.push(x.subarray(cut % Math.max(1, x.length - 5)).subarray(0, 6 + (cut % 3)));
      else values.push(Buffer.concat([x.subarray(x.length - 4), y]));
    }
    return values.filter((v) => v.length >= 6);
  });

/** A stream of filler and planted forms, fragments and halves of the values. */
function streamArb(values: readonly Uint8Array[]): fc.Arbitrary<Buffer> {
  const piece = fc.oneof(
    fc
      .uint8Array({ maxLength: 12 })
      .map((a) => Buffer.from(a.map((b) => Buffer.from('ab0A9f /%u')[b % 10] ?? 0x20))),
    fc
      .tuple(fc.nat(), fc.constantFrom('raw', 'hex', 'HEX', 'base64', 'base64url', 'half', 'fragment'))
      .map(([w, form]) => {
        const v = Buffer.from(values[w % values.length] ?? new Uint8Array(0));
        if (form === 'raw') return v;
        if (form === 'HEX') return Buffer.from(v.toString('hex').toUpperCase());
        if (form === 'half') return v.subarray(0, Math.ceil(v.length / 2));
        if (form === 'fragment')
          return v.subarray(w % Math.max(1, v.length - 7), (w % Math.max(1, v.length - 7)) + 9);
        return Buffer.from(v.toString(form));
      }),
  );
  return fc.array(piece, { maxLength: 14 }).map((ps) => Buffer.concat(ps));
}

describe('the scanner against the reference', () => {
  it('should produce exactly the reference output for any values, stream and chunking', () => {
    fc.assert(
      fc.property(
        valuesArb.chain((values) =>
          fc.tuple(
            fc.constant(values),
            streamArb(values),
            fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }),
          ),
        ),
        ([values, input, sizes]) => {
          const expected = reference(values, input);
          const m = masker(values);
          expect(run(m, input, sizes).toString('latin1')).toBe(expected.toString('latin1'));
          // The same masker, a second stream after flush, in one push.
          expect(run(m, input, [input.length || 1]).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('should agree at every alignment of a form to the hold-back and the chunk boundary', () => {
    // Shortest values 6, 7, 8 and 9+ bytes give sampling strides 3, 4, 5 and 5.
    for (const value of ['Zq7Wx2', 'Zq7Wx2a', 'Zq7Wx2ab', 'tok_9f3KqL7zXw2m']) {
      const values = [Buffer.from(value), Buffer.from('other-secret-value-0123')];
      const m = masker(values);
      const hex = Buffer.from(value).toString('hex');
      for (const form of [
        value,
        hex.toUpperCase(),
        Buffer.from(value).toString('base64'),
        value.slice(1) + value,
      ]) {
        for (let lead = 0; lead < 120; lead += 1) {
          // A long tail, so the second push decides the form (not only the flush).
          const input = Buffer.from(`${'.'.repeat(lead)}${form};${'.'.repeat(200 + (lead % 7))}`);
          const expected = reference(values, input);
          for (const first of [lead, lead + 1, lead + 3, 110]) {
            const out = Buffer.concat([
              m.push(input.subarray(0, first)),
              m.push(input.subarray(first)),
              m.flush(),
            ]);
            expect(out.toString(), `${value} ${form} lead ${lead} cut ${first}`).toBe(expected.toString());
          }
        }
      }
    }
  });

  it('should name the first secret when two keep the same pattern matched two ways', () => {
    // One's raw value is the other's hex: kept once case-sensitive and once caseless.
    const raw = Buffer.from('616263646566');
    const input = Buffer.from('[616263646566] [616263646566abcd]');
    for (const values of [
      [raw, Buffer.from('abcdef')],
      [Buffer.from('abcdef'), raw],
    ]) {
      const out = run(masker(values), input, [5]).toString();
      expect(out).toBe(reference(values, input).toString());
      expect(out.startsWith('[<concealed:S0>]')).toBe(true);
    }
  });

  it('should agree on random bytes, where the filter passes almost nothing', () => {
    const values = [randomBytes(32), randomBytes(9), randomBytes(6)];
    const input = Buffer.concat([randomBytes(3000), values[0] ?? Buffer.alloc(0), randomBytes(500)]);
    const m = masker(values);
    expect(run(m, input, [1, 100, 7, 4096]).equals(reference(values, input))).toBe(true);
  });

  it('should check every candidate when one chunk holds thousands of them', () => {
    // ~5,400 occurrences in one 64 KiB push, all checked while the table is open once.
    const value = Buffer.from('tok_9f3KqL7z');
    const m = masker([value]);
    const input = Buffer.concat(
      Array.from({ length: 5400 }, (_, i) => Buffer.from(i % 2 ? ' ' : '\n')).flatMap((sep) => [value, sep]),
    );
    const out = run(m, input, [65536]);
    expect(out.toString()).toBe(input.toString().replaceAll(value.toString(), '<concealed:S0>'));
  });

  it('should conceal long values split across chunks smaller than their longest form', () => {
    // A 3 KiB value: its \u form is 18 KiB, far beyond one chunk and the junction buffer.
    const value = Buffer.from(randomBytes(1536).toString('hex'));
    const m = masker([value]);
    const u = [...value].map((b) => `\\u00${b.toString(16).padStart(2, '0')}`).join('');
    const input = Buffer.from(`a ${value.toString()} b ${u} c ${value.toString('base64')} d`);
    expect(run(m, input, [4000, 1, 65536, 333]).toString()).toBe(
      'a <concealed:S0> b <concealed:S0> c <concealed:S0> d',
    );
  });

  it('should read a chunk that is a view at any offset into a larger buffer', () => {
    const value = Buffer.from('sk-live-0123456789abcdef');
    const m = masker([value]);
    const backing = Buffer.concat([
      Buffer.from('#####'),
      Buffer.from(`x ${value.toString()} y`),
      Buffer.from('###'),
    ]);
    for (let offset = 0; offset < 4; offset += 1) {
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 5, backing.length - 8).subarray(
        offset,
      );
      const out = Buffer.concat([m.push(view), m.flush()]);
      expect(out.toString()).toBe(`${'x '.slice(offset)}<concealed:S0> y`);
    }
  });
});

describe('pauses', () => {
  it('should never show 8 bytes of a value written in random pieces around random pauses', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 9, maxLength: 30 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        (value, asHex, sizes, pauses) => {
          const m = masker([value]);
          const form = asHex ? Buffer.from(Buffer.from(value).toString('hex')) : Buffer.from(value);
          const input = Buffer.concat([Buffer.from('id: '), form, Buffer.from('\n')]);
          const parts: Uint8Array[] = [];
          for (let at = 0, k = 0; at < input.length; k += 1) {
            const size = sizes[k % sizes.length] ?? 1;
            parts.push(m.push(input.subarray(at, at + size)));
            if (pauses[k % pauses.length] === true) parts.push(m.flushIdle());
            at += size;
          }
          parts.push(m.flush());
          const out = Buffer.concat(parts);
          const lower = Buffer.from(out.toString('latin1').toLowerCase(), 'latin1');
          for (let k = 0; k + 8 <= value.length; k += 1) {
            const window = Buffer.from(value.subarray(k, k + 8));
            expect(out.includes(window)).toBe(false);
            expect(lower.includes(Buffer.from(window.toString('hex')))).toBe(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('output buffers', () => {
  it('should return arrays that own exactly their bytes and survive the caller wiping its chunk', () => {
    const m = masker([Buffer.from('sk-live-0123456789abcdef')]);
    const chunk = Buffer.from(`${'.'.repeat(5000)} sk-live-0123456789abcdef ${'.'.repeat(5000)}`);
    const out = m.push(chunk);
    const copy = Buffer.from(out);
    chunk.fill(0);
    expect(Buffer.from(out).equals(copy)).toBe(true);
    expect(out.buffer.byteLength).toBe(out.length);
    expect(Buffer.concat([out, m.flush()]).toString()).toBe(
      `${'.'.repeat(5000)} <concealed:S0> ${'.'.repeat(5000)}`,
    );
  });

  it('should mask a chunk in shared memory the same way (from its own copy)', () => {
    const m = masker([Buffer.from('sk-live-0123456789abcdef')]);
    const text = Buffer.from('x sk-live-0123456789abcdef y');
    const shared = new Uint8Array(new SharedArrayBuffer(text.length));
    shared.set(text);
    expect(Buffer.concat([m.push(shared), m.flush()]).toString()).toBe('x <concealed:S0> y');
    expect(Buffer.from(shared).equals(text)).toBe(true);
  });

  it('should copy a chunk when no value is long enough, not return a view of it', () => {
    // The service wipes each chunk after push: a view would turn the output into zeros.
    const m = masker([Buffer.from('abc')]);
    const chunk = Buffer.from('hello world');
    const out = m.push(chunk);
    chunk.fill(0);
    expect(Buffer.from(out).toString()).toBe('hello world');
  });
});

describe('secure memory layout', () => {
  it('should wipe the filter, the table and the work buffer on dispose', () => {
    const m = masker([Buffer.from('sk-live-0123456789abcdef')]);
    const internals = maskerInternals.get(m);
    m.push(Buffer.from('held: sk-live'));
    expect(internals?.filter.wiped).toBe(false);
    m.dispose();
    expect(internals?.filter.wiped).toBe(true);
    expect(internals?.buffers.every((b) => b.wiped)).toBe(true);
  });

  it('should keep no byte of a chunk in secure memory but the hold-back', () => {
    const value = Buffer.from('sk-live-0123456789abcdef');
    const m = masker([value]);
    const work = maskerInternals.get(m)?.buffers[1];
    // The value is in the chunk's first bytes, which are copied next to the hold-back.
    m.push(Buffer.concat([Buffer.from('a '), value, Buffer.alloc(1000, 0x2e)]));
    const held = work?.use((bytes) => {
      const end = bytes.indexOf(0);
      return {
        end,
        dots: bytes.subarray(0, end).every((b) => b === 0x2e),
        rest: bytes.subarray(end).every((b) => b === 0),
      };
    });
    // Longest form: 24 bytes as \u00XX = 144; the hold-back is 143 bytes of the trailing dots.
    expect(held).toEqual({ end: 143, dots: true, rest: true });
  });

  it('should keep 100 secrets of 32 bytes within the documented bounds', () => {
    const m = masker(Array.from({ length: 100 }, () => randomBytes(32)));
    const internals = maskerInternals.get(m);
    // README "Memory": the table ≤ 1.5 MiB, the filter 16 KiB, the work buffer one page.
    expect(internals?.buffers[0]?.length).toBeLessThanOrEqual(1.5 * 2 ** 20);
    expect(internals?.filter.length).toBe(16 * 1024);
    expect(internals?.buffers[1]?.length).toBe(4096);
  });
});
