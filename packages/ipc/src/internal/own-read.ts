// SPDX-License-Identifier: AGPL-3.0-only
import { Socket } from 'node:net';

/** Bytes read per socket read call; each connection owns one buffer of this size. */
const READ_BUFFER_BYTES = 16 * 1024;

interface HandleOwner {
  _handle: unknown;
}

/**
 * Move an accepted (paused) connection onto a socket that reads into a buffer we own.
 *
 * By default Node reads into a 64 KiB allocation, copies the bytes read into a right-sized
 * buffer and frees the original without zeroing it, so every frame — passphrases and values
 * in attachments included — would leave a copy in the malloc heap that no wipe can reach.
 * With `onread`, libuv reads straight into `buffer`; the connection code wipes each chunk
 * after decoding, which zeroes this buffer. Accepted sockets cannot be given `onread`, so the
 * handle is handed to a new Socket and the server's wrapper is released (its `destroy()`
 * with no handle only updates the server's connection count). `_handle` is Node-internal;
 * when it is missing the connection is refused rather than read the leaky way.
 */
export function adoptWithOwnBuffer(accepted: Socket): Socket | null {
  const owner = accepted as unknown as HandleOwner;
  const handle = owner._handle;
  if (handle === null || typeof handle !== 'object') return null;
  const buffer = Buffer.alloc(READ_BUFFER_BYTES);
  const socket: Socket = new Socket({
    handle,
    readable: true,
    writable: true,
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
  accepted.destroy();
  return socket;
}
