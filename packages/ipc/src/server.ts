// SPDX-License-Identifier: AGPL-3.0-only
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { peerCredentials, type PeerCredentials } from '@cora/identity';
import { wipeBytes, type SecretBuf } from '@cora/memstore';
import { adoptWithOwnBuffer } from './own-read.ts';
import { HANDLER_ERROR_CODES, IpcError, isIpcError, type WireErrorCode } from './errors.ts';
import { checkMaxFrameBytes, encodeFrame, FrameDecoder, unpackParts, type DecodedFrame } from './frame.ts';
import { decodeRequest, checkResult, isInput, isRefusal } from './internal/schemas.ts';
import { deadlineTimer } from './internal/deadline.ts';
import { RateLimiter, type RateLimit } from './internal/rate.ts';
import {
  attachmentParts,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOLS,
  type ApprovalDecision,
  type ErrorBody,
  type ExecSignal,
  type InputHeader,
  type RequestHeader,
  type RequestType,
  type Results,
} from './messages.ts';
import { ensureSocketDir, ownUid, socketPath as defaultSocketPath } from './paths.ts';

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
  'policy.get' | 'policy.set' | 'policy.explain' | 'exec' | 'approve' | 'audit.verify' | 'audit.export';

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

/** Generic text for INTERNAL: a thrown message might hold anything, so it never crosses. */
const INTERNAL_MESSAGE = 'internal error in the service';
/** Bytes read per read call into the buffer all connections share. */
const READ_BUFFER_BYTES = 64 * 1024;
/** How long a connection we are closing may linger before it is destroyed. */
const LINGER_MS = 1000;
/** Largest first frame: a `hello` is a few hundred bytes; nothing larger is buffered before it. */
const HELLO_MAX_BYTES = 4096;
/**
 * How long a connection refused for a protocol error keeps running the requests it sent
 * before the bad bytes, so they are answered before the error; then they are aborted.
 */
const DRAIN_MS = 5000;
/** Requests that take follow-up frames (see `InputType`): not waited for after an error. */
const FOLLOW_UP_TYPES: ReadonlySet<RequestType> = new Set<RequestType>(['exec', 'approve']);

interface Settings {
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerPid: number;
  readonly maxInFlight: number;
}

/**
 * Listen on the service socket (architecture §5) and serve requests.
 *
 * Start-up: the directory is created 0700 and checked (a real directory, ours, exactly 0700);
 * the socket is bound under a random temporary name with umask 0o177 (so it is never wider
 * than 0600), checked, then hard-linked to the final path, which fails if anything is there.
 * A symlink, a non-socket or a socket of another owner at the path is refused and left alone;
 * a socket that answers means a service is running (`ALREADY_RUNNING`); one that refuses
 * connections is stale, removed, and the link retried.
 *
 * @param options - see {@link IpcServerOptions}
 * @returns the listening server
 * @throws TypeError / RangeError for bad options.
 * @throws IpcError `UNSAFE_SOCKET_DIR`, `UNSAFE_SOCKET`, `ALREADY_RUNNING`.
 * @example
 * ```ts
 * const server = await createIpcServer({
 *   authenticate: async (socket) => peerIdentity(socket),
 *   handlers, // IpcHandlers<VerifiedPeer>: one async function per request type
 * });
 * ```
 */
