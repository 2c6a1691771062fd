// SPDX-License-Identifier: AGPL-3.0-only
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_KEY_BYTES,
  MAX_VALUE_BYTES,
  SecretBuf,
  decodeSecretsBlock,
  encodeSecretsBlock,
  wipeSecretsBlock,
  type SecretEntry,
  type SecretsBlock,
} from '../src/index.ts';
import { liveSecretBufs } from '../src/internal/live.ts';
import { codeOf } from './helpers.ts';

const JSON_OK = new TextEncoder().encode('{"policy":{"tasks":[]},"meta":{"v":1}}');

interface RawEntry {
  name: Uint8Array | string;
  value: Uint8Array;
  /** Length field written for the value; defaults to value.length. */
  valueLen?: number;
  created?: bigint;
  updated?: bigint;
}

/** Hand-built block bytes (test only), so malformed variants can be made field by field. */
function rawBlock(opts: {
  entries?: RawEntry[];
  count?: number;
  keyLen?: number;
  key?: Uint8Array;
  json?: Uint8Array;
  trailing?: Uint8Array;
}): Uint8Array {
  const parts: Uint8Array[] = [];
  const u16 = (v: number): Uint8Array => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return b;
  };
  const u32 = (v: number): Uint8Array => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const u64 = (v: bigint): Uint8Array => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return b;
  };
  const entries = opts.entries ?? [];
  parts.push(u32(opts.count ?? entries.length));
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    parts.push(
      u16(name.length),
      name,
      u32(e.valueLen ?? e.value.length),
      e.value,
      u64(e.created ?? 1n),
      u64(e.updated ?? 2n),
    );
  }
  const key = opts.key ?? new Uint8Array(AUDIT_KEY_BYTES).fill(0xaa);
  const json = opts.json ?? JSON_OK;
  parts.push(u16(opts.keyLen ?? key.length), key, u32(json.length), json, opts.trailing ?? new Uint8Array(0));
  return Buffer.concat(parts);
}

/** Decode bytes; return the error code, and check the input was consumed and nothing leaked. */
function refusal(bytes: Uint8Array): string {
  const before = liveSecretBufs.count;
  const input = SecretBuf.from(bytes);
  const code = codeOf(() => decodeSecretsBlock(input));
  expect(input.wiped).toBe(true);
  expect(liveSecretBufs.count).toBe(before);
  return code;
}

function plainBytes(buf: SecretBuf): Uint8Array {
  // Test-only copy for byte-level assertions.
  return buf.use((b) => new Uint8Array(b));
}

function key(fill = 0x11): SecretBuf {
  return SecretBuf.from(new Uint8Array(AUDIT_KEY_BYTES).fill(fill));
}

const nameArb = fc
  .tuple(
    fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_'),
    fc.string({
      unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'),
      maxLength: 127,
    }),
  )
  .map(([head, tail]) => head + tail);
const timeArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const entryArb = fc.record({
  name: nameArb,
  value: fc.uint8Array({ maxLength: 2048 }),
  created: timeArb,
  updated: timeArb,
});
const jsonArb = fc
  .dictionary(fc.string(), fc.jsonValue())
  .map((o) => new TextEncoder().encode(JSON.stringify(o)));

