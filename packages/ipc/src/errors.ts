// SPDX-License-Identifier: AGPL-3.0-only

/**
 * The closed list of error codes that may cross the socket (architecture §5: "an error
 * `{code, message}` from a closed list of codes"). A reply whose code is not in this table is
 * refused by the client as a protocol error.
 */
export const WireErrorCode = {
  /** A frame's length fields are impossible (too short, header longer than the frame). */
  BAD_FRAME: 'BAD_FRAME',
  /** A frame declares more than the maximum frame size (refused before it is buffered). */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** The header is not UTF-8 JSON, nests too deep, repeats a key or uses a forbidden key. */
  BAD_JSON: 'BAD_JSON',
  /** The header is JSON but not a valid message (missing or unknown fields, wrong types). */
  BAD_REQUEST: 'BAD_REQUEST',
  /** The attachment does not match what the message type carries. */
  BAD_ATTACHMENT: 'BAD_ATTACHMENT',
  /** The message `type` is not one this service knows. */
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  /** `hello.protocol` (or a request's `v`) names a protocol version this service does not speak. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** The first frame was not `hello`. */
  HANDSHAKE_REQUIRED: 'HANDSHAKE_REQUIRED',
  /** `hello` did not arrive within the handshake deadline. */
  HANDSHAKE_TIMEOUT: 'HANDSHAKE_TIMEOUT',
  /** The connection sent no complete frame for the idle timeout and had nothing in flight. */
  IDLE_TIMEOUT: 'IDLE_TIMEOUT',
  /** Too many connections, or too many requests in flight on this connection. */
  BUSY: 'BUSY',
  /** The caller's token bucket (this connection's request rate) is empty; retry later. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A task's `max_spawns` were used up within its window (a policy limit, not the socket's). */
  TASK_RATE_LIMITED: 'TASK_RATE_LIMITED',
  /** The caller is not allowed (identity or policy). */
  NOT_ALLOWED: 'NOT_ALLOWED',
  /** The operation needs an unlocked service. */
  LOCKED: 'LOCKED',
  /** The operation needs a locked service. */
  UNLOCKED: 'UNLOCKED',
  /** Wrong passphrase. */
  AUTH_FAILED: 'AUTH_FAILED',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  /** A secret name breaks the architecture §4 rule. */
  INVALID_NAME: 'INVALID_NAME',
  /** A value or a collection is over its limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** No vault file exists yet (`cr init` first). */
  NO_VAULT: 'NO_VAULT',
  VAULT_EXISTS: 'VAULT_EXISTS',
  /**
   * The audit log cannot be written (disk full, I/O error, permissions): the service releases
   * no secret and changes nothing until it can record it (architecture §10, G7).
   */
  AUDIT_UNAVAILABLE: 'AUDIT_UNAVAILABLE',
  /** An approver said no, or nobody decided in time (architecture §7 approvals). */
  DENIED: 'DENIED',
  /** The vault file is damaged or not a vault (magic, lengths, a non-regular file, bad plaintext). */
  VAULT_CORRUPT: 'VAULT_CORRUPT',
  /** The vault file's format version or KDF is one this service does not know. */
  VAULT_UNSUPPORTED: 'VAULT_UNSUPPORTED',
  /** The vault header's KDF cost is under the floor (a downgrade) or over the ceiling (a bomb). */
  KDF_OUT_OF_RANGE: 'KDF_OUT_OF_RANGE',
  /** The vault file is older than (or other than) the one the audit log vouches for. */
  VAULT_ROLLBACK: 'VAULT_ROLLBACK',
  /** The audit log does not verify where the service relies on it. */
  AUDIT_INVALID: 'AUDIT_INVALID',
  /** No space left (or quota exceeded) while writing; nothing was changed. */
  DISK_FULL: 'DISK_FULL',
  /** The disk reported an I/O error. */
  IO_ERROR: 'IO_ERROR',
  /** The file system holding the vault is read-only. */
  READ_ONLY: 'READ_ONLY',
  /** The operating system refused access to a file of the vault. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** Another live process holds the vault's write lock. */
  LOCK_HELD: 'LOCK_HELD',
  /** The change would take the vault past its budget (secret count or total bytes). */
  BUDGET_EXCEEDED: 'BUDGET_EXCEEDED',
  /** The secret is used by tasks and the delete was not confirmed (`force`). */
  IN_USE: 'IN_USE',
  /** Anything unexpected; the message is always generic. */
  INTERNAL: 'INTERNAL',
} as const;

