// SPDX-License-Identifier: AGPL-3.0-only

/**
 * Stable error codes of `@cora/crypto-format`. Callers branch on `code`, never on `message`.
 * Messages never contain secret bytes (they only ever name fields, sizes and paths).
 */
export const CryptoFormatErrorCode = {
  /** The file is shorter than header + tag (architecture §4: 56 + 16 bytes). */
  FILE_TOO_SHORT: 'FILE_TOO_SHORT',
  /** The first four bytes are not `"CORA"`. */
  BAD_MAGIC: 'BAD_MAGIC',
  /** The version byte is not one this reader knows (only 1). */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** The kdf byte is not one this reader knows (only 1 = Argon2id v1.3). */
  UNSUPPORTED_KDF: 'UNSUPPORTED_KDF',
  /** The reserved header byte is not 0. */
  RESERVED_NOT_ZERO: 'RESERVED_NOT_ZERO',
  /** t, m or p in the header is under the floor (no downgrade, architecture §1 G4). */
  KDF_BELOW_FLOOR: 'KDF_BELOW_FLOOR',
  /** t, m or p in the header is over the ceiling (no KDF bomb). */
  KDF_ABOVE_CEILING: 'KDF_ABOVE_CEILING',
  /** Wrong passphrase or any change to the file: deliberately one code, see the README. */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The decrypted, authenticated plaintext is not a valid secrets block (`cause` says why). */
  INVALID_PLAINTEXT: 'INVALID_PLAINTEXT',
  /** The path is a symlink, FIFO, directory, device or anything but a regular file. */
  NOT_REGULAR_FILE: 'NOT_REGULAR_FILE',
  /** The file is larger than the reader's cap. */
  FILE_TOO_LARGE: 'FILE_TOO_LARGE',
  /** The file changed size while it was being read. */
  FILE_CHANGED: 'FILE_CHANGED',
  /** There is no vault file at the path. */
  VAULT_NOT_FOUND: 'VAULT_NOT_FOUND',
  /** `createVault` found something already at the path. */
  VAULT_EXISTS: 'VAULT_EXISTS',
  /** The exclusive lock could not be taken within the timeout. */
  LOCK_TIMEOUT: 'LOCK_TIMEOUT',
  /**
   * Something other than a regular file (a symlink, directory, FIFO, socket or device) is at
   * the lock path or its guard path. No writer of this package makes one: it is corruption or
   * an attack, so it is refused at once and never removed or followed.
   */
  LOCK_NOT_REGULAR_FILE: 'LOCK_NOT_REGULAR_FILE',
  /** The file system is full or the user's quota is used up (ENOSPC, EDQUOT, EFBIG). */
  DISK_FULL: 'DISK_FULL',
  /** The file system is mounted read-only (EROFS). */
  READ_ONLY: 'READ_ONLY',
  /** The file or its directory does not allow the operation (EACCES, EPERM). */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** The disk or file system reported an error (EIO), or any other unexpected errno. */
  IO_ERROR: 'IO_ERROR',
} as const;

/** One of the values of {@link (CryptoFormatErrorCode:variable)}. */
export type CryptoFormatErrorCode = (typeof CryptoFormatErrorCode)[keyof typeof CryptoFormatErrorCode];

/** Optional context carried by a {@link CryptoFormatError}; none of it is secret. */
export interface CryptoFormatErrorContext {
  /** The file the operation was about, when there is one. */
  readonly path?: string;
  /** The header field a refusal is about (`t`, `m`, `p`, …). */
  readonly field?: string;
  /**
   * For the file-system codes: the step of the read or write that failed, `read`, `mkdir`,
   * `create-temp`, `write-temp`, `fsync`, `keep-previous`, `rename`, `fsync-dir` or `lock`.
   * A write that failed before `rename` left the file as it was; at `fsync-dir` the new file
   * is already in place (see `writeFileAtomic`).
   */
  readonly step?: string;
  /** For the file-system codes: the errno name the system call failed with (`ENOSPC`, `EIO`, …). */
  readonly errno?: string;
  /** The underlying error (for example a `MemstoreError` or a Node system error). */
  readonly cause?: unknown;
}

/**
 * The one error class of `@cora/crypto-format`.
 *
 * @example
 * ```ts
 * try {
 *   await openVault(file, passphrase);
 * } catch (error) {
 *   if (isCryptoFormatError(error, 'AUTH_FAILED')) console.error('wrong passphrase or damaged file');
 *   else throw error;
 * }
 * ```
 */
export class CryptoFormatError extends Error {
  override readonly name = 'CryptoFormatError';
  /** Stable machine-readable code. */
  readonly code: CryptoFormatErrorCode;
  /** The file involved, if any. */
  readonly path: string | undefined;
  /** The header field involved, if any. */
  readonly field: string | undefined;
  /** The step of a read or write that failed, for the file-system codes. */
  readonly step: string | undefined;
  /** The errno name behind a file-system code (`ENOSPC`, `EIO`, …). */
  readonly errno: string | undefined;

  constructor(code: CryptoFormatErrorCode, message: string, context: CryptoFormatErrorContext = {}) {
    super(message, 'cause' in context ? { cause: context.cause } : undefined);
    this.code = code;
    this.path = context.path;
    this.field = context.field;
    this.step = context.step;
    this.errno = context.errno;
  }
}

/**
 * Type guard for {@link CryptoFormatError}, optionally narrowed to one code.
 * @param value - anything caught.
 * @param code - when given, the error must also carry this code.
 * @returns whether `value` is a `CryptoFormatError` (with `code`).
 */
export function isCryptoFormatError(
  value: unknown,
  code?: CryptoFormatErrorCode,
): value is CryptoFormatError {
  return value instanceof CryptoFormatError && (code === undefined || value.code === code);
}
