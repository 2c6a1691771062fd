// SPDX-License-Identifier: AGPL-3.0-only
// The contract between the server and the service that plugs its handlers in.
import type { Socket } from 'node:net';
import type { PeerCredentials } from '@cora/identity';
import type { SecretBuf } from '@cora/memstore';
import type { WireErrorCode } from './errors.ts';
import type { RateLimit } from './internal/rate.ts';
import type { ApprovalDecision, ExecSignal, RequestHeader, RequestType, Results } from './messages.ts';

/** Limits of {@link createIpcServer} (architecture §5, G9). Every field is optional. */
export interface IpcServerLimits {
  /** Largest frame accepted or sent, bytes after the length field. Default 1 MiB. */
  readonly maxFrameBytes?: number;
  /** From accept to a completed `hello` (authentication included). Default 2 000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** A connection with no complete frame and nothing in flight for this long is closed. Default 60 000 ms. */
  readonly idleTimeoutMs?: number;
  /**
   * Open connections. When they are all taken, a newcomer is let in by cutting (with a `BUSY`
   * error frame) a connection of the process that holds the most: its oldest one that has not
   * completed `hello`, else its one idle longest with no request in flight. Only when no
   * connection can be cut is the newcomer itself refused with `BUSY`. Default 64.
   */
  readonly maxConnections?: number;
  /**
   * Open connections of one process (the kernel's peer pid), with the same rule inside that
   * process's share: one process cannot take the whole table, even with requests in flight.
   * Default half of `maxConnections` (at least 1).
   */
  readonly maxConnectionsPerPid?: number;
  /**
   * New connections per process (the kernel's peer pid; peers without one share a bucket), a
   * token bucket: past it the connection is refused with `BUSY` before `authenticate` runs, so
   * a process that reconnects in a loop costs little. Default a burst of twice
   * `maxConnectionsPerPid`, refilled by `maxConnectionsPerPid` per second.
   */
  readonly connectRate?: RateLimit;
  /** Requests in progress per connection; one more is answered `BUSY` (the connection stays). Default 8. */
  readonly maxInFlight?: number;
  /** Per-caller token bucket; an empty bucket answers `RATE_LIMITED`. Default 200 burst, 100/s. */
  readonly rate?: RateLimit;
}

/**
 * A follow-up frame delivered to an in-flight request's input listener (see
 * {@link RequestContext.onInput}). `data` is secure memory the server owns: it is wiped when
 * the listener returns (or its promise settles); copy what must outlive that.
 */
export type RequestInput =
  | { readonly kind: 'stdin'; readonly data: SecretBuf }
  | { readonly kind: 'eof' }
  | { readonly kind: 'signal'; readonly signal: ExecSignal }
  | { readonly kind: 'resize'; readonly cols: number; readonly rows: number }
  | { readonly kind: 'decide'; readonly approval: number; readonly decision: ApprovalDecision };

/**
 * Receives the follow-up frames of a request, one at a time and in order. While a returned
 * promise is pending the server stops reading the connection (back-pressure for stdin: resolve
 * once the child's stdin took the bytes). A throw is reported to `onInternalError` and the
 * input is dropped.
 */
export type InputListener = (input: RequestInput) => void | Promise<void>;