export async function createIpcServer<P>(options: IpcServerOptions<P>): Promise<IpcServer> {
  if (typeof (options as unknown) !== 'object' || (options as unknown) === null) {
    throw new TypeError('options must be an object');
  }
  // Checked at run time too: JavaScript callers and casts get past the types.
  if (typeof (options.authenticate as unknown) !== 'function') {
    throw new TypeError('options.authenticate must be a function');
  }
  if (typeof (options.handlers as unknown) !== 'object' || (options.handlers as unknown) === null) {
    throw new TypeError('options.handlers must be an object');
  }
  const limits = options.limits ?? {};
  const maxConnections = checkInt(limits.maxConnections, 64, 1, 100_000, 'options.limits.maxConnections');
  const settings: Settings = {
    maxFrameBytes: checkMaxFrameBytes(limits.maxFrameBytes, 'options.limits.maxFrameBytes'),
    handshakeTimeoutMs: checkInt(
      limits.handshakeTimeoutMs,
      2000,
      1,
      600_000,
      'options.limits.handshakeTimeoutMs',
    ),
    idleTimeoutMs: checkInt(limits.idleTimeoutMs, 60_000, 1, 86_400_000, 'options.limits.idleTimeoutMs'),
    maxConnections,
    maxConnectionsPerPid: checkInt(
      limits.maxConnectionsPerPid,
      Math.max(1, Math.floor(maxConnections / 2)),
      1,
      maxConnections,
      'options.limits.maxConnectionsPerPid',
    ),
    maxInFlight: checkInt(limits.maxInFlight, 8, 1, 10_000, 'options.limits.maxInFlight'),
  };
  const rate = checkRate(limits.rate ?? { capacity: 200, refillPerSecond: 100 }, 'options.limits.rate');
  const perPid = settings.maxConnectionsPerPid;
  const connectRate = checkRate(
    limits.connectRate ?? { capacity: 2 * perPid, refillPerSecond: perPid },
    'options.limits.connectRate',
  );
  const path = options.socketPath ?? defaultSocketPath();
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new TypeError('options.socketPath must be a non-empty path');
  }

  const uid = ownUid();
  const dir = await ensureSocketDir(path, uid);
  const state: ServerState<P> = {
    options,
    settings,
    limiter: new RateLimiter(rate),
    connects: new RateLimiter(connectRate),
    rateKey: options.rateKey ?? defaultRateKey,
    connections: new Set(),
    byPid: new Map(),
    lingering: new Set(),
    closing: false,
  };
  // One read buffer for every connection: each chunk is decoded (copied) and wiped before the
  // next read of any socket, and a per-connection buffer is 16 KiB of malloc churn per accept.
  const readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
  const server = createServer({ allowHalfOpen: false, pauseOnConnect: true }, (accepted) => {
    const socket = adoptWithOwnBuffer(accepted, { buffer: readBuffer });
    if (socket === null) {
      accepted.destroy();
      return;
    }
    accept(state, socket);
  });
  // After listen, errors (EMFILE on accept…) must not crash the process; accept goes on.
  server.on('error', ignore);
  const ino = await bindAndClaim(server, path, dir, uid);

  return {
    path,
    get connections(): number {
      return state.connections.size;
    },
    async close(): Promise<void> {
      if (state.closing) return;
      state.closing = true;
      const closed = new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
      for (const conn of state.connections) conn.destroy();
      for (const socket of state.lingering) socket.destroy();
      await closed;
      // Remove the path only if it is still our socket (never someone else's file).
      try {
        const st = await lstat(path);
        if (st.isSocket() && st.ino === ino) await unlink(path);
      } catch {
        // already gone
      }
    },
  };
}

interface ServerState<P> {
  readonly options: IpcServerOptions<P>;
  readonly settings: Settings;
  readonly limiter: RateLimiter;
  /** New connections per peer pid (`connectRate`). */
  readonly connects: RateLimiter;
  readonly rateKey: (peer: P) => string;
  /** Open connections in accept order (oldest first), the ones being closed left out. */
  readonly connections: Set<Connection<P>>;
  /** The same connections by the kernel's peer pid (connections without one are not in it). */
  readonly byPid: Map<number, Set<Connection<P>>>;
  /** Sockets closed with an error frame, waiting (at most LINGER_MS) for it to flush. */
  readonly lingering: Set<Socket>;
  closing: boolean;
}

function accept<P>(state: ServerState<P>, socket: Socket): void {
  socket.on('error', ignore);
  if (state.closing) {
    socket.destroy();
    return;
  }
  const kernel = kernelCredentials(socket);
  const { maxConnections, maxConnectionsPerPid } = state.settings;
  // Make room rather than refuse (issue 10): silent or idle connections must not lock the
  // real client out. First inside the caller's own share, then in the whole table.
  // A process reconnecting in a loop is refused here, before any identity work is done for it.
  const connecting = state.connects.take(kernel === null ? 'unknown' : String(kernel.pid));
  const own = kernel === null ? undefined : state.byPid.get(kernel.pid);
  if (connecting && own !== undefined && own.size >= maxConnectionsPerPid) victimIn(own)?.evict();
  if (connecting && state.connections.size >= maxConnections) victimInTable(state)?.evict();
  if (!connecting || (own?.size ?? 0) >= maxConnectionsPerPid || state.connections.size >= maxConnections) {
    // Too fast, or every connection has work in flight: a clean refusal the client can show.
    socket.on('data', wipeBytes);
    socket.resume();
    linger(state, socket, errorFrame(0, { code: 'BUSY', message: 'too many connections; retry later' }));
    report(state, null, 'BUSY', kernel);
    return;
  }
  const conn = new Connection(state, socket, kernel);
  state.connections.add(conn);
  if (kernel !== null) {
    let set = state.byPid.get(kernel.pid);
    if (set === undefined) {
      set = new Set();
      state.byPid.set(kernel.pid, set);
    }
    set.add(conn);
  }
}

