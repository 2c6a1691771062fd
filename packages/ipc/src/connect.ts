// SPDX-License-Identifier: AGPL-3.0-only
// Reaching the service: every check on the socket and the peer happens before a byte is sent.
import { lstat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { PeerCredentials } from '@cora/identity';
import { IpcClient } from './client.ts';
import { IpcError, type IpcErrorCode } from './errors.ts';
import { checkMaxFrameBytes } from './frame.ts';
import { deadlineTimer } from './internal/deadline.ts';
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
  /**
   * Ties the process behind the socket to the expected service before a byte is sent (after
   * the uid check): e.g. its executable and command line. Throwing (or rejecting) refuses the
   * server with `UNTRUSTED_SERVER`, the thrown error as `cause`.
   */
  readonly checkServer?: (server: PeerCredentials) => void | Promise<void>;
  /**
   * Read the kernel's peer credentials of the server (SO_PEERCRED, through `@cora/identity`
   * and its FFI). Default true. A client that will send no passphrase and no value (status,
   * exec, listing names) may pass false to start faster: the directory and socket checks
   * still hold (ours, 0700, a real socket), the peer's uid and pid are not read, and the
   * client refuses every request that carries an attachment. Not with `checkServer`.
   */
  readonly verifyPeer?: boolean;
}

/**
 * Connect to the service, after checking that it is ours (architecture §5, G5), and say `hello`.
 *
 * Before anything is sent: the socket's directory must be a real directory owned by us with
 * mode 0700; the socket must be a socket (not a symlink) owned by `expectedUid`; after
 * connecting, the kernel's peer credentials (SO_PEERCRED) must name `expectedUid` (unless
 * `verifyPeer` is false: then nothing secret may be sent on the connection).
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
  if (process.platform === 'win32') return connectWindows(options, timeoutMs, maxFrameBytes);
  const uid = ownUid();
  const expectedUid = options.expectedUid ?? uid;
  if (!Number.isSafeInteger(expectedUid) || expectedUid < 0)
    throw new RangeError('options.expectedUid must be a uid');
  const verifyPeer = options.verifyPeer ?? true;
  if (!verifyPeer && options.checkServer !== undefined)
    throw new RangeError(
      'options.checkServer needs the peer credentials: it cannot go with verifyPeer: false',
    );

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
    if (verifyPeer) await verifyServer(socket, path, expectedUid, options.checkServer);
    return await greet(socket, options, maxFrameBytes, verifyPeer, deadline);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/**
 * Windows (architecture §5): the service's named pipe, opened through the OS API; before a byte is
 * sent, the pipe's server process (GetNamedPipeServerProcessId) must run under our own user SID
 * (`uid` -1 from @cora/identity-win32), then `checkServer` ties it to the service.
 */
async function connectWindows(
  options: ConnectOptions,
  timeoutMs: number,
  maxFrameBytes: number,
): Promise<IpcClient> {
  if (options.expectedUid !== undefined)
    throw new RangeError('options.expectedUid has no meaning on Windows');
  if (options.verifyPeer === false)
    throw new RangeError('options.verifyPeer: false is not offered on Windows');
  const { connectToPipe, defaultPipePath } = await import('./internal/win32.ts');
  const path = options.socketPath ?? (await defaultPipePath());
  const deadline = Date.now() + timeoutMs;
  const socket = await connectToPipe(path, timeoutMs);
  socket.on('error', () => {
    // IpcClient takes over error handling; until then a late error must not crash.
  });
  try {
    await verifyServer(socket, path, -1, options.checkServer);
    // The pipe socket comes paused: the client's reader is attached first.
    return await greet(socket, options, maxFrameBytes, true, deadline, true);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Say `hello` on a checked socket; the client is closed when that fails. */
async function greet(
  socket: Socket,
  options: ConnectOptions,
  maxFrameBytes: number,
  verified: boolean,
  deadline: number,
  resume = false,
): Promise<IpcClient> {
  const client = new IpcClient(socket, maxFrameBytes, verified);
  if (resume) socket.resume();
  try {
    await client.hello(options.clientName ?? 'cora-ipc', Math.max(1, deadline - Date.now()));
  } catch (error) {
    client.close();
    throw error;
  }
  return client;
}

/**
 * The kernel's word on the process behind `socket`: its uid must be `expectedUid`, then
 * `checkServer` ties it to the service. `@cora/identity` (FFI) is loaded here, on first use.
 */
async function verifyServer(
  socket: Socket,
  path: string,
  expectedUid: number,
  checkServer: ConnectOptions['checkServer'],
): Promise<void> {
  const { peerCredentials } = await import('@cora/identity');
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
  if (checkServer !== undefined) {
    const server = peerCredentials(socket);
    try {
      await checkServer(server);
    } catch (error) {
      throw new IpcError(
        'UNTRUSTED_SERVER',
        `the process behind ${path} (pid ${String(server.pid)}) is not the expected service: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
}

function connectSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const cancelTimer = deadlineTimer(() => {
      socket.destroy();
      reject(new IpcError('TIMEOUT', `connecting to ${path} took more than ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      cancelTimer();
      socket.removeAllListeners('error');
      socket.on('error', () => {
        // IpcClient takes over error handling; until then a late error must not crash.
      });
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      cancelTimer();
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
