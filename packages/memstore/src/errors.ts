// SPDX-License-Identifier: AGPL-3.0-only

/** Stable error codes of `@cora/memstore`. Messages never contain secret bytes. */
export const MemstoreErrorCode = {
  WIPED: 'WIPED',
  ASYNC_USE: 'ASYNC_USE',
  LIMIT_COUNT: 'LIMIT_COUNT',
  LIMIT_VALUE_SIZE: 'LIMIT_VALUE_SIZE',
  LIMIT_TOTAL_SIZE: 'LIMIT_TOTAL_SIZE',
  INVALID_NAME: 'INVALID_NAME',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_STORED: 'ALREADY_STORED',
  BLOCK_TRUNCATED: 'BLOCK_TRUNCATED',
  BLOCK_TRAILING_BYTES: 'BLOCK_TRAILING_BYTES',
  BLOCK_DUPLICATE_NAME: 'BLOCK_DUPLICATE_NAME',
  BLOCK_INVALID_NAME: 'BLOCK_INVALID_NAME',
  BLOCK_VALUE_TOO_LARGE: 'BLOCK_VALUE_TOO_LARGE',
  BLOCK_BAD_AUDIT_KEY: 'BLOCK_BAD_AUDIT_KEY',
  BLOCK_BAD_JSON: 'BLOCK_BAD_JSON',
  BLOCK_BAD_TIMESTAMP: 'BLOCK_BAD_TIMESTAMP',
} as const;

export type MemstoreErrorCode = (typeof MemstoreErrorCode)[keyof typeof MemstoreErrorCode];

/** The one error class of `@cora/memstore`; branch on `code`, not on `message`. */
export class MemstoreError extends Error {
  override readonly name = 'MemstoreError';
  readonly code: MemstoreErrorCode;

  constructor(code: MemstoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Type guard for {@link MemstoreError}, optionally for one code. */
export function isMemstoreError(value: unknown, code?: MemstoreErrorCode): value is MemstoreError {
  return value instanceof MemstoreError && (code === undefined || value.code === code);
}