describe('encodeSecretsBlock / decodeSecretsBlock', () => {
  it('should round-trip random secret sets (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(entryArb, { selector: (e) => e.name, maxLength: 12 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        jsonArb,
        (raw, keyBytes, json) => {
          const before = liveSecretBufs.count;
          const entries: SecretEntry[] = raw.map((e) => ({ ...e, value: SecretBuf.from(e.value) }));
          const block: SecretsBlock = { entries, auditKey: SecretBuf.from(keyBytes), json };
          const encoded = encodeSecretsBlock(block);
          const expectedLength =
            4 + raw.reduce((n, e) => n + 22 + e.name.length + e.value.length, 0) + 2 + 32 + 4 + json.length;
          expect(encoded.length).toBe(expectedLength);
          const decoded = decodeSecretsBlock(encoded);
          expect(encoded.wiped).toBe(true);
          expect(decoded.entries.map((e) => [e.name, e.created, e.updated])).toEqual(
            raw.map((e) => [e.name, e.created, e.updated]),
          );
          decoded.entries.forEach((e, i) => {
            expect(e.value.equals(entries[i]?.value as SecretBuf)).toBe(true);
          });
          expect(decoded.auditKey.equals(block.auditKey)).toBe(true);
          expect(Buffer.from(decoded.json).equals(Buffer.from(json))).toBe(true);
          expect(Buffer.isBuffer(decoded.json)).toBe(false);
          wipeSecretsBlock(decoded);
          wipeSecretsBlock(block);
          expect(liveSecretBufs.count).toBe(before);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('should decode what it encodes byte for byte (property over raw blocks)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(entryArb, { selector: (e) => e.name, maxLength: 6 }), (raw) => {
        const bytes = rawBlock({
          entries: raw.map((e) => ({
            name: e.name,
            value: e.value,
            created: BigInt(e.created),
            updated: BigInt(e.updated),
          })),
        });
        const decoded = decodeSecretsBlock(SecretBuf.from(bytes));
        const again = encodeSecretsBlock(decoded);
        expect(Buffer.from(plainBytes(again)).equals(Buffer.from(bytes))).toBe(true);
        again.wipe();
        wipeSecretsBlock(decoded);
      }),
      { numRuns: 100 },
    );
  });

  it('should encode the architecture §4 layout little-endian', () => {
    const value = SecretBuf.from(new Uint8Array([0xde, 0xad]));
    const auditKey = key(0x33);
    const json = new TextEncoder().encode('{}');
    const out = encodeSecretsBlock({
      entries: [{ name: 'AB', value, created: 0x0102, updated: 2 ** 40 }],
      auditKey,
      json,
    });
    const expected = Buffer.concat([
      Buffer.from(
        '01000000' + '0200' + '4142' + '02000000' + 'dead' + '0201000000000000' + '0000000000010000' + '2000',
        'hex',
      ),
      Buffer.alloc(32, 0x33),
      Buffer.from('02000000' + '7b7d', 'hex'),
    ]);
    expect(Buffer.from(plainBytes(out)).equals(expected)).toBe(true);
    for (const b of [out, value, auditKey]) b.wipe();
  });

  it('should encode an empty store', () => {
    const auditKey = key();
    const out = encodeSecretsBlock({ entries: [], auditKey, json: new TextEncoder().encode('{}') });
    const decoded = decodeSecretsBlock(out);
    expect(decoded.entries).toEqual([]);
    wipeSecretsBlock(decoded);
    auditKey.wipe();
  });
});

