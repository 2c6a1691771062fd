// SPDX-License-Identifier: AGPL-3.0-only
// One connection's life: authenticate, hello, requests with their follow-up frames, back-
// pressure both ways, idle and drain deadlines, and the one error frame that ends it.
// Over 500 lines on purpose: these steps share the connection's private state (phase, the
// in-flight table, the pause flags); split apart, that state would have to be exposed.
import type { Socket } from 'node:net';
import type { PeerCredentials } from '@cora/identity';
import { wipeBytes, type SecretBuf } from '@cora/memstore';
import { HANDLER_ERROR_CODES, IpcError, isIpcError, type WireErrorCode } from '../errors.ts';
import { encodeFrame, FrameDecoder, unpackParts, type DecodedFrame } from '../frame.ts';
import {
  attachmentParts,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOLS,
  type ErrorBody,
  type InputHeader,
  type RequestHeader,
  type RequestType,
} from '../messages.ts';
import type { IpcHandler, InputListener, RequestContext, RequestInput } from '../server-types.ts';
import { errorFrame, forget, ignore, linger, report, type Admitted, type ServerState } from './admission.ts';
import { deadlineTimer } from './deadline.ts';
import { checkResult, decodeRequest, isInput, isRefusal } from './schemas.ts';

/** Generic text for INTERNAL: a thrown message might hold anything, so it never crosses. */
const INTERNAL_MESSAGE = 'internal error in the service';

/** Largest first frame: a `hello` is a few hundred bytes; nothing larger is buffered before it. */
const HELLO_MAX_BYTES = 4096;

/**
 * How long a connection refused for a protocol error keeps running the requests it sent
 * before the bad bytes, so they are answered before the error; then they are aborted.
 */
const DRAIN_MS = 5000;

/** Requests that take follow-up frames (see `InputType`): not waited for after an error. */
const FOLLOW_UP_TYPES: ReadonlySet<RequestType> = new Set<RequestType>(['exec', 'approve']);

export class Connection<P> implements Admitted {
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
