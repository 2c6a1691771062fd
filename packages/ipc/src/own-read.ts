// SPDX-License-Identifier: AGPL-3.0-only
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** Options of {@link adoptWithOwnBuffer}. */
export interface OwnBufferOptions {
  /** Whether the new socket is writable (a connection: yes; a child's output pipe: no). Default true. */
  readonly writable?: boolean;
  /** Bytes read per read call, the size of the one buffer the socket owns. Default 16 KiB. */
  readonly bufferBytes?: number;
  /**
   * Read into this buffer instead of a new one (`bufferBytes` is then ignored). Several
   * streams may share one buffer when every `'data'` listener consumes and wipes its chunk
   * before returning: libuv fills and hands over one read at a time on the one thread, so a
   * shared buffer saves a 16 KiB allocation per stream (a server under a connection flood).
   */
  readonly buffer?: Uint8Array;
}

interface HandleOwner {
  _handle: unknown;
}

/**
 * Move a paused socket or pipe stream onto a socket that reads into a buffer we own (G3).
 *
 * By default Node reads into a 64 KiB allocation, copies the bytes read into a right-sized
 * buffer and frees the original without zeroing it, so every frame or chunk of child output —
 * secrets included — would leave a copy in the malloc heap that no wipe can reach. With
 * `onread`, libuv reads straight into one buffer; the consumer's `'data'` listener must wipe
 * each chunk after use, which zeroes that buffer. An existing stream cannot be given `onread`,
 * so its handle is handed to a new Socket (created paused: call `resume()` once listeners are
 * attached; only `'data'` events are emitted) and the old wrapper is released. `_handle` is
 * Node-internal: when it is missing `null` is returned and the caller must refuse the stream
 * rather than read it the leaky way.
 * @param stream - a net.Socket or pipe stream that has not read anything yet
 * @param options - writability and buffer size
 * @returns the new socket, or null when the stream has no handle
 * @example
 * ```ts
 * const socket = adoptWithOwnBuffer(accepted);
 * socket?.on('data', (chunk) => { decode(chunk); wipeBytes(chunk); });
 * socket?.resume();
 * ```
 */
export function adoptWithOwnBuffer(stream: Socket | Readable, options: OwnBufferOptions = {}): Socket | null {
  const owner = stream as unknown as HandleOwner;
  const handle = owner._handle;
  if (handle === null || typeof handle !== 'object') return null;
  const buffer = options.buffer ?? Buffer.alloc(options.bufferBytes ?? 16 * 1024);
  const socket: Socket = new Socket({
    handle,
    readable: true,
    writable: options.writable ?? true,
    allowHalfOpen: false,
    pauseOnCreate: true,
    onread: {
      buffer,
      callback(bytesRead: number, buf: Uint8Array): boolean {
        // Handed to the same 'data' listeners a normal socket would feed; they wipe it.
        socket.emit('data', Buffer.from(buf.buffer, buf.byteOffset, bytesRead));
        return true;
      },
    },
  } as ConstructorParameters<typeof Socket>[0] & { handle: unknown; pauseOnCreate: boolean });
  owner._handle = null;
  stream.destroy();
  return socket;
}
