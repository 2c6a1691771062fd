// SPDX-License-Identifier: AGPL-3.0-only
// HMAC-SHA256 (RFC 2104) whose key never leaves secure memory. sodium-native 5.1 has no
// crypto_auth_hmacsha256 binding (crypto_auth is HMAC-SHA512-256), so HMAC is built from
// crypto_hash_sha256_{init,update,final}: the SHA-256 states after absorbing key⊕ipad and
// key⊕opad are precomputed once into a SecretBuf, and each MAC copies them into a scratch
// state inside the same secure region, which is zeroed before the region closes.
import { createHash } from 'node:crypto';
import sodium from 'sodium-native';
import { SecretBuf, wipeBytes } from '@cora/memstore';

/** The streaming SHA-256 API exists in sodium-native 5; @types/sodium-native 2.3.9 lags behind. */
const sha = sodium as unknown as {
  crypto_hash_sha256_STATEBYTES: number;
  crypto_hash_sha256_init(state: Buffer): void;
  crypto_hash_sha256_update(state: Buffer, input: Buffer): void;
  crypto_hash_sha256_final(state: Buffer, out: Buffer): void;
};

const BLOCK = 64;
const STATE = sha.crypto_hash_sha256_STATEBYTES;
const OUT = 32;
export const ZERO_HASH = '0'.repeat(64);

function asBuffer(view: Uint8Array): Buffer {
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** Lower-case hex SHA-256 of public bytes (the chain hash is not secret). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An HMAC-SHA256 key held as precomputed inner/outer states in secure memory. */
export class MacKey {
  readonly #buf: SecretBuf;

  /** Copies `key`'s bytes (the caller keeps and wipes its own SecretBuf). */
  constructor(key: SecretBuf) {
    // Layout: [istate | ostate | scratch state | pad block | inner digest]
    this.#buf = SecretBuf.alloc(3 * STATE + BLOCK + OUT);
    try {
      this.#buf.use((mem) => {
        const m = asBuffer(mem);
        const pad = m.subarray(3 * STATE, 3 * STATE + BLOCK);
        key.use((k) => {
          if (k.length > BLOCK) throw new RangeError('key must be at most 64 bytes');
          pad.set(k);
        });
        for (const [at, byte] of [
          [0, 0x36],
          [STATE, 0x5c],
        ] as const) {
          const state = m.subarray(at, at + STATE);
          const block = m.subarray(3 * STATE, 3 * STATE + BLOCK);
          const keyed = m.subarray(2 * STATE, 2 * STATE + BLOCK); // scratch, reused below
          for (let i = 0; i < BLOCK; i++) keyed[i] = (block[i] ?? 0) ^ byte;
          sha.crypto_hash_sha256_init(state);
          sha.crypto_hash_sha256_update(state, keyed);
        }
        m.fill(0, 2 * STATE); // scratch, pad and digest area
      });
    } catch (error) {
      this.#buf.wipe();
      throw error;
    }
  }

  /** HMAC-SHA256(key, message) as lower-case hex (the tag is public). */
  hex(message: Uint8Array): string {
    const tag = Buffer.alloc(OUT);
    this.#buf.use((mem) => {
      const m = asBuffer(mem);
      const scratch = m.subarray(2 * STATE, 3 * STATE);
      const inner = m.subarray(3 * STATE + BLOCK, 3 * STATE + BLOCK + OUT);
      try {
        scratch.set(m.subarray(0, STATE));
        sha.crypto_hash_sha256_update(scratch, asBuffer(message));
        sha.crypto_hash_sha256_final(scratch, inner);
        scratch.set(m.subarray(STATE, 2 * STATE));
        sha.crypto_hash_sha256_update(scratch, inner);
        sha.crypto_hash_sha256_final(scratch, tag);
      } finally {
        m.fill(0, 2 * STATE);
      }
    });
    return tag.toString('hex');
  }

  /** Constant-time check of a hex tag. */
  verify(message: Uint8Array, tagHex: string): boolean {
    const expected = Buffer.from(this.hex(message), 'latin1');
    const given = Buffer.from(tagHex, 'latin1');
    try {
      return expected.length === given.length && sodium.sodium_memcmp(expected, given);
    } finally {
      wipeBytes(expected);
    }
  }

  /**
   * Run `fn` with the key's secure memory held open, so the MACs it computes skip the two
   * `mprotect` calls each (SecretBuf.use nests). `fn` must be synchronous.
   */
  session<T>(fn: () => T): T {
    return this.#buf.use(() => fn());
  }

  wipe(): void {
    this.#buf.wipe();
  }
}
