// SPDX-License-Identifier: AGPL-3.0-only
// Claiming the socket path without a window: bind privately under a temporary name, check,
// hard-link into place; a stale socket is removed, a live one or anything else is left alone.
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, unlink } from 'node:fs/promises';
import { createConnection, type Server } from 'node:net';
import { basename, join } from 'node:path';
import { IpcError, isIpcError } from '../errors.ts';
import { ignore } from './admission.ts';

/** Bind under a temporary name with a tight umask, verify, then claim the real path. Returns the socket's inode. */
export async function bindAndClaim(server: Server, path: string, dir: string, uid: number): Promise<number> {
  const temp = join(dir, tempName(basename(path)));
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
    // listen/chmod/lstat fail with plain errors (EINVAL for a path over sun_path, EACCES…).
    if (isIpcError(error)) throw error;
    throw new IpcError('UNSAFE_SOCKET', `cannot create a socket in ${dir}`, { cause: error });
  } finally {
    // The server stays bound to the inode; the temporary name goes.
    await unlink(temp).catch(ignore);
  }
}

/**
 * A random dot-name no longer than the final name (8 characters at least): sun_path holds
 * 108 bytes on Linux, so a longer temporary name would refuse a path that itself fits.
 */
function tempName(final: string): string {
  const length = Math.max(8, Buffer.byteLength(final));
  return `.${randomBytes(length)
    .toString('hex')
    .slice(0, length - 1)}`;
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
