// SPDX-License-Identifier: AGPL-3.0-only
import { lstat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { peerCredentials } from '@cora/identity';
import type { SecretBuf } from '@cora/memstore';
import { wipeBytes } from '@cora/memstore';
import { IpcError, type IpcErrorCode } from './errors.ts';
import { checkMaxFrameBytes, encodeFrame, FrameDecoder, packParts, type DecodedFrame } from './frame.ts';
import { checkRequest, checkResult, decodeServerFrame } from './internal/schemas.ts';
import {
  attachmentParts,
  MAX_REQUEST_ID,
  PROTOCOL_VERSION,
  type EventHeader,
  type HelloResult,
  type MessageType,
  type RequestHeader,
  type RequestParams,
  type RequestType,
  type Results,
} from './messages.ts';
import { checkPrivateDir, ownUid, socketPath as defaultSocketPath } from './paths.ts';

/** Options of {@link connectIpc}. */
export interface ConnectOptions {
  /** Default {@link socketPath}(). */
  readonly socketPath?: string;
  /** The uid the service must run as (SO_PEERCRED). Default: our own effective uid. */
  readonly expectedUid?: number;
  /** Deadline for connecting and the `hello` exchange, ms. Default 5 000. */
  readonly timeoutMs?: number;
  /** Sent in `hello` (for the audit log), e.g. `cr/0.1.0`. Default `cora-ipc`. */
  readonly clientName?: string;
  /** Largest frame sent or accepted. Default 1 MiB (must match the server's). */
  readonly maxFrameBytes?: number;
}

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
   * attachment, if any, is wiped when the callback returns.
   */
  readonly onEvent?: (event: EventHeader, attachment: SecretBuf | null) => void;
  /** Reject with `TIMEOUT` after this long, ms. Default: no timeout. */
  readonly timeoutMs?: number;
  /** Abort waiting: the request rejects with `TIMEOUT` and its reply is ignored (the server may still run it). */
  readonly signal?: AbortSignal;
}

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
  readonly #decoder: FrameDecoder;
  readonly #maxFrameBytes: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: IpcError | null = null;
  #server: HelloResult | null = null;

  /** @internal Use {@link connectIpc}. */
  constructor(socket: Socket, maxFrameBytes: number) {
    this.#socket = socket;
    this.#maxFrameBytes = maxFrameBytes;
    this.#decoder = new FrameDecoder({ maxFrameBytes });
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
    return this.#send(type, params, options) as Promise<Results[T]>;
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
    )) as HelloResult;
    this.#server = result;
    return result;
  }

  #send(type: MessageType, params: unknown, options: RequestOptions): Promise<unknown> {
    if (this.#closed !== null) return Promise.reject(this.#closed);
    if (typeof params !== 'object' || params === null) {
      return Promise.reject(new TypeError('params must be an object'));
    }
    const id = this.#nextId;
    this.#nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    const header = { ...params, id, type } as RequestHeader;
    const problem = checkRequest(header);
    if (problem !== null) return Promise.reject(new IpcError('BAD_REQUEST', `${type}: ${problem}`));
    const parts = options.parts ?? [];
    const expected = attachmentParts(header);
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
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
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
        timer = setTimeout(() => {
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
    let frames: DecodedFrame[] = [];
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
        frame.attachment?.wipe();
      }
    }
  }

  #onFrame(frame: DecodedFrame): void {
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

/**
 * Connect to the service, after checking that it is ours (DESIGN §5, G5), and say `hello`.
 *
 * Before anything is sent: the socket's directory must be a real directory owned by us with
 * mode 0700; the socket must be a socket (not a symlink) owned by `expectedUid`; after
 * connecting, the kernel's peer credentials (SO_PEERCRED) must name `expectedUid`.
 *
 * @param options - see {@link ConnectOptions}
 * @returns a connected client
 * @throws IpcError `UNSAFE_SOCKET_DIR`, `UNSAFE_SOCKET`, `NOT_RUNNING`, `UNTRUSTED_SERVER`,
 *   `TIMEOUT`, `CONNECTION_CLOSED`, or the server's own refusal (`BUSY`, `NOT_ALLOWED`,
 *   `UNSUPPORTED_VERSION`, …).
 * @example
 * ```ts
 * const client = await connectIpc({ clientName: 'cr/0.1.0' });
 * try {
 *   console.log(await client.request('status', {}));
 * } finally {
 *   client.close();
 * }
 * ```
 */
export async function connectIpc(options: ConnectOptions = {}): Promise<IpcClient> {
  const path = options.socketPath ?? defaultSocketPath();
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes, 'options.maxFrameBytes');
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1)
    throw new RangeError('options.timeoutMs must be a positive integer');
  const uid = ownUid();
  const expectedUid = options.expectedUid ?? uid;
  if (!Number.isSafeInteger(expectedUid) || expectedUid < 0)
    throw new RangeError('options.expectedUid must be a uid');

  await checkPrivateDir(dirname(path), uid);
  let st;
  try {
    st = await lstat(path);
  } catch (error) {
    throw new IpcError('NOT_RUNNING', `no Cora service is running (no socket at ${path})`, { cause: error });
  }
  if (st.isSymbolicLink() || !st.isSocket()) throw new IpcError('UNSAFE_SOCKET', `${path} is not a socket`);
  if (st.uid !== expectedUid)
    throw new IpcError('UNSAFE_SOCKET', `${path} is owned by uid ${st.uid}, not ${expectedUid}`);

  const deadline = Date.now() + timeoutMs;
  const socket = await connectSocket(path, timeoutMs);
  try {
    let uidSeen: number;
    try {
      uidSeen = peerCredentials(socket).uid;
    } catch (error) {
      throw new IpcError('UNTRUSTED_SERVER', 'cannot read the service’s peer credentials', { cause: error });
    }
    if (uidSeen !== expectedUid) {
      throw new IpcError(
        'UNTRUSTED_SERVER',
        `the process behind ${path} runs as uid ${uidSeen}, not ${expectedUid}`,
      );
    }
    const client = new IpcClient(socket, maxFrameBytes);
    try {
      await client.hello(options.clientName ?? 'cora-ipc', Math.max(1, deadline - Date.now()));
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

function connectSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new IpcError('TIMEOUT', `connecting to ${path} took more than ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {
        // IpcClient takes over error handling; until then a late error must not crash.
      });
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      // EAGAIN on a Unix socket: the listen backlog is full, i.e. the service is busy.
      const code: IpcErrorCode =
        error.code === 'ECONNREFUSED' || error.code === 'ENOENT'
          ? 'NOT_RUNNING'
          : error.code === 'EAGAIN'
            ? 'BUSY'
            : 'CONNECTION_CLOSED';
      const message =
        code === 'NOT_RUNNING'
          ? `no Cora service is running on ${path}`
          : code === 'BUSY'
            ? `the service on ${path} is busy; retry later`
            : `cannot connect to ${path}`;
      reject(new IpcError(code, message, { cause: error }));
    });
  });
}
