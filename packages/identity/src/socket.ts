// SPDX-License-Identifier: AGPL-3.0-only
import type { Socket } from 'node:net';
import { IdentityError, IdentityErrorCode } from './errors.ts';

/**
 * The file descriptor of a connected Unix-socket `net.Socket`, for the platform packages.
 *
 * Reads `socket._handle.fd`, a Node-internal property (libuv's fd of a `Pipe` handle; it is
 * set for Unix sockets on Linux and macOS). Node has no public API for it. When the property
 * is missing or not a valid fd (a destroyed socket, a TCP socket on some platforms, a future
 * Node that drops it), this fails closed.
 *
 * @param socket - a connected socket
 * @returns the fd (≥ 0)
 * @throws TypeError when `socket` is not an object.
 * @throws IdentityError `NO_PEER_CREDENTIALS` when no fd can be found.
 * @example
 * ```ts
 * const fd = socketFd(socket);
 * ```
 */
export function socketFd(socket: Socket): number {
  if (typeof socket !== 'object' || (socket as unknown) === null) {
    throw new TypeError('socket must be a net.Socket');
  }
  if (socket.destroyed) {
    throw new IdentityError(IdentityErrorCode.NO_PEER_CREDENTIALS, 'the socket is already destroyed');
  }
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new IdentityError(
      IdentityErrorCode.NO_PEER_CREDENTIALS,
      'the socket has no file descriptor (not a connected Unix socket, or Node no longer exposes _handle.fd)',
    );
  }
  return fd;
}