export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

/** Codes raised locally (never sent over the socket). */
export const LocalErrorCode = {
  /** `createIpcServer`: a live service already answers on the socket path (one service per user). */
  ALREADY_RUNNING: 'ALREADY_RUNNING',
  /** The socket directory is a symlink, not ours, or not mode 0700. */
  UNSAFE_SOCKET_DIR: 'UNSAFE_SOCKET_DIR',
  /** Something other than our socket sits at the socket path (a symlink, a file, another owner). */
  UNSAFE_SOCKET: 'UNSAFE_SOCKET',
  /** The server's peer credentials name another uid than expected. */
  UNTRUSTED_SERVER: 'UNTRUSTED_SERVER',
  /** No service listens on the socket path (no socket, or a stale one). */
  NOT_RUNNING: 'NOT_RUNNING',
  /** The connection closed before the reply arrived. */
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  /** Connecting or a request took longer than its timeout. */
  TIMEOUT: 'TIMEOUT',
  /** The other side sent something that breaks the protocol (seen by the client). */
  PROTOCOL_ERROR: 'PROTOCOL_ERROR',
} as const;

export type LocalErrorCode = (typeof LocalErrorCode)[keyof typeof LocalErrorCode];

/** Every code an {@link IpcError} can carry: the wire codes and the local ones. */
export const IpcErrorCode = { ...WireErrorCode, ...LocalErrorCode } as const;

export type IpcErrorCode = WireErrorCode | LocalErrorCode;

/** Marks instances across duplicated copies of this package (see {@link isIpcError}). */
const BRAND = Symbol.for('@cora/ipc.IpcError');

/**
 * The one error class of `@cora/ipc`; branch on `code`, not on `message`. Messages never
 * contain secret bytes. A handler that throws one with a wire code sends that code and
 * message to the client (see the README, "Errors").
 */
export class IpcError extends Error {
  override readonly name = 'IpcError';
  readonly code: IpcErrorCode;

  constructor(code: IpcErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * Type guard for {@link IpcError}, optionally for one code. Also accepts an instance made by
 * a second copy of this package (recognised by a `Symbol.for` brand).
 */
export function isIpcError(value: unknown, code?: IpcErrorCode): value is IpcError {
  const branded =
    value instanceof IpcError ||
    (value instanceof Error && (value as unknown as Record<symbol, unknown>)[BRAND] === true);
  return branded && (code === undefined || (value as IpcError).code === code);
}

const WIRE_CODES: ReadonlySet<string> = new Set(Object.values(WireErrorCode));

/**
 * Wire codes a handler may throw (as an IpcError) and see reach the client with its message.
 * The framing and handshake codes are the server's own; INTERNAL never carries a message.
 */
export const HANDLER_ERROR_CODES: ReadonlySet<WireErrorCode> = new Set<WireErrorCode>(
  (Object.values(WireErrorCode) as WireErrorCode[]).filter(
    (code) =>
      ![
        'BAD_FRAME',
        'FRAME_TOO_LARGE',
        'BAD_JSON',
        'BAD_ATTACHMENT',
        'UNKNOWN_TYPE',
        'UNSUPPORTED_VERSION',
        'HANDSHAKE_REQUIRED',
        'HANDSHAKE_TIMEOUT',
        'IDLE_TIMEOUT',
        'INTERNAL',
      ].includes(code),
  ),
);

/** True when `code` is one of the wire error codes (`WireErrorCode`). */
export function isWireErrorCode(code: unknown): code is WireErrorCode {
  return typeof code === 'string' && WIRE_CODES.has(code);
}
