// SPDX-License-Identifier: AGPL-3.0-only
// Known answers for the audit log's HMAC-SHA256, built by hand in src/internal/mac.ts from
// streaming SHA-256 with precomputed ipad/opad states (the public API only ever passes the
// 32-byte audit key, so this tests the internal MacKey directly).
//
// Covered: all 174 Wycheproof HMAC-SHA256 tests (every group: 16-, 32- and 65-byte keys,
// 256- and 128-bit tags; truncated tags are compared as a prefix of the full tag, and every
// modified tag must be rejected) and RFC 4231 test cases 1-7 (keys of 4, 20, 25 and 131 bytes,
// case 5 truncated to 128 bits). MacKey takes keys of 0 to 64 bytes (one SHA-256 block) and
// refuses longer ones instead of hashing them first (RFC 2104 §2); for those vectors the test
// checks the refusal and that a key hashed beforehand gives the published tag. Every key
// length from 0 to 64 is also compared with Node's HMAC (OpenSSL), across block boundaries.
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SecretBuf } from '@cora/memstore';
import { describe, expect, it } from 'vitest';
import { MacKey } from '../src/internal/mac.ts';

interface WycheproofMacTest {
  readonly tcId: number;
  readonly flags: readonly string[];
  readonly key: string;
  readonly msg: string;
  readonly tag: string;
  readonly result: 'valid' | 'invalid' | 'acceptable';
}

interface WycheproofMacFile {
  readonly numberOfTests: number;
  readonly testGroups: readonly {
    readonly keySize: number;
    readonly tagSize: number;
    readonly tests: readonly WycheproofMacTest[];
  }[];
}

interface Rfc4231Case {
  readonly tc: number;
  readonly key: string;
  readonly data: string;
  readonly hmac_sha256: string;
  readonly truncate_bytes: number | null;
}

const BLOCK = 64;

function readVectors(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8'));
}

function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** HMAC-SHA256 with MacKey; a key longer than a block is hashed first, as RFC 2104 says. */
function macHex(keyHex: string, message: Uint8Array): string {
  const raw = fromHex(keyHex);
  const key = SecretBuf.fromAndWipe(
    raw.length > BLOCK ? new Uint8Array(createHash('sha256').update(raw).digest()) : raw,
  );
  const mac = new MacKey(key);
  key.wipe();
  try {
    return mac.hex(message);
  } finally {
    mac.wipe();
  }
}

/** Whether MacKey refuses this key with a RangeError (it does above one block). */
function refusesKey(keyHex: string): boolean {
  const key = SecretBuf.fromAndWipe(fromHex(keyHex));
  try {
    new MacKey(key).wipe();
    return false;
  } catch (error) {
    return error instanceof RangeError;
  } finally {
    key.wipe();
  }
}

