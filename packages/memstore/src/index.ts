// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/memstore`: secret bytes in libsodium secure memory, an in-memory secret store and
 * the vault's binary secrets-block codec (architecture §4).
 * @packageDocumentation
 */
export { SecretBuf, REDACTED, wipeBytes } from './secret-buf.ts';
export { MemStore, DEFAULT_LIMITS, isValidSecretName } from './store.ts';
export type { MemStoreLimits, SecretInfo } from './store.ts';
export {
  encodeSecretsBlock,
  decodeSecretsBlock,
  wipeSecretsBlock,
  MAX_VALUE_BYTES,
  AUDIT_KEY_BYTES,
} from './codec.ts';
export type { SecretEntry, SecretsBlock } from './codec.ts';
export { MemstoreError, MemstoreErrorCode, isMemstoreError } from './errors.ts';