/** The connection to cut for a newcomer: the oldest one before hello, else the longest idle. */
function victimIn<P>(connections: Iterable<Connection<P>>): Connection<P> | null {
  let idle: Connection<P> | null = null;
  for (const conn of connections) {
    // Accept order: the first one found before hello is the oldest.
    if (conn.beforeHello) return conn;
    if (conn.idle && (idle === null || conn.lastActive < idle.lastActive)) idle = conn;
  }
  return idle;
}

/**
 * The victim in the whole table: taken from the process that holds the most connections, so
 * a client with one connection is the last to go; else from anyone (peers without a pid).
 */
function victimInTable<P>(state: ServerState<P>): Connection<P> | null {
  let biggest: Set<Connection<P>> | null = null;
  for (const set of state.byPid.values()) if (biggest === null || set.size > biggest.size) biggest = set;
  return (biggest === null ? null : victimIn(biggest)) ?? victimIn(state.connections);
}

/** Take a connection out of the table (when it starts closing, or closed). */
function forget<P>(state: ServerState<P>, conn: Connection<P>, pid: number | null): void {
  state.connections.delete(conn);
  if (pid === null) return;
  const set = state.byPid.get(pid);
  if (set?.delete(conn) === true && set.size === 0) state.byPid.delete(pid);
}

/**
 * End a socket with a last frame. Its slot is already free; while it lingers it is counted
 * here, and when too many linger (a flood of refusals) it is destroyed at once instead.
 */
function linger<P>(state: ServerState<P>, socket: Socket, frame: Buffer): void {
  // A destroyed socket may have reported 'close' already: it would stay in the set for good.
  if (socket.destroyed || state.lingering.size >= state.settings.maxConnections) {
    wipeBytes(frame);
    socket.destroy();
    return;
  }
  state.lingering.add(socket);
  socket.once('close', () => state.lingering.delete(socket));
  endWith(socket, frame);
}

/** SO_PEERCRED of an accepted socket, or null when the kernel (or platform) gives none. */
function kernelCredentials(socket: Socket): PeerCredentials | null {
  try {
    return peerCredentials(socket);
  } catch {
    return null;
  }
}

class Connection<P> {
  readonly #state: ServerState<P>;
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #inFlight = new Map<number, InFlight>();
  #drainWaiters: (() => void)[] = [];
  #pausedForInput = false;
  #peer: P | null = null;
  /** `draining`: refused, but answering the requests sent before the bad bytes (DRAIN_MS at most). */
  #phase: 'auth' | 'hello' | 'ready' | 'draining' | 'closing' = 'auth';
  readonly #cancelHandshakeTimer: () => void;
  #idleTimer: NodeJS.Timeout | null = null;
  #drainTimer: NodeJS.Timeout | null = null;
  /** The error frame sent once draining is over. */
  #lastFrame: Buffer | null = null;
  #pausedForWrites = false;
  readonly #kernel: PeerCredentials | null;
  #lastActive = performance.now();