describe('decodeSecretsBlock refusals', () => {
  it('should accept the hand-built baseline', () => {
    const decoded = decodeSecretsBlock(
      SecretBuf.from(rawBlock({ entries: [{ name: 'A', value: new Uint8Array([1]) }] })),
    );
    expect(decoded.entries[0]?.name).toBe('A');
    wipeSecretsBlock(decoded);
  });

  it('should refuse a block cut at every byte offset with BLOCK_TRUNCATED and leak nothing', () => {
    const valid = rawBlock({
      entries: [
        { name: 'FIRST', value: new Uint8Array(40).fill(7) },
        { name: 'SECOND', value: new Uint8Array(3).fill(8) },
      ],
    });
    for (let cut = 0; cut < valid.length; cut++) {
      expect(refusal(valid.subarray(0, cut)), `cut at ${String(cut)}`).toBe('BLOCK_TRUNCATED');
    }
  });

  it('should refuse a trailing byte with BLOCK_TRAILING_BYTES', () => {
    expect(
      refusal(
        rawBlock({ entries: [{ name: 'A', value: new Uint8Array(1) }], trailing: new Uint8Array([0]) }),
      ),
    ).toBe('BLOCK_TRAILING_BYTES');
  });

  it('should refuse duplicate names with BLOCK_DUPLICATE_NAME', () => {
    const v = new Uint8Array([1]);
    expect(
      refusal(
        rawBlock({
          entries: [
            { name: 'A', value: v },
            { name: 'B', value: v },
            { name: 'A', value: v },
          ],
        }),
      ),
    ).toBe('BLOCK_DUPLICATE_NAME');
  });

  it('should refuse invalid names with BLOCK_INVALID_NAME', () => {
    for (const name of ['', '1A', 'A-B', 'A B', 'é', 'x'.repeat(129), 'A\u0000']) {
      expect(
        refusal(
          rawBlock({
            entries: [
              { name: 'OK', value: new Uint8Array(2) },
              { name, value: new Uint8Array(1) },
            ],
          }),
        ),
        name,
      ).toBe('BLOCK_INVALID_NAME');
    }
  });

  it('should refuse a name that is not valid UTF-8 with BLOCK_INVALID_NAME', () => {
    for (const name of [
      new Uint8Array([0xff]),
      new Uint8Array([0x41, 0xc3]),
      new Uint8Array([0xed, 0xa0, 0x80]),
    ]) {
      expect(refusal(rawBlock({ entries: [{ name, value: new Uint8Array(1) }] }))).toBe('BLOCK_INVALID_NAME');
    }
  });

  it('should refuse a huge count without allocating for it', () => {
    const before = performance.now();
    expect(refusal(rawBlock({ count: 0xffff_ffff }))).toBe('BLOCK_TRUNCATED');
    expect(refusal(rawBlock({ entries: [{ name: 'A', value: new Uint8Array(1) }], count: 100 }))).toBe(
      'BLOCK_TRUNCATED',
    );
    expect(performance.now() - before).toBeLessThan(1000);
  });

  it('should refuse a value over 64 KiB with BLOCK_VALUE_TOO_LARGE', () => {
    const big = new Uint8Array(MAX_VALUE_BYTES + 1);
    expect(refusal(rawBlock({ entries: [{ name: 'A', value: big }] }))).toBe('BLOCK_VALUE_TOO_LARGE');
    // A length field over the cap is refused before the (missing) bytes are looked at.
    expect(
      refusal(rawBlock({ entries: [{ name: 'A', value: new Uint8Array(0), valueLen: 0xffff_ffff }] })),
    ).toBe('BLOCK_VALUE_TOO_LARGE');
    const exact = decodeSecretsBlock(
      SecretBuf.from(rawBlock({ entries: [{ name: 'A', value: new Uint8Array(MAX_VALUE_BYTES) }] })),
    );
    expect(exact.entries[0]?.value.length).toBe(MAX_VALUE_BYTES);
    wipeSecretsBlock(exact);
  });

  it('should refuse an audit key that is not 32 bytes with BLOCK_BAD_AUDIT_KEY', () => {
    for (const n of [0, 16, 31, 33, 64]) {
      expect(refusal(rawBlock({ key: new Uint8Array(n) })), String(n)).toBe('BLOCK_BAD_AUDIT_KEY');
    }
  });

  it('should refuse a JSON section that is not a UTF-8 JSON object with BLOCK_BAD_JSON', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    for (const json of [
      enc(''),
      enc('[]'),
      enc('null'),
      enc('"x"'),
      enc('{"a":'),
      enc('1'),
      new Uint8Array([0x7b, 0xff, 0x7d]),
    ]) {
      expect(refusal(rawBlock({ entries: [{ name: 'A', value: new Uint8Array(1) }], json }))).toBe(
        'BLOCK_BAD_JSON',
      );
    }
  });

  it('should refuse timestamps over Number.MAX_SAFE_INTEGER with BLOCK_BAD_TIMESTAMP', () => {
    const v = new Uint8Array(1);
    const over = BigInt(Number.MAX_SAFE_INTEGER) + 1n;
    expect(refusal(rawBlock({ entries: [{ name: 'A', value: v, created: over }] }))).toBe(
      'BLOCK_BAD_TIMESTAMP',
    );
    expect(refusal(rawBlock({ entries: [{ name: 'A', value: v, updated: 0xffff_ffff_ffff_ffffn }] }))).toBe(
      'BLOCK_BAD_TIMESTAMP',
    );
    const max = decodeSecretsBlock(
      SecretBuf.from(
        rawBlock({ entries: [{ name: 'A', value: v, created: BigInt(Number.MAX_SAFE_INTEGER) }] }),
      ),
    );
    expect(max.entries[0]?.created).toBe(Number.MAX_SAFE_INTEGER);
    wipeSecretsBlock(max);
  });

  it('should wipe its input on success too', () => {
    const input = SecretBuf.from(rawBlock({}));
    const decoded = decodeSecretsBlock(input);
    expect(input.wiped).toBe(true);
    wipeSecretsBlock(decoded);
  });

  it('should throw WIPED for an already wiped input and TypeError for a non-SecretBuf', () => {
    const input = SecretBuf.from(rawBlock({}));
    input.wipe();
    expect(codeOf(() => decodeSecretsBlock(input))).toBe('WIPED');
    expect(() => decodeSecretsBlock(new Uint8Array(4) as unknown as SecretBuf)).toThrow(TypeError);
  });
});