/** What a handler gets beside the request. */
export interface RequestContext<P> {
  /** What `authenticate` returned for this connection. */
  readonly peer: P;
  /**
   * The attachment split into the parts of this message type (see `ATTACHMENT_PARTS`), in
   * secure memory. The server owns them and wipes them when the handler settles: copy a part
   * that must outlive the request (`part.use((b) => SecretBuf.from(b))`).
   */
  readonly parts: readonly SecretBuf[];
  /** Aborted when the client goes away or the server closes. */
  readonly signal: AbortSignal;
  /**
   * Send an event frame for this request before its final reply (streaming). Returns `false`
   * when the connection is gone or its write buffer is full (slow reader: back off).
   * The attachment is copied into the frame; the caller keeps ownership of it.
   *
   * Back-pressure: on `false`, stop reading the child's stream (`stream.pause()`) and
   * `await waitForDrain()` before resuming. A handler that keeps sending regardless gets the
   * connection cut with `BUSY` once 16 frames' worth are queued.
   */
  send(event: string, data?: unknown, attachment?: Uint8Array | SecretBuf): boolean;
  /**
   * Resolves when the connection's write buffer has drained (at once when it is not backed
   * up), or when the request is aborted (check `signal`).
   */
  waitForDrain(): Promise<void>;
  /**
   * Register the listener for this request's follow-up frames (`exec.stdin`, `exec.signal`,
   * `exec.resize` for an `exec`; `approve.decide` for an `approve`). Frames that arrive before it is registered are held (and reading the
   * connection pauses) until it is. Frames that arrive after the handler settled are refused
   * with `NOT_FOUND`. Registering again replaces the listener.
   */
  onInput(listener: InputListener): void;
}

/** Handles one message type; resolves with its result or throws an {@link IpcError}. */
export type IpcHandler<T extends RequestType, P> = (
  request: RequestHeader<T>,
  context: RequestContext<P>,
) => Promise<Results[T]>;

/**
 * Message types a service may leave out of its {@link IpcHandlers}: a request of a missing
 * type is answered `NOT_ALLOWED` ("not supported by this service").
 */
export type OptionalRequestType =
  | 'policy.get'
  | 'policy.set'
  | 'policy.explain'
  | 'policy.verify'
  | 'exec'
  | 'approve'
  | 'audit.verify'
  | 'audit.export'
  | 'grants.list'
  | 'grants.revoke';

/**
 * One handler per message type (`hello` is answered by the server); those of
 * {@link OptionalRequestType} may be left out.
 */
export type IpcHandlers<P> = {
  readonly [T in Exclude<RequestType, OptionalRequestType>]: IpcHandler<T, P>;
} & { readonly [T in OptionalRequestType]?: IpcHandler<T, P> };

/** Options of {@link createIpcServer}. */
export interface IpcServerOptions<P> {
  /** Where to listen. Default {@link socketPath}() (architecture §5). */
  readonly socketPath?: string;
  /**
   * Runs on every new connection before any of its frames is read (G5). Resolve with what the
   * handlers get as `context.peer`; reject to refuse the caller (`NOT_ALLOWED`, then close).
   */
  readonly authenticate: (socket: Socket) => Promise<P>;
  readonly handlers: IpcHandlers<P>;
  readonly limits?: IpcServerLimits;
  /** Key of the caller's token bucket. Default: `uid:exe` of the peer (or of `peer.identity`), else one shared bucket. */
  readonly rateKey?: (peer: P) => string;
  /** `hello` answers with this as `server`. Default `cora`. */
  readonly serverName?: string;
  /**
   * A connection was cut for breaking the protocol or the limits (BAD_FRAME, HANDSHAKE_TIMEOUT,
   * BUSY at accept or when cut to make room, NOT_ALLOWED from `authenticate`…), for the audit
   * log. `peer` is `null` before authentication; `kernel` is the peer's uid, gid and pid as
   * the kernel reported them at accept (SO_PEERCRED), or `null` when it reported none, so a
   * caller refused before it was identified can still be named. Not called for IDLE_TIMEOUT.
   * Must not throw.
   */
  readonly onProtocolError?: (peer: P | null, code: WireErrorCode, kernel: PeerCredentials | null) => void;
  /** A handler threw something other than an application {@link IpcError}; the client got INTERNAL. */
  readonly onInternalError?: (error: unknown, type: RequestType | null) => void;
  /** A connection whose peer was authenticated closed (e.g. release a pidfd). */
  readonly onDisconnect?: (peer: P) => void;
}

/** A listening server. */
export interface IpcServer {
  /** The socket path. */
  readonly path: string;
  /** Connections currently open (authenticated or not); ones being closed after an error are not counted. */
  readonly connections: number;
  /** Stop listening, drop every connection (in-flight handlers see their signal abort), remove the socket. */
  close(): Promise<void>;
}