  constructor(state: ServerState<P>, socket: Socket, kernel: PeerCredentials | null) {
    this.#state = state;
    this.#socket = socket;
    this.#kernel = kernel;
    this.#decoder = new FrameDecoder({
      maxFrameBytes: state.settings.maxFrameBytes,
      maxFirstFrameBytes: Math.min(HELLO_MAX_BYTES, state.settings.maxFrameBytes),
    });
    this.#cancelHandshakeTimer = deadlineTimer(() => {
      this.#fatal('HANDSHAKE_TIMEOUT', 'no hello within the handshake deadline');
    }, state.settings.handshakeTimeoutMs);
    socket.on('close', () => {
      this.#cleanup();
    });
    socket.on('drain', () => {
      if (this.#pausedForWrites && this.#phase !== 'closing') {
        this.#pausedForWrites = false;
        if (!this.#pausedForInput) socket.resume();
      }
      this.#releaseDrainWaiters();
    });
    socket.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    // Nothing is read (pauseOnConnect) until the peer is authenticated (G5).
    void this.#authenticate();
  }

  /** Drop the connection at once (server shutdown). */
  destroy(): void {
    this.#phase = 'closing';
    this.#socket.destroy();
  }

  /** Not past `hello` yet: the cheapest connection to cut when the table is full. */
  get beforeHello(): boolean {
    return this.#phase === 'auth' || this.#phase === 'hello';
  }

  /** Past `hello` with no request in flight: may be cut (longest idle first) to make room. */
  get idle(): boolean {
    return this.#phase === 'ready' && this.#inFlight.size === 0;
  }

  /** When the last complete frame arrived or the last request finished (performance.now()). */
  get lastActive(): number {
    return this.#lastActive;
  }

  /** Cut to make room for a newer connection. */
  evict(): void {
    this.#fatal('BUSY', 'too many connections: this one was closed to make room; retry later');
  }

  async #authenticate(): Promise<void> {
    let peer: P;
    try {
      peer = await this.#state.options.authenticate(this.#socket);
    } catch {
      this.#fatal('NOT_ALLOWED', 'this caller is not allowed to use the service');
      return;
    }
    if (this.#phase !== 'auth') {
      // Closed (or timed out) while authenticating: let the owner release what it built.
      this.#safe(() => this.#state.options.onDisconnect?.(peer));
      return;
    }
    this.#peer = peer;
    this.#phase = 'hello';
    this.#socket.resume();
  }

  #onData(chunk: Buffer): void {
    try {
      if (this.#isClosing()) return;
      // The frames before a framing error are handled first: a valid request followed by
      // garbage in one read is answered, then refused (issue 10).
      const { frames, error } = this.#decoder.pushUntilError(chunk);
      for (const frame of frames) {
        // #onFrame may have closed the connection: the rest of the batch is dropped.
        if (this.#isClosing()) frame.attachment?.wipe();
        else this.#onFrame(frame);
      }
      if (error !== null) this.#fatal(error.code as WireErrorCode, error.message);
    } catch (error) {
      // Nothing may escape into the server's event loop: this peer alone is cut off.
      this.#safe(() => this.#state.options.onInternalError?.(error, null));
      this.#fatal('INTERNAL', INTERNAL_MESSAGE);
    } finally {
      // The socket's chunk may hold attachment bytes: zero our copy (Node's own read buffers
      // are outside our control; see the README).
      wipeBytes(chunk);
    }
  }

  #onFrame(frame: DecodedFrame): void {
    let attachment = frame.attachment;
    try {
      this.#touch();
      const decoded = decodeRequest(frame.header);
      if (isRefusal(decoded)) {
        const extra =
          decoded.error.code === 'UNSUPPORTED_VERSION' ? { supported: [...SUPPORTED_PROTOCOLS] } : {};
        this.#fatal(decoded.error.code as WireErrorCode, decoded.error.message, decoded.id, extra);
        return;
      }
      if (isInput(decoded)) {
        if (this.#phase === 'hello') {
          this.#fatal('HANDSHAKE_REQUIRED', 'the first frame must be hello', decoded.id);
          return;
        }
        const input = attachment;
        attachment = null;
        this.#onInput(decoded, input);
        return;
      }
      const request = decoded;
      if (this.#phase === 'hello') {
        this.#hello(request, attachment);
        return;
      }
      if (request.type === 'hello') {
        this.#fatal('BAD_REQUEST', 'hello was already sent', request.id);
        return;
      }
      if (this.#inFlight.has(request.id)) {
        this.#fatal('BAD_REQUEST', 'this request id is already in flight', request.id);
        return;
      }
      const count = attachmentParts(request);
      if (count > 0 && (attachment === null || attachment.length === 0)) {
        this.#fatal('BAD_ATTACHMENT', `${request.type} needs an attachment`, request.id);
        return;
      }
      let parts: SecretBuf[];
      try {
        parts = unpackParts(attachment, count);
      } catch (error) {
        this.#fatal('BAD_ATTACHMENT', isIpcError(error) ? error.message : 'bad attachment', request.id);
        return;
      } finally {
        attachment?.wipe();
        attachment = null;
      }
      const peer = this.#peer as P;
      if (!this.#state.limiter.take(this.#rateKeyOf(peer))) {
        wipeAll(parts);
        this.#reply(request.id, null, { code: 'RATE_LIMITED', message: 'too many requests; retry later' });
        return;
      }
      if (this.#inFlight.size >= this.#state.settings.maxInFlight) {
        wipeAll(parts);
        this.#reply(request.id, null, {
          code: 'BUSY',
          message: 'too many requests in flight on this connection',
        });
        return;
      }
      this.#run(request, parts, peer);
    } finally {
      attachment?.wipe();
    }
  }

  #hello(request: RequestHeader, attachment: SecretBuf | null): void {
    if (request.type !== 'hello') {
      this.#fatal('HANDSHAKE_REQUIRED', 'the first frame must be hello', request.id);
      return;
    }
    if (attachment !== null) {
      this.#fatal('BAD_ATTACHMENT', 'hello carries no attachment', request.id);
      return;
    }
    if (!SUPPORTED_PROTOCOLS.includes(request.protocol)) {
      this.#fatal(
        'UNSUPPORTED_VERSION',
        `protocol ${request.protocol} is not supported; this service speaks ${SUPPORTED_PROTOCOLS.join(', ')}`,
        request.id,
        { supported: [...SUPPORTED_PROTOCOLS] },
      );
      return;
    }
    this.#cancelHandshakeTimer();
    this.#phase = 'ready';
    this.#touch();
    this.#reply(request.id, { protocol: PROTOCOL_VERSION, server: this.#state.options.serverName ?? 'cora' });
  }

  /** A follow-up frame: validate its attachment and ref, then queue it for the request's listener. */
  #onInput(header: InputHeader, attachment: SecretBuf | null): void {
    try {
      if (this.#inFlight.has(header.id)) {
        this.#fatal('BAD_REQUEST', 'this request id is already in flight', header.id);
        return;
      }
      const count = attachmentParts(header);
      const size = attachment?.length ?? 0;
      if (count === 0 ? size !== 0 : size === 0) {
        this.#fatal(
          'BAD_ATTACHMENT',
          count === 0 ? `${header.type} carries no attachment` : `${header.type} needs an attachment`,
          header.id,
        );
        return;
      }
      const target = this.#inFlight.get(header.ref);
      const wanted = header.type === 'approve.decide' ? 'approve' : 'exec';
      if (target?.type !== wanted || target.finished) {
        // A normal race (the child exited while stdin was still flowing): not a violation.
        this.#reply(header.id, null, {
          code: 'NOT_FOUND',
          message: `no ${wanted} request ${header.ref} in flight on this connection`,
        });
        return;
      }
      let input: RequestInput;
      if (header.type === 'approve.decide') {
        input = { kind: 'decide', approval: header.approval, decision: header.decision };
      } else if (header.type === 'exec.stdin') {
        input = header.eof === true ? { kind: 'eof' } : { kind: 'stdin', data: attachment as SecretBuf };
        attachment = null; // now owned by the queue
      } else if (header.type === 'exec.signal') {
        input = { kind: 'signal', signal: header.signal };
      } else {
        input = { kind: 'resize', cols: header.cols, rows: header.rows };
      }
      target.queue.push(input);
      this.#deliver(target);
    } finally {
      attachment?.wipe();
    }
  }

  /** Hand queued inputs to the listener, one at a time; pause reading while any is held. */
  #deliver(entry: InFlight): void {
    while (!entry.busy && entry.listener !== null && entry.queue.length > 0) {
      const input = entry.queue.shift() as RequestInput;
      let pending: unknown;
      try {
        pending = entry.listener(input);
      } catch (error) {
        this.#safe(() => this.#state.options.onInternalError?.(error, entry.type));
      }
      if (pending instanceof Promise) {
        entry.busy = true;
        pending
          .catch((error: unknown) => {
            this.#safe(() => this.#state.options.onInternalError?.(error, entry.type));
          })
          .finally(() => {
            wipeInput(input);
            entry.busy = false;
            if (!entry.finished) this.#deliver(entry);
          })
          .catch(ignore);
      } else {
        wipeInput(input);
      }
    }
    this.#updateInputPause();
  }

  /** Reading stops while some request holds inputs it has not taken yet (stdin back-pressure). */
  #updateInputPause(): void {
    let held = false;
    for (const entry of this.#inFlight.values()) {
      if (!entry.finished && (entry.busy || entry.queue.length > 0)) held = true;
    }
    if (held && !this.#pausedForInput) {
      this.#pausedForInput = true;
      this.#socket.pause();
    } else if (!held && this.#pausedForInput) {
      this.#pausedForInput = false;
      if (!this.#pausedForWrites && this.#phase !== 'closing') this.#socket.resume();
    }
  }

  #releaseDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  #waitForDrain(signal: AbortSignal): Promise<void> {
    const socket = this.#socket;
    if (signal.aborted || socket.destroyed || socket.writableLength === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.#drainWaiters.push(done);
    });
  }

  #run(request: RequestHeader<RequestType>, parts: SecretBuf[], peer: P): void {
    const controller = new AbortController();
    const entry: InFlight = {
      controller,
      type: request.type,
      listener: null,
      queue: [],
      busy: false,
      finished: false,
    };
    this.#inFlight.set(request.id, entry);
    const type = request.type;
    const context: RequestContext<P> = {
      peer,
      parts,
      signal: controller.signal,
      send: (event, data, attachment) =>
        this.#sendEvent(request.id, controller.signal, event, data, attachment),
      waitForDrain: () => this.#waitForDrain(controller.signal),
      onInput: (listener) => {
        if (typeof (listener as unknown) !== 'function') throw new TypeError('listener must be a function');
        if (entry.finished) return;
        entry.listener = listener;
        this.#deliver(entry);
      },
    };
    const handler = this.#state.options.handlers[type] as IpcHandler<RequestType, P> | undefined;
    Promise.resolve()
      .then(() => {
        if (typeof handler !== 'function') {
          throw new IpcError('NOT_ALLOWED', `${type} is not supported by this service`);
        }
        return handler(request, context);
      })
      .then(
        (result) => {
          const checked = checkResult(type, result);
          if (checked === null) {
            // A result outside its schema (an extra field could be a value: G2) never leaves.
            this.#safe(() =>
              this.#state.options.onInternalError?.(
                new TypeError(`the ${type} handler returned an invalid result`),
                type,
              ),
            );
            this.#reply(request.id, null, { code: 'INTERNAL', message: INTERNAL_MESSAGE });
          } else {
            this.#reply(request.id, checked);
          }
        },
        (error: unknown) => {
          if (isIpcError(error) && HANDLER_ERROR_CODES.has(error.code as WireErrorCode)) {
            this.#reply(request.id, null, {
              code: error.code as WireErrorCode,
              message: error.message.slice(0, 1024),
            });
          } else {
            this.#safe(() => this.#state.options.onInternalError?.(error, type));
            this.#reply(request.id, null, { code: 'INTERNAL', message: INTERNAL_MESSAGE });
          }
        },
      )
      .finally(() => {
        wipeAll(parts);
        entry.finished = true;
        entry.listener = null;
        for (const input of entry.queue.splice(0)) wipeInput(input);
        this.#inFlight.delete(request.id);
        if (this.#phase === 'draining' && !this.#hasDrainable()) this.#end();
        this.#updateInputPause();
        this.#touch();
      })
      .catch(ignore);
  }

  #sendEvent(
    id: number,
    signal: AbortSignal,
    event: string,
    data: unknown,
    attachment: Uint8Array | SecretBuf | undefined,
  ): boolean {
    if (signal.aborted || (this.#phase !== 'ready' && this.#phase !== 'draining') || !this.#inFlight.has(id))
      return false;
    const header = data === undefined ? { id, event } : { id, event, data };
    return this.#write(encodeFrame(header, attachment ?? null, this.#state.settings.maxFrameBytes));
  }

  #reply(id: number, result: unknown, error?: ErrorBody): void {
    if (this.#phase === 'closing') return;
    let frame: Buffer;
    try {
      frame =
        error === undefined
          ? encodeFrame({ id, ok: true, result }, null, this.#state.settings.maxFrameBytes)
          : errorFrame(id, error);
    } catch {
      frame = errorFrame(id, { code: 'TOO_LARGE', message: 'the reply is larger than the frame limit' });
    }
    this.#write(frame);
  }

  /** Write a frame and wipe it once flushed; pause reading while the peer does not read. */
  #write(frame: Buffer): boolean {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) {
      wipeBytes(frame);
      return false;
    }
    socket.write(frame, () => {
      wipeBytes(frame);
    });
    const max = this.#state.settings.maxFrameBytes;
    if (socket.writableLength > 16 * max) {
      // A peer that never reads would make us buffer without bound: cut it off.
      if (this.#phase === 'draining') this.#end();
      else this.#fatal('BUSY', 'the client does not read its replies');
      return false;
    }
    if (socket.writableLength > 2 * max && !this.#pausedForWrites) {
      this.#pausedForWrites = true;
      socket.pause();
      return false;
    }
    return true;
  }

  #fatal(code: WireErrorCode, message: string, id = 0, extra: Partial<ErrorBody> = {}): void {
    if (this.#isClosing()) return;
    if (code !== 'IDLE_TIMEOUT') report(this.#state, this.#peer, code, this.#kernel);
    this.#lastFrame = errorFrame(id, { code, message, ...extra });
    // Nothing more is decoded; reading goes on (and wipes) so the peer's close is seen.
    this.#decoder.dispose();
    this.#socket.resume();
    if (code !== 'BUSY' && code !== 'INTERNAL' && this.#hasDrainable()) {
      // Requests that came before the bad bytes are answered first, then the error is sent.
      this.#phase = 'draining';
      this.#drainTimer = setTimeout(() => {
        this.#end();
      }, DRAIN_MS);
      return;
    }
    this.#end();
  }

  /** Abort what is left, send the error frame and close; the slot is free at once. */
  #end(): void {
    if (this.#phase === 'closing') return;
    this.#phase = 'closing';
    this.#stopTimers();
    this.#abortAll();
    forget(this.#state, this, this.#kernel?.pid ?? null);
    const frame = this.#lastFrame;
    this.#lastFrame = null;
    if (frame === null) this.#socket.destroy();
    else linger(this.#state, this.#socket, frame);
  }

  /**
   * Whether a request in flight can still finish without more frames from the peer: an exec
   * or approve session lives on follow-ups, which are no longer read after an error.
   */
  #hasDrainable(): boolean {
    for (const entry of this.#inFlight.values()) {
      if (!FOLLOW_UP_TYPES.has(entry.type)) return true;
    }
    return false;
  }

  #isClosing(): boolean {
    return this.#phase === 'closing' || this.#phase === 'draining';
  }

  #stopTimers(): void {
    this.#cancelHandshakeTimer();
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    if (this.#drainTimer !== null) clearTimeout(this.#drainTimer);
  }

  #touch(): void {
    this.#lastActive = performance.now();
    if (this.#phase !== 'ready') return;
    if (this.#idleTimer === null) {
      this.#idleTimer = setTimeout(() => {
        this.#onIdle();
      }, this.#state.settings.idleTimeoutMs);
    } else {
      this.#idleTimer.refresh();
    }
  }

  #onIdle(): void {
    // Read what is already waiting first: a starved service must not cut a client that spoke.
    const seen = this.#lastActive;
    setImmediate(() => {
      this.#closeIfIdle(seen);
    });
  }

  #closeIfIdle(seen: number): void {
    if (this.#phase !== 'ready') return;
    if (this.#lastActive !== seen) {
      this.#idleTimer?.refresh();
      return;
    }
    if (this.#inFlight.size > 0) {
      this.#idleTimer?.refresh();
      return;
    }
    this.#fatal('IDLE_TIMEOUT', 'the connection was idle too long');
  }

  #abortAll(): void {
    for (const entry of this.#inFlight.values()) entry.controller.abort();
    this.#releaseDrainWaiters();
  }

  #cleanup(): void {
    const wasAuthenticated = this.#peer !== null;
    this.#phase = 'closing';
    this.#stopTimers();
    if (this.#lastFrame !== null) wipeBytes(this.#lastFrame);
    this.#lastFrame = null;
    this.#abortAll();
    this.#decoder.dispose();
    forget(this.#state, this, this.#kernel?.pid ?? null);
    if (wasAuthenticated) {
      const peer = this.#peer as P;
      this.#peer = null;
      this.#safe(() => this.#state.options.onDisconnect?.(peer));
    }
  }

  #rateKeyOf(peer: P): string {
    try {
      return this.#state.rateKey(peer);
    } catch {
      return 'shared';
    }
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch {
      // Hooks must not throw; if one does, the connection handling goes on regardless.
    }
  }
}

