// SPDX-License-Identifier: AGPL-3.0-only

/** Stable error codes of `@cora/audit`. Messages name fields and files, never values. */
export const AuditErrorCode = {
  /** An event failed the closed schema (wrong type, extra key, over-long string…). */
  INVALID_EVENT: 'INVALID_EVENT',
  /** The log could not be written or fsynced (disk full, I/O error, file size limit…). */
  WRITE_FAILED: 'WRITE_FAILED',
  /** Verification found a problem (export refuses; readRecords meets a bad line). */
  VERIFY_FAILED: 'VERIFY_FAILED',
  /** The log file or directory is a symlink, not a regular file, owned by another uid or too open. */
  UNSAFE_FILE: 'UNSAFE_FILE',
  /** The log was closed. */
  CLOSED: 'CLOSED',
} as const;

export type AuditErrorCode = (typeof AuditErrorCode)[keyof typeof AuditErrorCode];

/** The one error class of `@cora/audit`; branch on `code`, not on `message`. */
export class AuditError extends Error {
  override readonly name = 'AuditError';
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Type guard for {@link AuditError}, optionally for one code. */
export function isAuditError(value: unknown, code?: AuditErrorCode): value is AuditError {
  return value instanceof AuditError && (code === undefined || value.code === code);
}
