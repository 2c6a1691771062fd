// SPDX-License-Identifier: AGPL-3.0-only

/** Stable codes of {@link SandboxError}. */
export const SandboxErrorCode = {
  /** The kernel has no Landlock (or it is disabled), or its ABI is older than required. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** This CPU architecture's syscall numbers are not known here (x86_64 and aarch64 are). */
  ARCH_UNSUPPORTED: 'ARCH_UNSUPPORTED',
  /** A Landlock or prctl call failed: `errno` says why. The process may be half-confined. */
  SYSCALL_FAILED: 'SYSCALL_FAILED',
  /** The spec names a relative path or a path with a NUL byte. */
  INVALID_SPEC: 'INVALID_SPEC',
  /** `execve` failed after the restriction: this process is confined and must exit. */
  EXEC_FAILED: 'EXEC_FAILED',
} as const;

/** One of the values of {@link (SandboxErrorCode:variable)}. */
export type SandboxErrorCode = (typeof SandboxErrorCode)[keyof typeof SandboxErrorCode];

/** The one error class of `@cora/sandbox`; branch on `code`. */
export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  readonly code: SandboxErrorCode;
  /** The C errno of a failed call, when there is one. */
  readonly errno: number | undefined;

  constructor(code: SandboxErrorCode, message: string, options?: { cause?: unknown; errno?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = options?.errno;
  }
}

/**
 * Type guard for {@link SandboxError}, optionally for one code.
 * @param value - anything caught
 * @param code - when given, the error must carry this code
 * @returns whether `value` is a SandboxError (with `code`)
 */
export function isSandboxError(value: unknown, code?: SandboxErrorCode): value is SandboxError {
  return value instanceof SandboxError && (code === undefined || value.code === code);
}
