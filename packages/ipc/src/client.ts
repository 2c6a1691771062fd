// SPDX-License-Identifier: AGPL-3.0-only
// One connection to the service once it is known to be ours (connect.ts): requests, exec and
// approver streams, replies matched by id. One class past 500 lines on purpose: every stream
// shares the pending table, the read pause and the close path.
import type { Socket } from 'node:net';
import type { SecretBuf } from '@cora/memstore';
import { wipeBytes } from '@cora/memstore';
import { IpcError } from './errors.ts';
import { encodeFrame, FrameDecoder, packParts, type DecodedFrame } from './frame.ts';
import { deadlineTimer } from './internal/deadline.ts';
import * as v from 'valibot';
import {
  ApprovalInfoSchema,
  ApprovalResolvedSchema,
  checkRequest,
  checkResult,
  decodeServerFrame,
} from './internal/schemas.ts';
import {
  attachmentParts,
  MAX_REQUEST_ID,
  PROTOCOL_VERSION,
  type ApprovalDecision,
  type ApprovalInfo,
  type ApprovalResolved,
  type ApproveResult,
  type EventHeader,
  type ExecParams,
  type ExecResult,
  type ExecSignal,
  type HelloResult,
  type InputParams,
  type InputType,
  type MessageType,
  type RequestHeader,
  type RequestParams,
  type RequestType,
  type Results,
} from './messages.ts';

/** Options of one {@link IpcClient.request}. */
export interface RequestOptions {
  /**
   * The secret parts of this message type, in order (see `ATTACHMENT_PARTS`): e.g.
   * `[passphrase, value]` for `secrets.set`. Not consumed: the caller still wipes them. The
   * frame built from them is wiped once the socket has written it.
   */
  readonly parts?: readonly (Uint8Array | SecretBuf)[];
  /**
   * Called for each event frame of this request before its final reply (streaming). The
   * attachment, if any, is zeroed when the callback returns. It is a plain array: the service
   * never sends a secret (an exec's output is masked before it leaves the service).
   */
  readonly onEvent?: (event: EventHeader, attachment: Uint8Array | null) => void;
  /** Reject with `TIMEOUT` after this long, ms. Default: no timeout. */
  readonly timeoutMs?: number;
  /** Abort waiting: the request rejects with `TIMEOUT` and its reply is ignored (the server may still run it). */
  readonly signal?: AbortSignal;
}

/** Options of {@link IpcClient.exec}. */
export interface ExecOptions {
  /** The service started the child. */
  readonly onStarted?: (pid: number) => void;
  /**
   * The task needs a human's approval (architecture §7): the request waits until an approver
   * decides or `expiresAt` passes (then it fails with `DENIED`).
   */
  readonly onApproval?: (waiting: { readonly id: number; readonly expiresAt: string }) => void;
  /**
   * An `output: passthrough` task wants the caller's own fds 0, 1 and 2: send them (SCM_RIGHTS)
   * to the one-shot unix socket at `path`, within 5 s, from this process. Without this
   * callback the request fails with `NOT_ALLOWED` after that time.
   */
  readonly onFds?: (path: string) => void;
  /** A chunk of the child's (masked) stdout. The bytes are wiped when the callback returns: copy what you keep. */
  readonly onStdout?: (chunk: Uint8Array) => void;
  /** A chunk of the child's (masked) stderr; same rules as `onStdout`. */
  readonly onStderr?: (chunk: Uint8Array) => void;
  /** Reject `done` with `TIMEOUT` after this long, ms. Default: no timeout. */
  readonly timeoutMs?: number;
  /** Abort waiting (`done` rejects with `TIMEOUT`); close the client to make the service stop the child. */
  readonly signal?: AbortSignal;
}

/**
 * A running `exec` (see {@link IpcClient.exec}). The follow-up methods resolve once their
 * frame has been handed to the kernel (await them for back-pressure when piping); after
 * `done` settled they send nothing. The service answers a follow-up that arrives after the
 * child finished with `NOT_FOUND`, which the client ignores (`done` carries the outcome).
 */