function report<P>(
  state: ServerState<P>,
  peer: P | null,
  code: WireErrorCode,
  kernel: PeerCredentials | null,
): void {
  try {
    state.options.onProtocolError?.(peer, code, kernel);
  } catch {
    // see onProtocolError: must not throw
  }
}

function errorFrame(id: number, error: ErrorBody): Buffer {
  return encodeFrame({ id, ok: false, error });
}

/** Send a last frame, half-close, and destroy if the peer has not closed within LINGER_MS. */
function endWith(socket: Socket, frame: Buffer): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => {
    clearTimeout(timer);
  });
  if (socket.destroyed || !socket.writable) {
    wipeBytes(frame);
    socket.destroy();
    return;
  }
  socket.end(frame, () => {
    wipeBytes(frame);
  });
}

/** A request in progress on a connection. */
interface InFlight {
  readonly controller: AbortController;
  readonly type: RequestType;
  listener: InputListener | null;
  /** Follow-up frames not yet taken by the listener (reading pauses while any is held). */
  readonly queue: RequestInput[];
  /** The listener's promise for the current input is pending. */
  busy: boolean;
  finished: boolean;
}

function wipeInput(input: RequestInput): void {
  if (input.kind === 'stdin') input.data.wipe();
}

function wipeAll(parts: readonly SecretBuf[]): void {
  for (const part of parts) part.wipe();
}