describe('encodeSecretsBlock refusals', () => {
  const json = new TextEncoder().encode('{}');
  const entry = (name: string, value: SecretBuf, created = 1, updated = 2): SecretEntry => ({
    name,
    value,
    created,
    updated,
  });

  it('should throw BLOCK_INVALID_NAME', () => {
    const v = SecretBuf.alloc(1);
    const auditKey = key();
    for (const bad of ['', '9', 'a b', 'x'.repeat(129)]) {
      expect(codeOf(() => encodeSecretsBlock({ entries: [entry(bad, v)], auditKey, json }))).toBe(
        'BLOCK_INVALID_NAME',
      );
    }
    v.wipe();
    auditKey.wipe();
  });

  it('should throw BLOCK_DUPLICATE_NAME', () => {
    const v = SecretBuf.alloc(1);
    const auditKey = key();
    expect(
      codeOf(() => encodeSecretsBlock({ entries: [entry('A', v), entry('A', v)], auditKey, json })),
    ).toBe('BLOCK_DUPLICATE_NAME');
    v.wipe();
    auditKey.wipe();
  });

  it('should throw BLOCK_VALUE_TOO_LARGE', () => {
    const v = SecretBuf.alloc(MAX_VALUE_BYTES + 1);
    const auditKey = key();
    expect(codeOf(() => encodeSecretsBlock({ entries: [entry('A', v)], auditKey, json }))).toBe(
      'BLOCK_VALUE_TOO_LARGE',
    );
    v.wipe();
    auditKey.wipe();
  });

  it('should throw BLOCK_BAD_TIMESTAMP', () => {
    const v = SecretBuf.alloc(1);
    const auditKey = key();
    for (const [c, u] of [
      [-1, 0],
      [0, 1.5],
      [Number.MAX_SAFE_INTEGER + 1, 0],
      [0, Number.POSITIVE_INFINITY],
    ] as const) {
      expect(codeOf(() => encodeSecretsBlock({ entries: [entry('A', v, c, u)], auditKey, json }))).toBe(
        'BLOCK_BAD_TIMESTAMP',
      );
    }
    v.wipe();
    auditKey.wipe();
  });

  it('should throw BLOCK_BAD_AUDIT_KEY', () => {
    const short = SecretBuf.alloc(31);
    expect(codeOf(() => encodeSecretsBlock({ entries: [], auditKey: short, json }))).toBe(
      'BLOCK_BAD_AUDIT_KEY',
    );
    short.wipe();
  });

  it('should throw BLOCK_BAD_JSON', () => {
    const auditKey = key();
    for (const bad of ['[]', 'nope', '']) {
      expect(
        codeOf(() => encodeSecretsBlock({ entries: [], auditKey, json: new TextEncoder().encode(bad) })),
      ).toBe('BLOCK_BAD_JSON');
    }
    auditKey.wipe();
  });

  it('should throw WIPED for a wiped value or key', () => {
    const v = SecretBuf.alloc(1);
    v.wipe();
    const auditKey = key();
    expect(codeOf(() => encodeSecretsBlock({ entries: [entry('A', v)], auditKey, json }))).toBe('WIPED');
    auditKey.wipe();
    expect(codeOf(() => encodeSecretsBlock({ entries: [], auditKey, json }))).toBe('WIPED');
  });

  it('should throw TypeError for malformed arguments', () => {
    const auditKey = key();
    expect(() => encodeSecretsBlock(null as unknown as SecretsBlock)).toThrow(TypeError);
    expect(() => encodeSecretsBlock({ entries: {} as SecretEntry[], auditKey, json })).toThrow(TypeError);
    expect(() =>
      encodeSecretsBlock({ entries: [], auditKey: new Uint8Array(32) as unknown as SecretBuf, json }),
    ).toThrow(TypeError);
    expect(() => encodeSecretsBlock({ entries: [], auditKey, json: '{}' as unknown as Uint8Array })).toThrow(
      TypeError,
    );
    expect(() =>
      encodeSecretsBlock({
        entries: [{ name: 'A', value: new Uint8Array(1), created: 0, updated: 0 } as unknown as SecretEntry],
        auditKey,
        json,
      }),
    ).toThrow(TypeError);
    expect(() => encodeSecretsBlock({ entries: [null as unknown as SecretEntry], auditKey, json })).toThrow(
      TypeError,
    );
    auditKey.wipe();
  });

  it('should throw RangeError for a block over 256 MiB', () => {
    const auditKey = key();
    // Values are only measured, never touched, before the size check.
    const v = SecretBuf.alloc(MAX_VALUE_BYTES);
    const entries = Array.from({ length: 4097 }, (_, i) => entry(`S${String(i)}`, v));
    expect(() => encodeSecretsBlock({ entries, auditKey, json })).toThrow(RangeError);
    v.wipe();
    auditKey.wipe();
  });
});

describe('wipeSecretsBlock', () => {
  it('should wipe every value and the audit key, idempotently', () => {
    const block = decodeSecretsBlock(
      SecretBuf.from(rawBlock({ entries: [{ name: 'A', value: new Uint8Array(2) }] })),
    );
    wipeSecretsBlock(block);
    wipeSecretsBlock(block);
    expect(block.entries.every((e) => e.value.wiped)).toBe(true);
    expect(block.auditKey.wiped).toBe(true);
  });

  it('should throw TypeError for something that is not a block', () => {
    expect(() => wipeSecretsBlock({} as SecretsBlock)).toThrow(TypeError);
  });
});