export interface ExecHandle {
  /** The request id the follow-up frames reference. */
  readonly id: number;
  /** The child's exit: `{ code, signal }`; rejects like {@link IpcClient.request}. */
  readonly done: Promise<ExecResult>;
  /** Send bytes to the child's stdin, split into frames that fit the frame limit. */
  stdin(bytes: Uint8Array): Promise<void>;
  /** Close the child's stdin. */
  end(): Promise<void>;
  /** Forward a signal to the child. */
  signal(name: ExecSignal): Promise<void>;
  /** The caller's terminal changed size. */
  resize(cols: number, rows: number): Promise<void>;
}

/** Callbacks of {@link IpcClient.approve}. */
export interface ApproveOptions {
  /** The passphrase was accepted: this connection is now an approver. */
  readonly onReady?: () => void;
  /** A request waits for a decision. */
  readonly onPending?: (info: ApprovalInfo) => void;
  /** A pending request was decided, expired or withdrawn (by anyone). */
  readonly onResolved?: (resolved: ApprovalResolved) => void;
  readonly signal?: AbortSignal;
}

/** An approver session started by {@link IpcClient.approve}. */
export interface ApproveHandle {
  readonly id: number;
  /** Settles when the session ends (vault locked, replaced, connection closed). */
  readonly done: Promise<ApproveResult>;
  /** Answer the pending request `approval`. Resolves once sent (not when applied). */
  decide(approval: number, decision: ApprovalDecision): Promise<void>;
}

/** Room for the header of an `exec.stdin` frame inside the frame limit. */
const STDIN_HEADER_ROOM = 256;

interface Pending {
  readonly type: MessageType;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: IpcError) => void;
  readonly onEvent: RequestOptions['onEvent'];
}

/**
 * A connection to the service. Requests may run concurrently; each is matched to its reply
 * by id. Create one with {@link connectIpc}.
 */
export class IpcClient {
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder<Uint8Array>;
  readonly #maxFrameBytes: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: IpcError | null = null;
  #server: HelloResult | null = null;
  readonly #peerVerified: boolean;

  /** @internal Use {@link connectIpc}. */
  constructor(socket: Socket, maxFrameBytes: number, peerVerified = true) {
    this.#peerVerified = peerVerified;
    this.#socket = socket;
    this.#maxFrameBytes = maxFrameBytes;
    // Plain attachments: what the service sends is never secret, and a secure region per
    // output frame capped `cr exec` output at ~50 MB/s (bench/README.md, exec-latency).
    this.#decoder = FrameDecoder.plain({ maxFrameBytes });
    socket.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    socket.on('error', (error) => {
      this.#fail(new IpcError('CONNECTION_CLOSED', 'the connection to the service failed', { cause: error }));
    });
    socket.on('close', () => {
      this.#fail(new IpcError('CONNECTION_CLOSED', 'the service closed the connection'));
    });
  }

  /** What the server answered to `hello`. */
  get server(): HelloResult {
    return this.#server ?? { protocol: PROTOCOL_VERSION, server: '' };
  }

  /** True once the connection is closed (by either side). */
  get closed(): boolean {
    return this.#closed !== null;
  }

  /**
   * Stop reading replies and events until {@link IpcClient.resumeReading}: back-pressure for a
   * consumer that cannot keep up (e.g. `cr exec` writing to a slow stdout). The server's writes
   * then back up and it pauses the child's output, so no side buffers without bound.
   */
  pauseReading(): void {
    this.#socket.pause();
  }

  /** Read replies and events again after {@link IpcClient.pauseReading}. */
  resumeReading(): void {
    this.#socket.resume();
  }

  /**
   * Send one request and wait for its final reply.
   * @param type - the message type
   * @param params - its header parameters (never secrets)
   * @param options - attachment parts, event callback, timeout
   * @returns the validated result
   * @throws IpcError with the server's code (`LOCKED`, `AUTH_FAILED`, …), or locally
   *   `BAD_REQUEST` / `BAD_ATTACHMENT` (refused before sending), `TIMEOUT`,
   *   `CONNECTION_CLOSED`, `PROTOCOL_ERROR` (the server's reply is not valid).
   * @example
   * ```ts
   * const status = await client.request('status', {});
   * await client.request('unlock', {}, { parts: [passphrase] });
   * ```
   */
  request<T extends RequestType>(
    type: T,
    params: RequestParams[T],
    options: RequestOptions = {},
  ): Promise<Results[T]> {
    return this.#send(type, params, options).promise as Promise<Results[T]>;
  }