function defaultRateKey(peer: unknown): string {
  const candidates = [peer, (peer as { identity?: unknown } | null)?.identity];
  for (const c of candidates) {
    if (typeof c === 'object' && c !== null) {
      const { uid, exe } = c as { uid?: unknown; exe?: unknown };
      if (typeof uid === 'number' && typeof exe === 'string') return `${uid}:${exe}`;
    }
  }
  return 'shared';
}

function checkRate(rate: RateLimit, name: string): RateLimit {
  if (!(rate.capacity >= 1) || !(rate.refillPerSecond > 0)) {
    throw new RangeError(`${name} needs capacity ≥ 1 and refillPerSecond > 0`);
  }
  return rate;
}

function checkInt(
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
  name: string,
): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return v;
}

function ignore(): void {
  // Deliberately empty.
}

/** Bind under a temporary name with a tight umask, verify, then claim the real path. Returns the socket's inode. */
async function bindAndClaim(server: Server, path: string, dir: string, uid: number): Promise<number> {
  const temp = join(dir, `.cora-${process.pid}-${randomBytes(6).toString('hex')}.sock`);
  try {
    await listenPrivately(server, temp);
    await chmod(temp, 0o600);
    const st = await lstat(temp);
    if (!st.isSocket() || st.uid !== uid || (st.mode & 0o777) !== 0o600) {
      throw new IpcError('UNSAFE_SOCKET', `the new socket ${temp} is not a private socket`);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, path);
        return st.ino;
      } catch (error) {
        if (errnoOf(error) !== 'EEXIST' || attempt >= 3) {
          throw new IpcError('UNSAFE_SOCKET', `cannot create the socket at ${path}`, { cause: error });
        }
      }
      await removeIfStale(path, uid);
    }
  } catch (error) {
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    throw error;
  } finally {
    // The server stays bound to the inode; the temporary name goes.
    await unlink(temp).catch(ignore);
  }
}

