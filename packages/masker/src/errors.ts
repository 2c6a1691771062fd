// SPDX-License-Identifier: AGPL-3.0-only

/** Stable error codes of `@cora/masker`. Messages never hold a value or an output byte. */
export const MaskerErrorCode = {
  /** `push` or `flush` after `dispose()`: the patterns are wiped, nothing can be masked. */
  DISPOSED: 'DISPOSED',
  /** An internal invariant broke (a bug): nothing was emitted for the chunk. */
  INTERNAL: 'INTERNAL',
} as const;

/** One of the codes of `MaskerErrorCode`. */
export type MaskerErrorCode = (typeof MaskerErrorCode)[keyof typeof MaskerErrorCode];

/** The one error class of `@cora/masker`; branch on `code`, not on `message`. */
export class MaskerError extends Error {
  /** Always `'MaskerError'`. */
  override readonly name = 'MaskerError';
  /** What went wrong; see `MaskerErrorCode`. */
  readonly code: MaskerErrorCode;

  constructor(code: MaskerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * Type guard for {@link MaskerError}, optionally for one code.
 * @param value - anything caught
 * @param code - when given, the error must carry this code
 * @returns whether `value` is a `MaskerError` (with `code`)
 * @example
 * ```ts
 * const masker = createMasker([{ name: 'API_KEY', value }]);
 * masker.dispose();
 * try {
 *   masker.push(bytes);
 * } catch (error) {
 *   if (!isMaskerError(error, 'DISPOSED')) throw error; // the stream was torn down meanwhile
 * }
 * ```
 */
export function isMaskerError(value: unknown, code?: MaskerErrorCode): value is MaskerError {
  return value instanceof MaskerError && (code === undefined || value.code === code);
}
