// SPDX-License-Identifier: AGPL-3.0-only
// createIpcServer: checks its options, claims the socket and admits connections; each
// connection's protocol lives in internal/connection.ts.
import { lstat, unlink } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { wipeBytes } from '@cora/memstore';
import { adoptWithOwnBuffer } from './own-read.ts';
import { checkMaxFrameBytes } from './frame.ts';
import {
  errorFrame,
  ignore,
  kernelCredentials,
  loadKernelCredentials,
  linger,
  report,
  victimIn,
  victimInTable,
  type ServerState,
  type Settings,
} from './internal/admission.ts';
import { Connection } from './internal/connection.ts';
import { RateLimiter, type RateLimit } from './internal/rate.ts';
import { bindAndClaim } from './internal/socket-claim.ts';
import { ensureSocketDir, ownUid, socketPath as defaultSocketPath } from './paths.ts';
import type { IpcServer, IpcServerOptions } from './server-types.ts';

/** Bytes read per read call into the buffer all connections share. */
const READ_BUFFER_BYTES = 64 * 1024;

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
  const win32 = process.platform === 'win32' ? await import('./internal/win32.ts') : null;
  const path = options.socketPath ?? (win32 === null ? defaultSocketPath() : await win32.defaultPipePath());
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new TypeError('options.socketPath must be a non-empty path');
  }

  // Windows: a named pipe with a DACL instead of a directory and a socket file (internal/win32-pipe.ts).
  const uid = win32 === null ? ownUid() : -1;
  const dir = win32 === null ? await ensureSocketDir(path, uid) : '';
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
  await loadKernelCredentials();
  // One read buffer for every connection: each chunk is decoded (copied) and wiped before the
  // next read of any socket, and a per-connection buffer is 16 KiB of malloc churn per accept.
  const readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
  if (win32 !== null) {
    const pipe = await win32.listenPipe(path, readBuffer, (socket) => {
      accept(state, socket);
    });
    return serving(state, path, () => pipe.close());
  }
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

  return serving(state, path, async () => {
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    // Remove the path only if it is still our socket (never someone else's file).
    try {
      const st = await lstat(path);
      if (st.isSocket() && st.ino === ino) await unlink(path);
    } catch {
      // already gone
    }
  });
}

/** The IpcServer of a listening `state`; `stop` stops listening (after connections are dropped). */
function serving<P>(state: ServerState<P>, path: string, stop: () => Promise<void>): IpcServer {
  return {
    path,
    get connections(): number {
      return state.connections.size;
    },
    async close(): Promise<void> {
      if (state.closing) return;
      state.closing = true;
      const stopped = stop();
      for (const conn of state.connections) conn.destroy();
      for (const socket of state.lingering) socket.destroy();
      await stopped;
    },
  };
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
