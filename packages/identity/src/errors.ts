// SPDX-License-Identifier: AGPL-3.0-only

/** Stable error codes of `@cora/identity` and its platform packages. */
export const IdentityErrorCode = {
  /** The peer exited (or became a zombie) before its identity could be verified. */
  PEER_GONE: 'PEER_GONE',
  /** The pid now belongs to another process than the one that connected. */
  PID_REUSED: 'PID_REUSED',
  /** The peer `exec`'d another program while it was being verified. */
  PEER_CHANGED: 'PEER_CHANGED',
  /** The peer runs a binary that was deleted or replaced on disk since it started. */
  EXE_DELETED: 'EXE_DELETED',
  /** The kernel gave no usable peer credentials (not a Unix socket, no fd, pid outside our namespace). */
  NO_PEER_CREDENTIALS: 'NO_PEER_CREDENTIALS',
  /** No platform implementation is available (or loaded) for `process.platform`. */
  UNSUPPORTED_PLATFORM: 'UNSUPPORTED_PLATFORM',
  /** `/proc` (or the platform's equivalent) could not be read for the peer. */
  PROC_UNREADABLE: 'PROC_UNREADABLE',
} as const;

export type IdentityErrorCode = (typeof IdentityErrorCode)[keyof typeof IdentityErrorCode];

/** Marks instances across duplicated copies of this package (see {@link isIdentityError}). */
const BRAND = Symbol.for('@cora/identity.IdentityError');

/** The one error class of `@cora/identity`; branch on `code`, not on `message`. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  readonly code: IdentityErrorCode;
  /** The peer's pid when it was known at the time of the failure. */
  readonly pid: number | undefined;

  constructor(code: IdentityErrorCode, message: string, options?: { cause?: unknown; pid?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.pid = options?.pid;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * Type guard for {@link IdentityError}, optionally for one code.
 *
 * Also accepts an `IdentityError` made by a second copy of this package (a package manager
 * can install two), recognised by a `Symbol.for` brand, so a refusal is never mistaken for
 * an unknown error.
 */
export function isIdentityError(value: unknown, code?: IdentityErrorCode): value is IdentityError {
  const branded =
    value instanceof IdentityError ||
    (value instanceof Error && (value as unknown as Record<symbol, unknown>)[BRAND] === true);
  return branded && (code === undefined || (value as IdentityError).code === code);
}
