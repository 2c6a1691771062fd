// SPDX-License-Identifier: AGPL-3.0-only
// Over 500 lines on purpose: the sealed file format end to end — header parsing and its table of
// refusals, open, seal, and every single bit flip — over one sealed fixture.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { SecretBuf } from '@cora/memstore';
import {
  HEADER_LENGTH,
  KDF_CEILING,
  KDF_FLOOR,
  KDF_WORK_CEILING,
  MAX_VAULT_BYTES,
  TAG_LENGTH,
  isCryptoFormatError,
  openVault,
  parseHeader,
  sealVault,
  type CryptoFormatErrorCode,
  type KdfParams,
} from '../src/index.ts';
import { aeadDecrypt, aeadEncryptInto } from '../src/internal/aead.ts';
import { deriveVaultKey, type DeriveKey } from '../src/internal/kdf.ts';
import { openVaultWith, sealVaultWith } from '../src/internal/seal-core.ts';
import { reveal, secret, toHex } from './helpers.ts';

/** Await `promise` and return the CryptoFormatError code it rejects with (fails otherwise). */
async function codeOf(promise: Promise<unknown>): Promise<CryptoFormatErrorCode> {
  try {
    const value = await promise;
    if (value instanceof SecretBuf) value.wipe();
  } catch (error) {
    if (isCryptoFormatError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a CryptoFormatError, but the call succeeded');
}

/** A KDF that must never run: proves a refusal came from the header alone. */
const forbiddenKdf: DeriveKey = () => {
  throw new Error('the KDF ran, but the header should have been refused first');
};

// Header patches (architecture §4 offsets): magic 0, version 4, kdf 5, t 6, m 10, p 14, reserved 55.
function patched(file: Uint8Array, patch: (view: DataView) => void): Uint8Array {
  const copy = new Uint8Array(file);
  patch(new DataView(copy.buffer));
  return copy;
}

function withParams(file: Uint8Array, t: number, m: number, p: number): Uint8Array {
  return patched(file, (v) => {
    v.setUint32(6, t, true);
    v.setUint32(10, m, true);
    v.setUint8(14, p);
  });
}

let passphrase: SecretBuf;
let sealed: Uint8Array; // "hello vault" under the floor parameters

beforeAll(async () => {
  passphrase = secret('correct horse battery staple');
  const plaintext = secret('hello vault');
  sealed = await sealVault(plaintext, passphrase);
  plaintext.wipe();
});

describe('parseHeader', () => {
  it('should read the fields of a sealed file', () => {
    const header = parseHeader(sealed);
    expect(header.version).toBe(1);
    expect(header.kdf).toBe(1);
    expect(header.params).toEqual(KDF_FLOOR);
    expect(header.salt).toHaveLength(16);
    expect(header.nonce).toHaveLength(24);
    expect(header.ciphertextLength).toBe('hello vault'.length);
    expect(sealed).toHaveLength(HEADER_LENGTH + 11 + TAG_LENGTH);
    expect(toHex(sealed.subarray(0, 6))).toBe('434f52410101');
  });

  it('should return copies of salt and nonce, not views', () => {
    const file = new Uint8Array(sealed);
    const header = parseHeader(file);
    file.fill(0);
    expect(toHex(header.salt)).toBe(toHex(sealed.subarray(15, 31)));
    expect(toHex(header.nonce)).toBe(toHex(sealed.subarray(31, 55)));
  });

  it('should throw a TypeError for a non-Uint8Array', () => {
    expect(() => parseHeader('CORA' as unknown as Uint8Array)).toThrow(TypeError);
  });

  const refusals: [string, (file: Uint8Array) => Uint8Array, CryptoFormatErrorCode, string?][] = [
    ['an empty file', () => new Uint8Array(0), 'FILE_TOO_SHORT'],
    ['a file of 56 + 15 bytes', (f) => f.subarray(0, HEADER_LENGTH + TAG_LENGTH - 1), 'FILE_TOO_SHORT'],
    ['wrong magic', (f) => patched(f, (v) => v.setUint8(0, 0x63)), 'BAD_MAGIC'],
    ['version 0', (f) => patched(f, (v) => v.setUint8(4, 0)), 'UNSUPPORTED_VERSION', 'version'],
    ['version 2', (f) => patched(f, (v) => v.setUint8(4, 2)), 'UNSUPPORTED_VERSION', 'version'],
    ['kdf 0', (f) => patched(f, (v) => v.setUint8(5, 0)), 'UNSUPPORTED_KDF', 'kdf'],
    ['kdf 2', (f) => patched(f, (v) => v.setUint8(5, 2)), 'UNSUPPORTED_KDF', 'kdf'],
    ['reserved byte 1', (f) => patched(f, (v) => v.setUint8(55, 1)), 'RESERVED_NOT_ZERO', 'reserved'],
    ['t = 2', (f) => patched(f, (v) => v.setUint32(6, 2, true)), 'KDF_BELOW_FLOOR', 't'],
    ['t = 0', (f) => patched(f, (v) => v.setUint32(6, 0, true)), 'KDF_BELOW_FLOOR', 't'],
    ['m = 65535', (f) => patched(f, (v) => v.setUint32(10, 65_535, true)), 'KDF_BELOW_FLOOR', 'm'],
    ['p = 3', (f) => patched(f, (v) => v.setUint8(14, 3)), 'KDF_BELOW_FLOOR', 'p'],
    [
      't = 25 (one past the ceiling)',
      (f) => patched(f, (v) => v.setUint32(6, 25, true)),
      'KDF_ABOVE_CEILING',
      't',
    ],
    ['t = 0xFFFFFFFF', (f) => patched(f, (v) => v.setUint32(6, 0xffff_ffff, true)), 'KDF_ABOVE_CEILING', 't'],
    [
      'm = 524289 (one KiB past 512 MiB)',
      (f) => patched(f, (v) => v.setUint32(10, 524_289, true)),
      'KDF_ABOVE_CEILING',
      'm',
    ],
    [
      'm = 4194304 (4 GiB)',
      (f) => patched(f, (v) => v.setUint32(10, 4_194_304, true)),
      'KDF_ABOVE_CEILING',
      'm',
    ],
    [
      'm = 0xFFFFFFFF',
      (f) => patched(f, (v) => v.setUint32(10, 0xffff_ffff, true)),
      'KDF_ABOVE_CEILING',
      'm',
    ],
    ['p = 17', (f) => patched(f, (v) => v.setUint8(14, 17)), 'KDF_ABOVE_CEILING', 'p'],
    ['p = 255', (f) => patched(f, (v) => v.setUint8(14, 255)), 'KDF_ABOVE_CEILING', 'p'],
    [
      't = 4, m = 512 MiB (each field within its ceiling, t × m past the work ceiling)',
      (f) => withParams(f, 4, 524_288, 4),
      'KDF_ABOVE_CEILING',
      't*m',
    ],
    [
      't = 24, m = 65537 KiB (t × m just past the work ceiling)',
      (f) => withParams(f, 24, 65_537, 4),
      'KDF_ABOVE_CEILING',
      't*m',
    ],
  ];

  for (const [what, make, code, field] of refusals) {
    it(`should refuse ${what} with ${code}`, () => {
      let caught: unknown;
      try {
        parseHeader(make(sealed));
      } catch (error) {
        caught = error;
      }
      expect(isCryptoFormatError(caught, code)).toBe(true);
      if (field !== undefined && isCryptoFormatError(caught)) expect(caught.field).toBe(field);
    });

    it(`should refuse ${what} in openVault before any KDF work, fast`, async () => {
      const file = make(sealed);
      expect(await codeOf(openVaultWith(file, passphrase, forbiddenKdf))).toBe(code);
      const started = performance.now();
      expect(await codeOf(openVault(file, passphrase))).toBe(code);
      // One Argon2id at the floor takes well over 100 ms here; a refusal takes microseconds.
      expect(performance.now() - started).toBeLessThan(50);
    });
  }

  it('should accept parameters exactly at the floor and at every corner of the ceiling', () => {
    // Parsing only: running Argon2id at 512 MiB here would cost seconds and half a gigabyte.
    expect(parseHeader(sealed).params).toEqual(KDF_FLOOR);
    expect(KDF_WORK_CEILING).toBe(3 * 524_288);
    for (const [t, m] of [
      [KDF_CEILING.t, KDF_FLOOR.m],
      [3, KDF_CEILING.m],
      [6, 262_144],
      [12, 131_072],
    ] as const) {
      expect(t * m).toBe(KDF_WORK_CEILING);
      const top = { t, m, p: KDF_CEILING.p };
      expect(parseHeader(withParams(sealed, t, m, KDF_CEILING.p)).params).toEqual(top);
    }
  });

  it('should name the field, the value and the ceiling when refusing', () => {
    const messageOf = (file: Uint8Array): string => {
      try {
        parseHeader(file);
      } catch (error) {
        if (isCryptoFormatError(error, 'KDF_ABOVE_CEILING')) return error.message;
        throw error;
      }
      throw new Error('accepted');
    };
    expect(messageOf(withParams(sealed, 25, 65_536, 4))).toBe('t = 25 is over the ceiling 24');
    expect(messageOf(withParams(sealed, 3, 524_289, 4))).toBe(
      'm = 524289 KiB is over the ceiling 524288 KiB',
    );
    expect(messageOf(withParams(sealed, 3, 65_536, 17))).toBe('p = 17 is over the ceiling 16');
    expect(messageOf(withParams(sealed, 4, 524_288, 4))).toBe(
      't × m = 4 × 524288 KiB = 2097152 is over the ceiling 1572864 (passes × KiB)',
    );
  });

  it('should refuse a file over MAX_VAULT_BYTES with FILE_TOO_LARGE before any KDF work', async () => {
    const big = new Uint8Array(MAX_VAULT_BYTES + 1);
    big.set(sealed.subarray(0, HEADER_LENGTH));
    expect(() => parseHeader(big)).toThrow(expect.objectContaining({ code: 'FILE_TOO_LARGE' }));
    expect(await codeOf(openVaultWith(big, passphrase, forbiddenKdf))).toBe('FILE_TOO_LARGE');
  });
});

describe('openVault', () => {
  it('should open what sealVault sealed', async () => {
    const plain = await openVault(sealed, passphrase);
    expect(new TextDecoder().decode(reveal(plain))).toBe('hello vault');
    plain.wipe();
  });

  it('should refuse a wrong passphrase with AUTH_FAILED', async () => {
    const wrong = secret('correct horse battery stapler');
    expect(await codeOf(openVault(sealed, wrong))).toBe('AUTH_FAILED');
    wrong.wipe();
  });

  it('should refuse a truncated ciphertext with AUTH_FAILED', async () => {
    expect(await codeOf(openVault(sealed.subarray(0, sealed.length - 1), passphrase))).toBe('AUTH_FAILED');
  });

  it('should refuse a file cut down to header + 16 bytes with AUTH_FAILED', async () => {
    expect(await codeOf(openVault(sealed.subarray(0, HEADER_LENGTH + TAG_LENGTH), passphrase))).toBe(
      'AUTH_FAILED',
    );
  });

  it('should refuse appended bytes with AUTH_FAILED', async () => {
    const longer = new Uint8Array(sealed.length + 1);
    longer.set(sealed);
    expect(await codeOf(openVault(longer, passphrase))).toBe('AUTH_FAILED');
  });

  it('should wipe the derived key on success and on failure', async () => {
    const keys: SecretBuf[] = [];
    const recording: DeriveKey = async (pass, salt, params) => {
      const key = await deriveVaultKey(pass, salt, params);
      keys.push(key);
      return key;
    };
    (await openVaultWith(sealed, passphrase, recording)).wipe();
    const wrong = secret('nope');
    expect(await codeOf(openVaultWith(sealed, wrong, recording))).toBe('AUTH_FAILED');
    const plaintext = secret('x');
    await sealVaultWith(plaintext, passphrase, {}, recording);
    expect(keys).toHaveLength(3);
    expect(keys.every((key) => key.wiped)).toBe(true);
    wrong.wipe();
    plaintext.wipe();
  });

  it('should throw TypeErrors for wrong argument types', async () => {
    await expect(openVault('file' as unknown as Uint8Array, passphrase)).rejects.toThrow(TypeError);
    await expect(openVault(sealed, new Uint8Array(4) as unknown as SecretBuf)).rejects.toThrow(
      /^passphrase must be a SecretBuf/,
    );
  });
});

describe('sealVault', () => {
  it('should draw a fresh salt and nonce on every seal', async () => {
    const plaintext = secret('same');
    const a = parseHeader(await sealVault(plaintext, passphrase));
    const b = parseHeader(await sealVault(plaintext, passphrase));
    expect(toHex(a.salt)).not.toBe(toHex(b.salt));
    expect(toHex(a.nonce)).not.toBe(toHex(b.nonce));
    plaintext.wipe();
  });

  it('should keep a given salt but still draw a fresh nonce', async () => {
    const plaintext = secret('same');
    const salt = parseHeader(sealed).salt;
    const file = await sealVault(plaintext, passphrase, { salt });
    const header = parseHeader(file);
    expect(toHex(header.salt)).toBe(toHex(salt));
    expect(toHex(header.nonce)).not.toBe(toHex(parseHeader(sealed).nonce));
    const plain = await openVault(file, passphrase);
    expect(plain.equals(plaintext)).toBe(true);
    plain.wipe();
    plaintext.wipe();
  });

  it('should write stronger parameters when asked and open them', async () => {
    const plaintext = secret('stronger');
    const params: KdfParams = { t: 4, m: 65_536 + 4096, p: 5 };
    const file = await sealVault(plaintext, passphrase, { kdf: params });
    expect(parseHeader(file).params).toEqual(params);
    const plain = await openVault(file, passphrase);
    expect(plain.equals(plaintext)).toBe(true);
    plain.wipe();
    plaintext.wipe();
  });

  it('should not leave the plaintext or passphrase wiped (the caller owns them)', async () => {
    const plaintext = secret('mine');
    await sealVault(plaintext, passphrase);
    expect(plaintext.wiped).toBe(false);
    expect(passphrase.wiped).toBe(false);
    plaintext.wipe();
  });

  it('should refuse parameters outside floor and ceiling with RangeErrors naming the option', async () => {
    const plaintext = secret('x');
    for (const kdf of [
      { t: 2, m: 65_536, p: 4 },
      { t: 3, m: 65_535, p: 4 },
      { t: 3, m: 65_536, p: 3 },
      { t: 25, m: 65_536, p: 4 },
      { t: 3, m: 524_289, p: 4 },
      { t: 3, m: 65_536, p: 17 },
    ]) {
      await expect(sealVault(plaintext, passphrase, { kdf })).rejects.toThrow(
        /^options\.kdf\.[tmp] must be from/,
      );
    }
    // Each field within its ceiling, the product not: refused before any KDF work.
    await expect(sealVault(plaintext, passphrase, { kdf: { t: 4, m: 524_288, p: 4 } })).rejects.toThrow(
      /^options\.kdf\.t × options\.kdf\.m must be at most 1572864/,
    );
    await expect(sealVault(plaintext, passphrase, { kdf: { t: 3.5, m: 65_536, p: 4 } })).rejects.toThrow(
      TypeError,
    );
    plaintext.wipe();
  });

  it('should refuse a salt that is not 16 bytes with a RangeError', async () => {
    const plaintext = secret('x');
    await expect(sealVault(plaintext, passphrase, { salt: new Uint8Array(15) })).rejects.toThrow(
      /^options\.salt must be 16 bytes/,
    );
    plaintext.wipe();
  });

  it('should refuse a plaintext that would exceed MAX_VAULT_BYTES with a RangeError', async () => {
    const plaintext = SecretBuf.alloc(MAX_VAULT_BYTES - HEADER_LENGTH - TAG_LENGTH + 1);
    await expect(sealVault(plaintext, passphrase)).rejects.toThrow(/^plaintext must be at most/);
    plaintext.wipe();
  });

  it('should throw TypeErrors for wrong argument types', async () => {
    await expect(sealVault(new Uint8Array(3) as unknown as SecretBuf, passphrase)).rejects.toThrow(
      /^plaintext must be a SecretBuf/,
    );
    const plaintext = secret('x');
    await expect(sealVault(plaintext, 'pw' as unknown as SecretBuf)).rejects.toThrow(TypeError);
    plaintext.wipe();
  });

  it('should round-trip random plaintexts through the real KDF (property)', async () => {
    // Each run costs two Argon2id derivations at the floor (~0.3 s): few runs, the AEAD
    // property below covers breadth with a fixed key.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 4096 }), async (bytes) => {
        const plaintext = SecretBuf.from(bytes);
        const file = await sealVault(plaintext, passphrase);
        expect(file).toHaveLength(HEADER_LENGTH + bytes.length + TAG_LENGTH);
        const opened = await openVault(file, passphrase);
        expect(opened.equals(plaintext)).toBe(true);
        opened.wipe();
        plaintext.wipe();
      }),
      { numRuns: 6 },
    );
  });
});