  /**
   * Start an `exec` (architecture §8) and stream its output.
   * @param params - task, argv, cwd, env (never secrets), tty
   * @param options - output callbacks, timeout
   * @returns a handle for stdin, signals and resizes, and `done` with the exit
   * @example
   * ```ts
   * const run = client.exec({ task: 'deploy', argv: ['curl', url], cwd: process.cwd(), env: {} }, {
   *   onStdout: (chunk) => process.stdout.write(Buffer.from(chunk)),
   * });
   * await run.end();
   * const { code, signal } = await run.done;
   * ```
   */
  exec(params: ExecParams, options: ExecOptions = {}): ExecHandle {
    const onEvent = (event: EventHeader, attachment: Uint8Array | null): void => {
      if (event.event === 'started') {
        const pid = (event.data as { pid?: unknown } | undefined)?.pid;
        if (!Number.isSafeInteger(pid) || (pid as number) < 1 || attachment !== null) {
          throw new IpcError('PROTOCOL_ERROR', 'the service sent an invalid started event');
        }
        options.onStarted?.(pid as number);
      } else if (event.event === 'fds') {
        const path = (event.data as { path?: unknown } | undefined)?.path;
        if (
          typeof path !== 'string' ||
          !path.startsWith('/') ||
          Buffer.byteLength(path) > 107 ||
          attachment !== null
        ) {
          throw new IpcError('PROTOCOL_ERROR', 'the service sent an invalid fds event');
        }
        options.onFds?.(path);
      } else if (event.event === 'approval') {
        const data = event.data as { id?: unknown; expiresAt?: unknown } | undefined;
        if (
          !Number.isSafeInteger(data?.id) ||
          typeof data?.expiresAt !== 'string' ||
          Number.isNaN(Date.parse(data.expiresAt)) ||
          attachment !== null
        ) {
          throw new IpcError('PROTOCOL_ERROR', 'the service sent an invalid approval event');
        }
        options.onApproval?.({ id: data.id as number, expiresAt: data.expiresAt });
      } else if (event.event === 'stdout' || event.event === 'stderr') {
        const callback = event.event === 'stdout' ? options.onStdout : options.onStderr;
        if (attachment !== null && callback !== undefined) callback(attachment);
      }
      // Other events are for later protocol additions: ignored.
    };
    const requestOptions: RequestOptions = {
      onEvent,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    };
    const { id, promise } = this.#send('exec', params, requestOptions);
    let settled = false;
    const done = (promise as Promise<ExecResult>).finally(() => {
      settled = true;
    });
    const input = <T extends InputType>(
      type: T,
      inputParams: InputParams[T],
      attachment: Uint8Array | null,
    ): Promise<void> => (settled ? Promise.resolve() : this.#sendInput(type, inputParams, attachment));
    const chunkSize = this.#maxFrameBytes - STDIN_HEADER_ROOM;
    return {
      id,
      done,
      stdin: async (bytes: Uint8Array): Promise<void> => {
        if (!(bytes instanceof Uint8Array)) throw new TypeError('stdin takes a Uint8Array');
        for (let at = 0; at < bytes.length; at += chunkSize) {
          await input('exec.stdin', { ref: id }, bytes.subarray(at, at + chunkSize));
        }
      },
      end: () => input('exec.stdin', { ref: id, eof: true }, null),
      signal: (name: ExecSignal) => input('exec.signal', { ref: id, signal: name }, null),
      resize: (cols: number, rows: number) => input('exec.resize', { ref: id, cols, rows }, null),
    };
  }

  /**
   * Become an approver (architecture §7): prove the passphrase once, then receive pending approval
   * requests as they arrive and answer them. The passphrase is copied into the frame and the
   * frame wiped; the caller keeps (and wipes) its own copy.
   * @param passphrase - the vault passphrase
   * @param options - callbacks for ready / pending / resolved
   * @returns the session handle
   * @throws (through `done`) IpcError `AUTH_FAILED`, `LOCKED`, `NOT_ALLOWED`, `CONNECTION_CLOSED`.
   * @example
   * ```ts
   * const session = client.approve(passphrase, {
   *   onPending: (info) => void session.decide(info.id, 'allow-once'),
   * });
   * await session.done;
   * ```
   */
  approve(passphrase: Uint8Array | SecretBuf, options: ApproveOptions = {}): ApproveHandle {
    const onEvent = (event: EventHeader, attachment: Uint8Array | null): void => {
      if (attachment !== null) throw new IpcError('PROTOCOL_ERROR', 'approval events carry no attachment');
      if (event.event === 'ready') {
        options.onReady?.();
      } else if (event.event === 'pending') {
        const info = v.safeParse(ApprovalInfoSchema, event.data);
        if (!info.success) throw new IpcError('PROTOCOL_ERROR', 'the service sent an invalid pending event');
        options.onPending?.(info.output);
      } else if (event.event === 'resolved') {
        const resolved = v.safeParse(ApprovalResolvedSchema, event.data);
        if (!resolved.success) {
          throw new IpcError('PROTOCOL_ERROR', 'the service sent an invalid resolved event');
        }
        options.onResolved?.(resolved.output);
      }
    };
    const { id, promise } = this.#send(
      'approve',
      {},
      { parts: [passphrase], onEvent, ...(options.signal === undefined ? {} : { signal: options.signal }) },
    );
    let settled = false;
    const done = (promise as Promise<ApproveResult>).finally(() => {
      settled = true;
    });
    return {
      id,
      done,
      decide: (approval: number, decision: ApprovalDecision): Promise<void> =>
        settled
          ? Promise.reject(new IpcError('NOT_FOUND', 'the approver session has ended'))
          : this.#sendInput('approve.decide', { ref: id, approval, decision }, null),
    };
  }

