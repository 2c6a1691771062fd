// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/crypto-format`: the Cora vault file (architecture §4) — header, Argon2id key derivation,
 * XChaCha20-Poly1305 sealing, the KDF floor and ceiling, and atomic, locked file writes.
 * @packageDocumentation
 */
export { CryptoFormatError, CryptoFormatErrorCode, isCryptoFormatError } from './errors.ts';
export type { CryptoFormatErrorContext } from './errors.ts';
export {
  FORMAT_VERSION,
  HEADER_LENGTH,
  KDF_ARGON2ID,
  KDF_CEILING,
  KDF_FLOOR,
  KDF_WORK_CEILING,
  MAX_VAULT_BYTES,
  NONCE_LENGTH,
  SALT_LENGTH,
  TAG_LENGTH,
  parseHeader,
} from './format.ts';
export type { KdfParams, VaultHeader } from './format.ts';
export { openVault, sealVault } from './seal.ts';
export type { SealOptions } from './seal.ts';
export { readVaultFile, writeFileAtomic } from './file.ts';
export type { ReadFileOptions, WriteFileOptions } from './file.ts';
export { withFileLock } from './lock.ts';
export type { LockOptions } from './lock.ts';
export { createVault, openVaultBlock, readVault, updateVault } from './vault.ts';
export type { BeforeWrite, CreateVaultOptions, UpdateVaultOptions, VaultMutation } from './vault.ts';
