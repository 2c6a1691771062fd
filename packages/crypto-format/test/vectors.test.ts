// SPDX-License-Identifier: AGPL-3.0-only
// Known-answer tests through the exact internal functions the vault format uses:
// argon2id() (RFC 9106 Argon2id via Node's crypto.argon2) and aeadEncryptInto()/aeadDecrypt()
// (XChaCha20-Poly1305-IETF via sodium-native).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretBuf } from '@cora/memstore';
import { isCryptoFormatError } from '../src/index.ts';
import { aeadDecrypt, aeadEncryptInto } from '../src/internal/aead.ts';
import { argon2id } from '../src/internal/kdf.ts';
import { VECTORS_DIR, fromHex, reveal, toHex } from './helpers.ts';

interface Argon2Vector {
  name: string;
  version: number;
  t: number;
  m_kib: number;
  p: number;
  tag_len: number;
  password: string;
  salt: string;
  secret?: string;
  ad?: string;
  tag: string;
}

interface WycheproofTest {
  tcId: number;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

interface WycheproofFile {
  numberOfTests: number;
  testGroups: { ivSize: number; tests: WycheproofTest[] }[];
}

function readJson(name: string): unknown {
  return JSON.parse(readFileSync(join(VECTORS_DIR, name), 'utf8'));
}

describe('argon2id (RFC 9106 known answers)', () => {
  const { vectors } = readJson('argon2id_vectors.json') as { vectors: Argon2Vector[] };

  it('should have loaded every vector in the file', () => {
    // A silently empty loop would pass: pin the count (1 RFC + 8 PHC test.c + 5 Cora params).
    expect(vectors).toHaveLength(14);
    expect(vectors.every((v) => v.version === 0x13)).toBe(true);
  });

  for (const vector of vectors) {
    it(`should reproduce ${vector.name} (salt ${vector.salt.length / 2} B)`, async () => {
      const key = await argon2id(
        SecretBuf.fromAndWipe(fromHex(vector.password)),
        fromHex(vector.salt),
        { t: vector.t, m: vector.m_kib, p: vector.p },
        {
          tagLength: vector.tag_len,
          ...(vector.secret === undefined ? {} : { secret: fromHex(vector.secret) }),
          ...(vector.ad === undefined ? {} : { associatedData: fromHex(vector.ad) }),
        },
      );
      try {
        expect(key).toBeInstanceOf(SecretBuf);
        expect(toHex(reveal(key))).toBe(vector.tag);
      } finally {
        key.wipe();
      }
    });
  }

  it('should not depend on the passphrase view after the call returns', async () => {
    // Node copies the message synchronously; SecretBuf pages are no-access after use(), so a
    // late read would crash. Wiping the passphrase right away must not change the key.
    const vector = vectors.find((v) => v.name.startsWith('GENERATED') && v.password === '70617373776f7264');
    expect(vector).toBeDefined();
    if (vector === undefined) return;
    const passphrase = SecretBuf.from(fromHex(vector.password));
    const pending = argon2id(passphrase, fromHex(vector.salt), { t: 3, m: 65_536, p: 4 });
    passphrase.wipe();
    const key = await pending;
    expect(toHex(reveal(key))).toBe(vector.tag);
    key.wipe();
  });
});

describe('aead (Wycheproof XChaCha20-Poly1305)', () => {
  const file = readJson('wycheproof_xchacha20_poly1305_test.json') as WycheproofFile;
  const tests = file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({ ...test, ivSize: group.ivSize })),
  );

  it('should run all 315 tests: 246 valid, 60 invalid, 9 wrong nonce sizes', () => {
    let valid = 0;
    let invalid = 0;
    let badNonce = 0;
    for (const test of tests) {
      const key = SecretBuf.from(fromHex(test.key));
      const nonce = fromHex(test.iv);
      const aad = fromHex(test.aad);
      const msg = fromHex(test.msg);
      const sealed = fromHex(test.ct + test.tag);
      try {
        if (test.ivSize !== 192) {
          expect(test.flags).toContain('InvalidNonceSize');
          expect(() => aeadDecrypt(sealed, aad, nonce, key)).toThrow(RangeError);
          const out = new Uint8Array(msg.byteLength + 16);
          expect(() => aeadEncryptInto(out, SecretBuf.from(msg), aad, nonce, key)).toThrow(RangeError);
          badNonce += 1;
        } else if (test.result === 'valid') {
          const out = new Uint8Array(msg.byteLength + 16);
          aeadEncryptInto(out, SecretBuf.from(msg), aad, nonce, key);
          expect(toHex(out), `tcId ${test.tcId}`).toBe(test.ct + test.tag);
          const plain = aeadDecrypt(sealed, aad, nonce, key);
          expect(toHex(reveal(plain)), `tcId ${test.tcId}`).toBe(test.msg);
          plain.wipe();
          valid += 1;
        } else {
          let caught: unknown;
          try {
            aeadDecrypt(sealed, aad, nonce, key).wipe();
          } catch (error) {
            caught = error;
          }
          expect(isCryptoFormatError(caught, 'AUTH_FAILED'), `tcId ${test.tcId}`).toBe(true);
          invalid += 1;
        }
      } finally {
        key.wipe();
      }
    }
    expect(file.numberOfTests).toBe(315);
    expect({ valid, invalid, badNonce }).toEqual({ valid: 246, invalid: 60, badNonce: 9 });
  });

  it('should reproduce the draft-irtf-cfrg-xchacha-03 §A.3.1 AEAD example', () => {
    const { aead } = readJson('draft-irtf-cfrg-xchacha-03_vectors.json') as {
      aead: { plaintext: string; aad: string; key: string; iv: string; ciphertext: string; tag: string };
    };
    const key = SecretBuf.from(fromHex(aead.key));
    const msg = fromHex(aead.plaintext);
    const out = new Uint8Array(msg.byteLength + 16);
    aeadEncryptInto(out, SecretBuf.from(msg), fromHex(aead.aad), fromHex(aead.iv), key);
    expect(toHex(out)).toBe(aead.ciphertext + aead.tag);
    const plain = aeadDecrypt(out, fromHex(aead.aad), fromHex(aead.iv), key);
    expect(toHex(reveal(plain))).toBe(aead.plaintext);
    plain.wipe();
    key.wipe();
  });

  it('should refuse a ciphertext shorter than the tag with AUTH_FAILED', () => {
    const key = SecretBuf.alloc(32);
    expect(() => aeadDecrypt(new Uint8Array(15), new Uint8Array(0), new Uint8Array(24), key)).toThrow(
      expect.objectContaining({ code: 'AUTH_FAILED' }),
    );
    key.wipe();
  });

  it('should refuse a key that is not 32 bytes with a RangeError', () => {
    const key = SecretBuf.alloc(31);
    expect(() => aeadDecrypt(new Uint8Array(16), new Uint8Array(0), new Uint8Array(24), key)).toThrow(
      /^key must be 32 bytes/,
    );
    key.wipe();
  });
});
