// SPDX-License-Identifier: AGPL-3.0-only
import sodium from 'sodium-native';
import { SecretBuf } from '@cora/memstore';
import {
  HEADER_LENGTH,
  KDF_FLOOR,
  MAX_VAULT_BYTES,
  NONCE_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  parseHeader,
  type KdfParams,
} from '../format.ts';
import { aeadDecrypt, aeadEncryptInto } from './aead.ts';
import { asBuffer, copyBytes } from './bytes.ts';
import { assertWritableParams, encodeHeader } from './header.ts';
import type { DeriveKey } from './kdf.ts';

/** Options for sealing (see `SealOptions` in the public API for the documentation). */
export interface SealCoreOptions {
  readonly kdf?: KdfParams;
  readonly salt?: Uint8Array;
}

function assertSecretBuf(value: unknown, name: string): asserts value is SecretBuf {
  if (!(value instanceof SecretBuf)) throw new TypeError(`${name} must be a SecretBuf`);
}

/** `sealVault` with the KDF injected (tests wrap the real one; production passes it as is). */
export async function sealVaultWith(
  plaintext: SecretBuf,
  passphrase: SecretBuf,
  options: SealCoreOptions,
  kdf: DeriveKey,
): Promise<Uint8Array> {
  assertSecretBuf(plaintext, 'plaintext');
  assertSecretBuf(passphrase, 'passphrase');
  const rawOptions: unknown = options; // typed, but JS callers can pass anything
  if (typeof rawOptions !== 'object' || rawOptions === null) throw new TypeError('options must be an object');
  const params: KdfParams = options.kdf ?? KDF_FLOOR;
  assertWritableParams(params, 'options.kdf');
  let salt: Uint8Array;
  if (options.salt === undefined) {
    // A fresh salt gives every write an independent key (architecture §4).
    salt = new Uint8Array(SALT_LENGTH);
    sodium.randombytes_buf(asBuffer(salt));
  } else {
    if (!(options.salt instanceof Uint8Array)) throw new TypeError('options.salt must be a Uint8Array');
    if (options.salt.byteLength !== SALT_LENGTH) {
      throw new RangeError(`options.salt must be ${SALT_LENGTH} bytes, got ${options.salt.byteLength}`);
    }
    salt = copyBytes(options.salt);
  }
  const total = HEADER_LENGTH + plaintext.length + TAG_LENGTH;
  if (total > MAX_VAULT_BYTES) {
    throw new RangeError(`plaintext must be at most ${MAX_VAULT_BYTES - HEADER_LENGTH - TAG_LENGTH} bytes`);
  }
  // A fresh random nonce on every seal, always (architecture §4); never caller-supplied.
  const nonce = new Uint8Array(NONCE_LENGTH);
  sodium.randombytes_buf(asBuffer(nonce));
  const header = encodeHeader(params, salt, nonce);

  const key = await kdf(passphrase, salt, params);
  try {
    const file = new Uint8Array(total);
    file.set(header, 0);
    // AAD = the whole header (architecture §4), so every header bit is authenticated.
    aeadEncryptInto(file.subarray(HEADER_LENGTH), plaintext, header, nonce, key);
    return file;
  } finally {
    key.wipe();
  }
}

/** `openVault` with the KDF injected (tests wrap the real one with a memo). */
export async function openVaultWith(
  file: Uint8Array,
  passphrase: SecretBuf,
  kdf: DeriveKey,
): Promise<SecretBuf> {
  if (!(file instanceof Uint8Array)) throw new TypeError('file must be a Uint8Array');
  assertSecretBuf(passphrase, 'passphrase');
  // Every header refusal happens here, before the KDF runs (no downgrade, no KDF bomb).
  const header = parseHeader(file);
  // Snapshot the AAD now: the caller's array could change during the KDF's await.
  const aad = copyBytes(file.subarray(0, HEADER_LENGTH));
  const key = await kdf(passphrase, header.salt, header.params);
  try {
    // aeadDecrypt maps every authentication failure to the one AUTH_FAILED code.
    return aeadDecrypt(file.subarray(HEADER_LENGTH), aad, header.nonce, key);
  } finally {
    key.wipe();
  }
}
