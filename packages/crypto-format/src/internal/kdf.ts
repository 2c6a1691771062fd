// SPDX-License-Identifier: AGPL-3.0-only
import { argon2 } from 'node:crypto';
import { SecretBuf, wipeBytes } from '@cora/memstore';
import type { KdfParams } from '../format.ts';

/** Length of the derived XChaCha20-Poly1305 key. */
export const KEY_LENGTH = 32;

/** Inputs only the known-answer tests use (RFC 9106 §5.3 has a secret and associated data). */
export interface KdfExtras {
  readonly secret?: Uint8Array;
  readonly associatedData?: Uint8Array;
  readonly tagLength?: number;
}

/** The shape of the key-derivation step, so tests can wrap the real one (see openVaultWith). */
export type DeriveKey = (passphrase: SecretBuf, salt: Uint8Array, params: KdfParams) => Promise<SecretBuf>;

/**
 * Argon2id v1.3 (RFC 9106) through Node's `crypto.argon2`, which runs OpenSSL's implementation
 * off the main thread and honours p lanes (libsodium's Argon2 is p = 1 only, architecture §3).
 *
 * The passphrase view is only open inside `use()`. That is safe with an async job because
 * Node copies `message` into the job synchronously when `argon2()` is called; the copy lives
 * in memory Node/OpenSSL own (see README "Not guaranteed"). The derived key arrives in a
 * normal Buffer, is copied into secure memory at once and the Buffer is zeroed.
 *
 * No range checks here beyond what Node does: the format path checks floor and ceiling
 * before calling, and the known-answer tests need parameters under the floor.
 */
export function argon2id(
  passphrase: SecretBuf,
  salt: Uint8Array,
  params: KdfParams,
  extras: KdfExtras = {},
): Promise<SecretBuf> {
  return new Promise<SecretBuf>((resolve, reject) => {
    passphrase.use((message) => {
      argon2(
        'argon2id',
        {
          message,
          nonce: salt,
          passes: params.t,
          memory: params.m,
          parallelism: params.p,
          tagLength: extras.tagLength ?? KEY_LENGTH,
          ...(extras.secret === undefined ? {} : { secret: extras.secret }),
          ...(extras.associatedData === undefined ? {} : { associatedData: extras.associatedData }),
        },
        (error, derived) => {
          if (error !== null) {
            // On failure Node may still hand over a buffer; never leave key bytes behind.
            if (derived instanceof Uint8Array) wipeBytes(derived);
            reject(error);
            return;
          }
          try {
            resolve(SecretBuf.fromAndWipe(derived));
          } catch (copyError) {
            wipeBytes(derived);
            reject(copyError instanceof Error ? copyError : new Error('could not copy the derived key'));
          }
        },
      );
    });
  });
}

/** The KDF the format uses: Argon2id with a 32-byte output and no secret or associated data. */
export const deriveVaultKey: DeriveKey = (passphrase, salt, params) => argon2id(passphrase, salt, params);