  /** Close the connection; pending requests reject with `CONNECTION_CLOSED`. */
  close(): void {
    this.#fail(new IpcError('CONNECTION_CLOSED', 'the connection was closed by the client'));
  }

  /** @internal The `hello` exchange, done by {@link connectIpc}. */
  async hello(clientName: string, timeoutMs: number): Promise<HelloResult> {
    const result = (await this.#send(
      'hello',
      { protocol: PROTOCOL_VERSION, client: clientName },
      { timeoutMs },
    ).promise) as HelloResult;
    this.#server = result;
    return result;
  }

  /** A follow-up frame for an in-flight request; resolves once the kernel took it. */
  #sendInput(type: InputType, params: unknown, attachment: Uint8Array | null): Promise<void> {
    if (this.#closed !== null) return Promise.reject(this.#closed);
    const header = { ...(params as object), id: this.#allocateId(), type };
    const problem = checkRequest(header);
    if (problem !== null) return Promise.reject(new IpcError('BAD_REQUEST', `${type}: ${problem}`));
    let frame: Buffer;
    try {
      frame = encodeFrame(header, attachment, this.#maxFrameBytes);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new IpcError('INTERNAL', 'cannot encode'));
    }
    return new Promise<void>((resolve, reject) => {
      // stdin bytes are the caller's data: the frame is wiped once written, like any other.
      this.#socket.write(frame, (error) => {
        wipeBytes(frame);
        if (error) reject(new IpcError('CONNECTION_CLOSED', 'the connection to the service failed'));
        else resolve();
      });
    });
  }

  #allocateId(): number {
    const id = this.#nextId;
    this.#nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    return id;
  }

  #send(
    type: MessageType,
    params: unknown,
    options: RequestOptions,
  ): { readonly id: number; readonly promise: Promise<unknown> } {
    const id = this.#allocateId();
    return { id, promise: this.#start(id, type, params, options) };
  }

  #start(id: number, type: MessageType, params: unknown, options: RequestOptions): Promise<unknown> {
    if (this.#closed !== null) return Promise.reject(this.#closed);
    if (typeof params !== 'object' || params === null) {
      return Promise.reject(new TypeError('params must be an object'));
    }
    const header = { ...params, id, type } as RequestHeader;
    const problem = checkRequest(header);
    if (problem !== null) return Promise.reject(new IpcError('BAD_REQUEST', `${type}: ${problem}`));
    const parts = options.parts ?? [];
    const expected = attachmentParts(header);
    if (expected > 0 && !this.#peerVerified) {
      return Promise.reject(
        new IpcError(
          'UNTRUSTED_SERVER',
          `${type} carries a passphrase or a value, and this connection did not verify the service's peer credentials (verifyPeer: false)`,
        ),
      );
    }
    if (parts.length !== expected) {
      return Promise.reject(
        new IpcError('BAD_ATTACHMENT', `${type} carries ${expected} attachment part(s), got ${parts.length}`),
      );
    }
    let frame: Buffer;
    let packed: SecretBuf | null = null;
    try {
      packed = expected === 0 ? null : packParts(parts);
      if (packed !== null && packed.length === 0) {
        return Promise.reject(new IpcError('BAD_ATTACHMENT', `${type} needs a non-empty attachment`));
      }
      frame = encodeFrame(header, packed, this.#maxFrameBytes);
    } catch (error) {
      return Promise.reject(
        error instanceof Error ? error : new IpcError('INTERNAL', 'cannot encode the request'),
      );
    } finally {
      packed?.wipe();
    }
    return new Promise<unknown>((resolve, reject) => {
      let cancelTimer: (() => void) | undefined;
      const cleanup = (): void => {
        cancelTimer?.();
        options.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        if (this.#pending.delete(id)) {
          cleanup();
          reject(new IpcError('TIMEOUT', `${type} was aborted`));
        }
      };
      this.#pending.set(id, {
        type,
        onEvent: options.onEvent,
        resolve: (result) => {
          cleanup();
          resolve(result);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      });
      if (options.timeoutMs !== undefined) {
        cancelTimer = deadlineTimer(() => {
          if (this.#pending.delete(id)) {
            cleanup();
            reject(new IpcError('TIMEOUT', `no reply to ${type} within ${options.timeoutMs} ms`));
          }
        }, options.timeoutMs);
      }
      if (options.signal !== undefined) {
        if (options.signal.aborted) {
          onAbort();
          wipeBytes(frame);
          return;
        }
        options.signal.addEventListener('abort', onAbort, { once: true });
      }
      // The frame may hold a passphrase: wiped once the socket has written it (or failed to).
      this.#socket.write(frame, () => {
        wipeBytes(frame);
      });
    });
  }

  #onData(chunk: Buffer): void {
    let frames: DecodedFrame<Uint8Array>[] = [];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.#fail(new IpcError('PROTOCOL_ERROR', 'the service sent a malformed frame', { cause: error }));
    } finally {
      wipeBytes(chunk);
    }
    for (const frame of frames) {
      try {
        if (this.#closed === null) this.#onFrame(frame);
      } catch (error) {
        this.#fail(
          error instanceof IpcError ? error : new IpcError('PROTOCOL_ERROR', 'bad frame from the service'),
        );
      } finally {
        if (frame.attachment !== null) wipeBytes(frame.attachment);
      }
    }
  }

  #onFrame(frame: DecodedFrame<Uint8Array>): void {
    const decoded = decodeServerFrame(frame.header);
    if (decoded.kind === 'event') {
      const pending = this.#pending.get(decoded.event.id);
      pending?.onEvent?.(decoded.event, frame.attachment);
      return;
    }
    if (frame.attachment !== null) throw new IpcError('PROTOCOL_ERROR', 'a reply carried an attachment');
    if (decoded.kind === 'error' && decoded.reply.id === 0) {
      const { code, message } = decoded.reply.error;
      this.#fail(new IpcError(code, message));
      return;
    }
    const pending = this.#pending.get(decoded.reply.id);
    if (pending === undefined) return; // timed out or aborted earlier
    this.#pending.delete(decoded.reply.id);
    if (decoded.kind === 'error') {
      pending.reject(new IpcError(decoded.reply.error.code, decoded.reply.error.message));
      return;
    }
    const result = checkResult(pending.type, decoded.reply.result);
    if (result === null) {
      pending.reject(new IpcError('PROTOCOL_ERROR', `the service sent an invalid ${pending.type} result`));
      return;
    }
    pending.resolve(result);
  }

  #fail(error: IpcError): void {
    if (this.#closed !== null) return;
    this.#closed = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    this.#decoder.dispose();
    this.#socket.destroy();
  }
}
