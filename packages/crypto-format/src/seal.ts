// SPDX-License-Identifier: AGPL-3.0-only
import type { SecretBuf } from '@cora/memstore';
import type { KdfParams } from './format.ts';
import { deriveVaultKey } from './internal/kdf.ts';
import { openVaultWith, sealVaultWith } from './internal/seal-core.ts';

/** Options for {@link sealVault}. */
export interface SealOptions {
  /**
   * Argon2id cost. Defaults to {@link KDF_FLOOR} (t = 3, m = 64 MiB, p = 4). Must lie within
   * {@link KDF_FLOOR} and {@link KDF_CEILING}, with t × m at most {@link KDF_WORK_CEILING}; a
   * writer cannot produce a file readers refuse.
   */
  readonly kdf?: KdfParams;
  /**
   * Reuse this 16-byte salt instead of drawing a fresh one. By default every seal draws a new
   * salt, so every file version has an independent key; architecture §4 only requires a new salt on
   * `init` and `passwd`, so keeping one for ordinary writes is allowed but gains nothing here
   * (the key is derived again on every seal either way). The nonce is always fresh.
   */
  readonly salt?: Uint8Array;
}

/**
 * Encrypt a plaintext block into a complete vault file (architecture §4): header, then
 * XChaCha20-Poly1305 ciphertext and tag, with the whole header as associated data and the key
 * from Argon2id(passphrase, salt, t, m, p). The derived key lives in secure memory and is
 * wiped before this resolves or rejects. `plaintext` and `passphrase` stay owned (and
 * un-wiped) by the caller.
 *
 * @param plaintext - the secret bytes to seal (normally from memstore's `encodeSecretsBlock`).
 * @param passphrase - the passphrase bytes.
 * @param options - KDF cost and salt; see {@link SealOptions}.
 * @returns the file bytes (not secret: everything sensitive in them is encrypted).
 * @throws TypeError when an argument has the wrong type.
 * @throws RangeError when `options.kdf` is outside floor/ceiling, `options.salt` is not 16
 *   bytes or the file would exceed {@link MAX_VAULT_BYTES}.
 *
 * @example
 * ```ts
 * const file = await sealVault(plaintext, passphrase);
 * await writeFileAtomic(path, file);
 * ```
 */
export function sealVault(
  plaintext: SecretBuf,
  passphrase: SecretBuf,
  options: SealOptions = {},
): Promise<Uint8Array> {
  return sealVaultWith(plaintext, passphrase, options, deriveVaultKey);
}

/**
 * Check and decrypt a vault file straight into secure memory. The header is checked first
 * (magic, version, kdf, reserved byte, floor and ceiling), so a crafted header costs no KDF
 * time. Then Argon2id runs and XChaCha20-Poly1305 authenticates header and ciphertext.
 *
 * A wrong passphrase and any change to the file after the header checks give the same
 * `AUTH_FAILED`: the AEAD cannot tell them apart, and the reader should not try.
 *
 * @param file - the complete file bytes.
 * @param passphrase - the passphrase bytes (not wiped).
 * @returns the plaintext in a new SecretBuf the caller must wipe.
 * @throws TypeError when an argument has the wrong type.
 * @throws CryptoFormatError any header code of {@link parseHeader}, or `AUTH_FAILED`.
 *
 * @example
 * ```ts
 * const plaintext = await openVault(await readVaultFile(path), passphrase);
 * try { use(plaintext); } finally { plaintext.wipe(); }
 * ```
 */
export function openVault(file: Uint8Array, passphrase: SecretBuf): Promise<SecretBuf> {
  return openVaultWith(file, passphrase, deriveVaultKey);
}
