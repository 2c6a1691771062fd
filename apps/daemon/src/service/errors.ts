// SPDX-License-Identifier: AGPL-3.0-only
/**
 * What broke, as a wire code the user can act on: the vault file's format, the disk, the
 * write lock and the budget each get their own code and a message that says what to do next.
 * "internal error" is left for real bugs. Messages name files, fields and limits, never a value.
 */
import { isCryptoFormatError, type CryptoFormatError } from '@cora/crypto-format';
import { IpcError, type WireErrorCode } from '@cora/ipc';
import { isMemstoreError } from '@cora/memstore';

/** errno → wire code, for system errors that reach the service unwrapped. */
const ERRNO: Readonly<Record<string, WireErrorCode>> = {
  ENOSPC: 'DISK_FULL',
  EDQUOT: 'DISK_FULL',
  EFBIG: 'DISK_FULL',
  EIO: 'IO_ERROR',
  EROFS: 'READ_ONLY',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
};

const DISK_ADVICE: Partial<Record<WireErrorCode, string>> = {
  DISK_FULL: 'free some space and retry; nothing was changed',
  IO_ERROR: 'the disk may be failing: check it (dmesg) and keep a copy of your Cora home',
  READ_ONLY: 'the file system is mounted read-only; remount it read-write and retry',
  PERMISSION_DENIED: 'check the owner and mode of the Cora home (700) and its files (600)',
};

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
}

function fromCryptoFormat(error: CryptoFormatError): IpcError | null {
  const path = error.path ?? 'the vault';
  const wire = (code: WireErrorCode, message: string): IpcError =>
    new IpcError(code, message, { cause: error });
  switch (error.code) {
    case 'FILE_TOO_SHORT':
    case 'BAD_MAGIC':
    case 'RESERVED_NOT_ZERO':
    case 'INVALID_PLAINTEXT':
    case 'NOT_REGULAR_FILE':
    case 'FILE_TOO_LARGE':
    case 'FILE_CHANGED':
      return wire(
        'VAULT_CORRUPT',
        `${path} is damaged or not a Cora vault (${error.message}); restore it from a backup of your Cora home`,
      );
    case 'UNSUPPORTED_VERSION':
    case 'UNSUPPORTED_KDF':
      return wire('VAULT_UNSUPPORTED', `${error.message}; it was written by a newer Cora: upgrade cr`);
    case 'KDF_BELOW_FLOOR':
    case 'KDF_ABOVE_CEILING':
      return wire(
        'KDF_OUT_OF_RANGE',
        `${error.message}; a header outside the bounds is refused before any key is derived (an edited file?)`,
      );
    case 'VAULT_EXISTS':
      return wire('VAULT_EXISTS', `${path} already exists; refusing to overwrite it`);
    case 'LOCK_TIMEOUT':
      return wire('LOCK_HELD', `${error.message}; wait for it to finish, or stop that process`);
    case 'LOCK_NOT_REGULAR_FILE':
      return wire('PERMISSION_DENIED', `${error.message}; no Cora process makes one: remove it and retry`);
    case 'AUTH_FAILED':
    case 'VAULT_NOT_FOUND':
      return null; // the state maps these itself (escalating delay, cr init advice)
    default: {
      const disk =
        diskCode(error.code) ??
        (errnoOf(error.cause) === undefined ? undefined : ERRNO[errnoOf(error.cause) ?? '']);
      if (disk === undefined) return null;
      // crypto-format's own disk messages already say what failed and what to do.
      return wire(
        disk,
        diskCode(error.code) === undefined ? `${error.message}; ${DISK_ADVICE[disk] ?? ''}` : error.message,
      );
    }
  }
}

/** The crypto-format codes that name a disk condition (same names as the wire codes). */
function diskCode(code: string): WireErrorCode | undefined {
  return code === 'DISK_FULL' || code === 'IO_ERROR' || code === 'READ_ONLY' || code === 'PERMISSION_DENIED'
    ? code
    : undefined;
}

/**
 * Turn what a vault operation threw into the error the caller gets.
 *
 * @param error - anything thrown by crypto-format, memstore, the file system or the service
 * @param op - the operation, named in messages for system errors
 * @returns an IpcError with its own code, an IpcError as it was, or the original
 *   error (a bug: the server reports it as INTERNAL)
 */
export function serviceError(error: unknown, op: string): Error {
  if (error instanceof IpcError) return error;
  if (isCryptoFormatError(error)) return fromCryptoFormat(error) ?? error;
  if (isMemstoreError(error)) {
    if (error.code === 'LIMIT_COUNT' || error.code === 'LIMIT_TOTAL_SIZE') {
      return new IpcError('BUDGET_EXCEEDED', error.message, { cause: error });
    }
    if (error.code === 'LIMIT_VALUE_SIZE') return new IpcError('TOO_LARGE', error.message, { cause: error });
    return error;
  }
  const errno = errnoOf(error);
  const code = errno === undefined ? undefined : ERRNO[errno];
  if (code !== undefined) {
    return new IpcError(code, `${op}: ${errno ?? ''} from the file system; ${DISK_ADVICE[code] ?? ''}`, {
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * One line for service.log about a refusal of these classes: the class, the step and the
 * errno (never a value; messages here only ever name paths and fields).
 *
 * @param error - the error as {@link serviceError} returned it
 * @param op - the operation
 * @returns the line, or null when the error is not one of the file classes
 */
export function describeForLog(error: unknown, op: string): string | null {
  if (
    !(error instanceof IpcError) ||
    (!isCryptoFormatError(error.cause) && errnoOf(error.cause) === undefined)
  ) {
    return null;
  }
  const cause = error.cause as { code?: unknown; step?: unknown; errno?: unknown; cause?: unknown };
  const step = typeof cause.step === 'string' ? cause.step : 'unknown';
  const errno =
    typeof cause.errno === 'string' ? cause.errno : (errnoOf(cause.cause) ?? errnoOf(cause) ?? 'none');
  return `${op}: ${error.code} (${String(cause.code)}, step ${step}, errno ${errno})`;
}

/**
 * Run a handler body and give whatever it throws its wire code: the service throws its own
 * refusals as wire-coded IpcErrors already; file and disk errors get theirs from
 * {@link serviceError}. Anything left is a bug, which
 * the server reports as INTERNAL without its message. (The caller was re-checked by the gate
 * in authorize.ts before this runs.)
 *
 * @param fn - the handler body
 * @returns what `fn` returns
 */
export async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw serviceError(error, 'request');
  }
}
