// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The one table from what the service (or the IPC layer) says to what the CLI says and exits
 * with. A `Record` over every code, so the compiler names any code added without a row.
 */
import { isIpcError, type IpcErrorCode } from '@cora/ipc';
import { CrError, type CrErrorCode } from '../shared/errors.ts';

const FROM_WIRE: Readonly<Record<IpcErrorCode, CrErrorCode>> = {
  // The protocol itself: a client of this version never causes these, so they are bugs or a
  // service of another version.
  BAD_FRAME: 'INTERNAL',
  FRAME_TOO_LARGE: 'INVALID_INPUT',
  BAD_JSON: 'INTERNAL',
  BAD_REQUEST: 'INVALID_INPUT',
  BAD_ATTACHMENT: 'INTERNAL',
  UNKNOWN_TYPE: 'UNAVAILABLE',
  UNSUPPORTED_VERSION: 'UNAVAILABLE',
  HANDSHAKE_REQUIRED: 'INTERNAL',
  HANDSHAKE_TIMEOUT: 'UNAVAILABLE',
  IDLE_TIMEOUT: 'UNAVAILABLE',
  PROTOCOL_ERROR: 'INTERNAL',
  // Load.
  BUSY: 'BUSY',
  RATE_LIMITED: 'BUSY',
  TASK_RATE_LIMITED: 'RATE_LIMITED',
  // Who may call.
  NOT_ALLOWED: 'REFUSED',
  UNTRUSTED_SERVER: 'REFUSED',
  UNSAFE_SOCKET: 'REFUSED',
  UNSAFE_SOCKET_DIR: 'UNSAFE_PATH',
  ALREADY_RUNNING: 'UNAVAILABLE',
  NOT_RUNNING: 'LOCKED',
  CONNECTION_CLOSED: 'UNAVAILABLE',
  TIMEOUT: 'UNAVAILABLE',
  // The vault and what it holds.
  LOCKED: 'LOCKED',
  UNLOCKED: 'USAGE',
  AUTH_FAILED: 'AUTH_FAILED',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'INVALID_INPUT',
  INVALID_NAME: 'INVALID_NAME',
  TOO_LARGE: 'TOO_LARGE',
  NO_VAULT: 'NO_VAULT',
  VAULT_EXISTS: 'VAULT_EXISTS',
  VAULT_CORRUPT: 'VAULT_CORRUPT',
  VAULT_UNSUPPORTED: 'VAULT_UNSUPPORTED',
  KDF_OUT_OF_RANGE: 'KDF_OUT_OF_RANGE',
  VAULT_ROLLBACK: 'VAULT_ROLLBACK',
  BUDGET_EXCEEDED: 'BUDGET_EXCEEDED',
  IN_USE: 'IN_USE',
  // The disk.
  DISK_FULL: 'DISK_FULL',
  IO_ERROR: 'IO_ERROR',
  READ_ONLY: 'READ_ONLY',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  LOCK_HELD: 'LOCK_HELD',
  // Audit and approvals.
  AUDIT_UNAVAILABLE: 'AUDIT_UNAVAILABLE',
  AUDIT_INVALID: 'AUDIT_INVALID',
  DENIED: 'DENIED',
  INTERNAL: 'INTERNAL',
};

/** Advice added after the service's own message, where the message alone does not say it. */
const HINT: Partial<Record<IpcErrorCode, string>> = {
  AUTH_FAILED: 'nothing was changed; try again',
  NOT_ALLOWED: 'the service only talks to this installation’s cr and the callers its policy allows',
  UNTRUSTED_SERVER: 'something other than your Cora service holds the socket; stop it and retry',
  UNSAFE_SOCKET: 'something other than your Cora service holds the socket path; remove it and retry',
  NOT_RUNNING: 'the service is not running; run cr unlock',
  BUSY: 'the service is busy; retry in a moment',
  RATE_LIMITED: 'too many requests; retry in a moment',
  INTERNAL: 'a bug in Cora: the service log (service.log in the Cora home) has the details',
};

/**
 * The CLI error for anything an IPC call threw; other errors are returned as they are.
 * @param error - anything caught around a service call
 * @returns a CrError for IpcErrors, else `error`
 */
export function fromWire(error: unknown): unknown {
  if (!isIpcError(error)) return error;
  const hint = HINT[error.code];
  return new CrError(
    FROM_WIRE[error.code],
    hint === undefined ? error.message : `${error.message} (${hint})`,
    {
      cause: error,
    },
  );
}