describe('aead layer (property, fixed key)', () => {
  it('should decrypt what it encrypted and reject any single changed byte', () => {
    const key = SecretBuf.alloc(32);
    key.use((k) => k.fill(0x42));
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2048 }),
        fc.uint8Array({ minLength: 56, maxLength: 56 }),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        fc.nat(),
        (bytes, aad, nonce, where) => {
          const plaintext = SecretBuf.from(bytes);
          const out = new Uint8Array(bytes.length + TAG_LENGTH);
          aeadEncryptInto(out, plaintext, aad, nonce, key);
          const back = aeadDecrypt(out, aad, nonce, key);
          expect(back.equals(plaintext)).toBe(true);
          back.wipe();
          plaintext.wipe();
          const damaged = new Uint8Array(out);
          const at = where % damaged.length;
          damaged[at] = (damaged[at] ?? 0) ^ 0x01;
          expect(() => aeadDecrypt(damaged, aad, nonce, key)).toThrow(
            expect.objectContaining({ code: 'AUTH_FAILED' }),
          );
        },
      ),
      { numRuns: 200 },
    );
    key.wipe();
  });
});

describe('openVault (every single bit flip)', () => {
  // The file: 56-byte header + 8-byte ciphertext + 16-byte tag = 640 bits.
  //
  // How the cost is kept down (each real Argon2id run is ~0.15 s; 640 of them would be too
  // slow): every bit goes through openVaultWith, the exact function openVault uses, twice:
  //  1. with an "oracle" KDF that hands back the TRUE key whatever salt/params it is asked
  //     for. That is a stronger attacker than reality (a changed salt or t/m/p would derive
  //     a different key), so the only things that can reject a flip are the header checks
  //     and the header-as-AAD authentication (architecture §4).
  //  2. with the real KDF behind a memo keyed by (salt, t, m, p): flips in magic, version,
  //     kdf, reserved, nonce, ciphertext and tag reuse the one real derivation; flips that
  //     leave a valid header with a different salt or t/m/p would each need their own full
  //     Argon2id (some at 320 MiB), so of those a sample covering salt, t, m and p runs through
  //     the public openVault with the real KDF instead.
  let file: Uint8Array;
  let trueKey: SecretBuf;
  let params: KdfParams;
  const headerCodes = new Set<CryptoFormatErrorCode>([
    'BAD_MAGIC',
    'UNSUPPORTED_VERSION',
    'UNSUPPORTED_KDF',
    'RESERVED_NOT_ZERO',
    'KDF_BELOW_FLOOR',
    'KDF_ABOVE_CEILING',
  ]);

  function flip(bit: number): Uint8Array {
    const copy = new Uint8Array(file);
    const index = bit >> 3;
    copy[index] = (copy[index] ?? 0) ^ (1 << (bit & 7));
    return copy;
  }

  function changesKdfInput(flipped: Uint8Array): boolean {
    try {
      const header = parseHeader(flipped);
      return (
        toHex(header.salt) !== toHex(parseHeader(file).salt) ||
        header.params.t !== params.t ||
        header.params.m !== params.m ||
        header.params.p !== params.p
      );
    } catch {
      return false;
    }
  }

  beforeAll(async () => {
    const plaintext = secret('8 bytes!');
    file = await sealVault(plaintext, passphrase);
    plaintext.wipe();
    const header = parseHeader(file);
    params = header.params;
    trueKey = await deriveVaultKey(passphrase, header.salt, header.params);
  });

  it('should reject all 640 flips even when handed the true key (header checks + AAD)', async () => {
    const oracle: DeriveKey = () => Promise.resolve(SecretBuf.from(reveal(trueKey)));
    const seen = new Map<string, number>();
    for (let bit = 0; bit < file.length * 8; bit += 1) {
      const code = await codeOf(openVaultWith(flip(bit), passphrase, oracle));
      const region = bit < HEADER_LENGTH * 8 ? 'header' : 'body';
      if (region === 'body') expect(code, `bit ${bit}`).toBe('AUTH_FAILED');
      else expect(code === 'AUTH_FAILED' || headerCodes.has(code), `bit ${bit}: ${code}`).toBe(true);
      seen.set(code, (seen.get(code) ?? 0) + 1);
    }
    expect(file.length * 8).toBe(640);
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(640);
    // magic 32 bits, version 8, kdf 8, reserved 8 are all refused by code, never reach the AEAD.
    expect(seen.get('BAD_MAGIC')).toBe(32);
    expect(seen.get('UNSUPPORTED_VERSION')).toBe(8);
    expect(seen.get('UNSUPPORTED_KDF')).toBe(8);
    expect(seen.get('RESERVED_NOT_ZERO')).toBe(8);
  });

  it('should reject every flip through the real KDF (memoised), sampling the costly ones', async () => {
    const memo = new Map<string, SecretBuf>();
    let derivations = 0;
    const memoKdf: DeriveKey = async (pass, salt, p) => {
      const id = `${toHex(salt)}:${p.t}:${p.m}:${p.p}`;
      let key = memo.get(id);
      if (key === undefined) {
        derivations += 1;
        key = await deriveVaultKey(pass, salt, p);
        memo.set(id, key);
      }
      return SecretBuf.from(reveal(key)); // openVaultWith wipes what it gets
    };
    const costly: number[] = [];
    for (let bit = 0; bit < file.length * 8; bit += 1) {
      const flipped = flip(bit);
      if (changesKdfInput(flipped)) {
        costly.push(bit);
        continue;
      }
      const code = await codeOf(openVaultWith(flipped, passphrase, memoKdf));
      expect(code === 'AUTH_FAILED' || headerCodes.has(code), `bit ${bit}: ${code}`).toBe(true);
    }
    expect(derivations).toBe(1);
    // salt 128 bits; t=3 → 7, 11, 19 (35 is over the ceiling); m = 65536 + 2^k for k < 16 and
    // k = 17, 18 (2^19 and up pass 512 MiB); p → 5, 6, 12.
    expect(costly).toHaveLength(128 + 3 + 18 + 3);
    // Real KDF, public openVault: two salt bits, t → 7, m → 65537, p → 5 and p → 6.
    const sample = [15 * 8, 30 * 8 + 7, 6 * 8 + 2, 10 * 8, 14 * 8, 14 * 8 + 1];
    for (const bit of sample) {
      expect(costly).toContain(bit);
      expect(await codeOf(openVault(flip(bit), passphrase)), `bit ${bit}`).toBe('AUTH_FAILED');
    }
    for (const key of memo.values()) key.wipe();
  });
});
