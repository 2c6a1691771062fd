// SPDX-License-Identifier: AGPL-3.0-only
// Who gets a slot: the connection table, its victims when full, and refusals that linger
// just long enough to deliver their error frame.
import type { Socket } from 'node:net';
import type { PeerCredentials } from '@cora/identity';
import { wipeBytes } from '@cora/memstore';
import type { WireErrorCode } from '../errors.ts';
import { encodeFrame } from '../frame.ts';
import type { ErrorBody } from '../messages.ts';
import type { IpcServerOptions } from '../server-types.ts';
import type { RateLimiter } from './rate.ts';

/** How long a connection we are closing may linger before it is destroyed. */
const LINGER_MS = 1000;

export interface Settings {
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerPid: number;
  readonly maxInFlight: number;
}

/** What the table needs of a connection. */
export interface Admitted {
  readonly beforeHello: boolean;
  readonly idle: boolean;
  readonly lastActive: number;
  evict(): void;
  destroy(): void;
}

export interface ServerState<P> {
  readonly options: IpcServerOptions<P>;
  readonly settings: Settings;
  readonly limiter: RateLimiter;
  /** New connections per peer pid (`connectRate`). */
  readonly connects: RateLimiter;
  readonly rateKey: (peer: P) => string;
  /** Open connections in accept order (oldest first), the ones being closed left out. */
  readonly connections: Set<Admitted>;
  /** The same connections by the kernel's peer pid (connections without one are not in it). */
  readonly byPid: Map<number, Set<Admitted>>;
  /** Sockets closed with an error frame, waiting (at most LINGER_MS) for it to flush. */
  readonly lingering: Set<Socket>;
  closing: boolean;
}

/** The connection to cut for a newcomer: the oldest one before hello, else the longest idle. */
export function victimIn(connections: Iterable<Admitted>): Admitted | null {
  let idle: Admitted | null = null;
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
export function victimInTable<P>(state: ServerState<P>): Admitted | null {
  let biggest: Set<Admitted> | null = null;
  for (const set of state.byPid.values()) if (biggest === null || set.size > biggest.size) biggest = set;
  return (biggest === null ? null : victimIn(biggest)) ?? victimIn(state.connections);
}

/** Take a connection out of the table (when it starts closing, or closed). */
export function forget<P>(state: ServerState<P>, conn: Admitted, pid: number | null): void {
  state.connections.delete(conn);
  if (pid === null) return;
  const set = state.byPid.get(pid);
  if (set?.delete(conn) === true && set.size === 0) state.byPid.delete(pid);
}

/**
 * End a socket with a last frame. Its slot is already free; while it lingers it is counted
 * here, and when too many linger (a flood of refusals) it is destroyed at once instead.
 */
export function linger<P>(state: ServerState<P>, socket: Socket, frame: Buffer): void {
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

let credentialsOf: ((socket: Socket) => PeerCredentials) | null = null;

/**
 * Load `@cora/identity` (its FFI) once, before a server accepts anyone. Imported here rather
 * than at the top so that a client which skips the peer check (`verifyPeer: false`) never
 * loads it.
 */
export async function loadKernelCredentials(): Promise<void> {
  credentialsOf ??= (await import('@cora/identity')).peerCredentials;
}

/** SO_PEERCRED of an accepted socket, or null when the kernel (or platform) gives none. */
export function kernelCredentials(socket: Socket): PeerCredentials | null {
  if (credentialsOf === null) throw new Error('loadKernelCredentials() was not awaited before accepting');
  try {
    return credentialsOf(socket);
  } catch {
    return null;
  }
}

export function report<P>(
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

export function errorFrame(id: number, error: ErrorBody): Buffer {
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

export function ignore(): void {
  // Deliberately empty.
}