function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(error);
    };
    server.once('error', onError);
    // bind(2) happens synchronously inside listen(): the socket file is created 0600 (architecture §5:
    // no window where it is wider). umask is per process, so it is restored at once.
    const previous = process.umask(0o177);
    try {
      server.listen({ path, exclusive: true, backlog: 4096 }, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}

/**
 * Something is at `path`: refuse anything but a socket of ours; a live one means a service
 * is running; a dead one (ECONNREFUSED) is stale and removed. Never follows a symlink.
 */
async function removeIfStale(path: string, uid: number): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return;
    throw error;
  }
  if (st.isSymbolicLink())
    throw new IpcError('UNSAFE_SOCKET', `${path} is a symlink; refusing to follow or remove it`);
  if (!st.isSocket())
    throw new IpcError('UNSAFE_SOCKET', `${path} exists and is not a socket; remove it by hand`);
  if (st.uid !== uid) throw new IpcError('UNSAFE_SOCKET', `${path} is owned by uid ${st.uid}`);
  const found = await probe(path);
  if (found === 'live') throw new IpcError('ALREADY_RUNNING', `a Cora service already runs on ${path}`);
  if (found === 'stale') await unlink(path).catch(ignore);
}

function probe(path: string): Promise<'live' | 'stale' | 'gone'> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      // A service that accepts but hangs is still a service: do not steal its path.
      socket.destroy();
      resolve('live');
    }, 1000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      const code = errnoOf(error);
      resolve(code === 'ECONNREFUSED' ? 'stale' : code === 'ENOENT' ? 'gone' : 'live');
    });
  });
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