describe('MacKey (Wycheproof HMAC-SHA256)', () => {
  const file = readVectors('wycheproof_hmac_sha256_test.json') as WycheproofMacFile;

  it('should pass all 174 tests of every group', () => {
    const seen = { valid: 0, invalid: 0, truncated: 0, longKey: 0 };
    const keySizes = new Set<number>();
    for (const group of file.testGroups) {
      const tagHexLength = group.tagSize / 4;
      for (const test of group.tests) {
        const label = `tcId ${test.tcId}`;
        expect(test.key.length * 4, label).toBe(group.keySize);
        expect(test.tag.length, label).toBe(tagHexLength);
        keySizes.add(group.keySize / 8);
        if (test.key.length / 2 > BLOCK) {
          expect(refusesKey(test.key), label).toBe(true);
          seen.longKey += 1;
        }
        const full = macHex(test.key, fromHex(test.msg));
        expect(full, label).toMatch(/^[0-9a-f]{64}$/);
        const tag = full.slice(0, tagHexLength);
        if (test.result === 'valid') {
          expect(tag, label).toBe(test.tag);
          seen.valid += 1;
        } else {
          expect(test.result, label).toBe('invalid');
          expect(tag, label).not.toBe(test.tag);
          seen.invalid += 1;
        }
        if (tagHexLength < 64) seen.truncated += 1;
      }
    }
    // A silently empty or partly skipped loop would pass: pin what the file holds.
    expect(file.numberOfTests).toBe(174);
    expect(seen).toEqual({ valid: 66, invalid: 108, truncated: 87, longKey: 6 });
    expect([...keySizes].sort((a, b) => a - b)).toEqual([16, 32, 65]);
  });

  it('should verify() every full-length valid tag and reject every modified one', () => {
    let checked = 0;
    for (const group of file.testGroups) {
      if (group.tagSize !== 256) continue;
      for (const test of group.tests) {
        if (test.key.length / 2 > BLOCK) continue; // refused; covered above
        const key = SecretBuf.fromAndWipe(fromHex(test.key));
        const mac = new MacKey(key);
        key.wipe();
        try {
          expect(mac.verify(fromHex(test.msg), test.tag), `tcId ${test.tcId}`).toBe(test.result === 'valid');
          // A truncated tag is never accepted by verify(), which wants all 32 bytes.
          expect(mac.verify(fromHex(test.msg), test.tag.slice(0, 32)), `tcId ${test.tcId}`).toBe(false);
        } finally {
          mac.wipe();
        }
        checked += 1;
      }
    }
    expect(checked).toBe(84);
  });
});

describe('MacKey (RFC 4231)', () => {
  const { tests } = readVectors('rfc4231_hmac_sha256.json') as { tests: readonly Rfc4231Case[] };

  it('should have loaded test cases 1-7', () => {
    expect(tests.map((t) => t.tc)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  for (const test of tests) {
    const keyBytes = test.key.length / 2;
    it(`should reproduce test case ${test.tc} (${keyBytes}-byte key, ${test.data.length / 2}-byte message)`, () => {
      const full = macHex(test.key, fromHex(test.data));
      const expected = test.hmac_sha256;
      expect(expected.length).toBe(test.truncate_bytes === null ? 64 : test.truncate_bytes * 2);
      expect(full.slice(0, expected.length)).toBe(expected);
      if (keyBytes > BLOCK) expect(refusesKey(test.key)).toBe(true);
    });
  }
});

describe('MacKey (every supported key length, against node:crypto)', () => {
  // Deterministic bytes, so a failure reproduces.
  const bytes = (length: number, seed: number): Uint8Array =>
    Uint8Array.from({ length }, (_, i) => (seed * 131 + i * 29 + ((i * i) >> 3)) & 0xff);
  // Messages on both sides of the 55/56-byte padding edge and of one and two blocks.
  const messageLengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000];

  it('should equal HMAC-SHA256 for keys of 0 to 64 bytes', () => {
    for (let keyLength = 0; keyLength <= BLOCK; keyLength++) {
      const raw = bytes(keyLength, keyLength + 1);
      const key = SecretBuf.from(raw);
      const mac = new MacKey(key);
      key.wipe();
      try {
        for (const messageLength of messageLengths) {
          const message = bytes(messageLength, messageLength + 7);
          const expected = createHmac('sha256', raw).update(message).digest('hex');
          expect(mac.hex(message), `key ${keyLength} B, message ${messageLength} B`).toBe(expected);
        }
        // The same key answers the same inside a session (memory held open between MACs).
        const message = bytes(100, 3);
        expect(mac.session(() => [mac.hex(message), mac.hex(message)])).toEqual([
          createHmac('sha256', raw).update(message).digest('hex'),
          createHmac('sha256', raw).update(message).digest('hex'),
        ]);
      } finally {
        mac.wipe();
      }
    }
  });

  it('should refuse a key longer than one block with a RangeError', () => {
    const key = SecretBuf.alloc(BLOCK + 1);
    expect(() => new MacKey(key)).toThrow(RangeError);
    key.wipe();
  });
});
