// SPDX-License-Identifier: AGPL-3.0-only

/**
 * Stable error codes of the `cr` CLI and the service. Each maps to one documented exit code
 * (README "Exit codes"). Messages name files, secrets and limits, never secret bytes.
 */
export const CrErrorCode = {
  /** Bad command line: unknown option, missing argument, two passphrase sources. */
  USAGE: 'USAGE',
  /** The user cancelled a prompt (Ctrl-C, Ctrl-D). */
  CANCELLED: 'CANCELLED',
  /** Wrong passphrase (or a vault that was changed: the AEAD cannot tell the two apart). */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The two passphrases typed at `init` / `passwd` differ. */
  MISMATCH: 'MISMATCH',
  /** No vault at the path (run `cr init`). */
  NO_VAULT: 'NO_VAULT',
  /** `cr init` found a vault already. */
  VAULT_EXISTS: 'VAULT_EXISTS',
  /** The service is not running, or is running but locked. */
  LOCKED: 'LOCKED',
  /** No such secret. */
  NOT_FOUND: 'NOT_FOUND',
  /** Invalid input: a .env file, an empty passphrase, a duplicate name. */
  INVALID_INPUT: 'INVALID_INPUT',
  /** A secret name breaks the architecture §4 rule. */
  INVALID_NAME: 'INVALID_NAME',
  /** A value over 64 KiB, or more secrets than the vault holds. */
  TOO_LARGE: 'TOO_LARGE',
  /** A file or directory is unsafe (wrong owner, group/other permissions, a symlink). */
  UNSAFE_PATH: 'UNSAFE_PATH',
  /** The peer was refused: the service refused us, or the socket's owner is not us. */
  REFUSED: 'REFUSED',
  /** The service could not be reached or did not start. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** A task's `max_spawns` was reached within its window (`cr exec`). */
  RATE_LIMITED: 'RATE_LIMITED',
  /** The audit log cannot be written: nothing was released (G7). */
  AUDIT_UNAVAILABLE: 'AUDIT_UNAVAILABLE',
  /** An approver denied the request, or nobody approved it in time (architecture §7). */
  DENIED: 'DENIED',
  /** `cr audit verify` found a problem in the log, or the log does not vouch where it must. */
  AUDIT_INVALID: 'AUDIT_INVALID',
  /** The vault file is damaged or not a vault. */
  VAULT_CORRUPT: 'VAULT_CORRUPT',
  /** The vault file's version or KDF is unknown (a newer Cora wrote it). */
  VAULT_UNSUPPORTED: 'VAULT_UNSUPPORTED',
  /** The vault header's KDF cost is outside the floor and ceiling. */
  KDF_OUT_OF_RANGE: 'KDF_OUT_OF_RANGE',
  /** The vault file is older than, or other than, the one the audit log vouches for. */
  VAULT_ROLLBACK: 'VAULT_ROLLBACK',
  /** No space left on the device (or quota). */
  DISK_FULL: 'DISK_FULL',
  /** The disk reported an I/O error. */
  IO_ERROR: 'IO_ERROR',
  /** The file system is read-only. */
  READ_ONLY: 'READ_ONLY',
  /** The operating system refused access to a file. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** Another live process holds the vault's write lock. */
  LOCK_HELD: 'LOCK_HELD',
  /** The vault's budget (secret count, total bytes) would be exceeded. */
  BUDGET_EXCEEDED: 'BUDGET_EXCEEDED',
  /** The service is throttling this client (too many requests or connections); retry. */
  BUSY: 'BUSY',
  /** A secret that tasks use, deleted without confirmation (`--yes`, or y at the prompt). */
  IN_USE: 'IN_USE',
  /** Anything else (a bug, an I/O error). */
  INTERNAL: 'INTERNAL',
} as const;

/** One of the values of {@link (CrErrorCode:variable)}. */
export type CrErrorCode = (typeof CrErrorCode)[keyof typeof CrErrorCode];

/** Process exit code for each {@link (CrErrorCode:type)} (README "Exit codes"). */
const EXIT_CODES: Readonly<Record<CrErrorCode, number>> = Object.freeze({
  INTERNAL: 1,
  USAGE: 2,
  LOCKED: 3,
  AUTH_FAILED: 4,
  MISMATCH: 4,
  NO_VAULT: 5,
  NOT_FOUND: 5,
  VAULT_EXISTS: 6,
  INVALID_INPUT: 7,
  INVALID_NAME: 7,
  TOO_LARGE: 7,
  UNSAFE_PATH: 8,
  REFUSED: 9,
  UNAVAILABLE: 10,
  RATE_LIMITED: 11,
  AUDIT_UNAVAILABLE: 12,
  DENIED: 13,
  AUDIT_INVALID: 14,
  VAULT_CORRUPT: 15,
  VAULT_UNSUPPORTED: 16,
  KDF_OUT_OF_RANGE: 17,
  VAULT_ROLLBACK: 18,
  DISK_FULL: 19,
  IO_ERROR: 20,
  READ_ONLY: 21,
  PERMISSION_DENIED: 22,
  LOCK_HELD: 23,
  BUDGET_EXCEEDED: 24,
  BUSY: 25,
  IN_USE: 26,
  CANCELLED: 130,
});

/** The one error class of the daemon app; branch on `code`. */
export class CrError extends Error {
  override readonly name = 'CrError';
  readonly code: CrErrorCode;

  constructor(code: CrErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The process exit code for this error. */
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/**
 * Type guard for {@link CrError}, optionally for one code.
 * @param value - anything caught
 * @param code - when given, the error must carry this code
 * @returns whether `value` is a CrError (with `code`)
 */
export function isCrError(value: unknown, code?: CrErrorCode): value is CrError {
  return value instanceof CrError && (code === undefined || value.code === code);
}

/** errno of a failed file operation → the class the user sees. */
const FILE_ERRNO: Readonly<Record<string, CrErrorCode>> = {
  ENOSPC: 'DISK_FULL',
  EDQUOT: 'DISK_FULL',
  EIO: 'IO_ERROR',
  EROFS: 'READ_ONLY',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  ELOOP: 'UNSAFE_PATH',
  EISDIR: 'UNSAFE_PATH',
  ENXIO: 'UNSAFE_PATH',
};

/**
 * A CrError for a file operation of the CLI that failed (the service has its own mapping).
 * @param error - what the file system threw
 * @param path - the file (named in the message)
 * @returns a CrError of the matching class, or `error` unchanged when it is not a file error
 */
export function fileError(error: unknown, path: string): unknown {
  const errno = (error as { code?: unknown } | null)?.code;
  const code = typeof errno === 'string' ? FILE_ERRNO[errno] : undefined;
  if (code === undefined) return error;
  const advice =
    code === 'UNSAFE_PATH'
      ? 'it must be a regular file of yours: remove what is there'
      : 'check the disk and the permissions of the Cora home';
  return new CrError(code, `cannot open ${path} (${String(errno)}); ${advice}`, { cause: error });
}
