// SPDX-License-Identifier: AGPL-3.0-only
import { lstat, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { IpcError } from './errors.ts';

/**
 * The service's socket path (architecture §5): `<home>/run/cora.sock`, where the home is
 * `$CORA_HOME` when set and not empty, else `$HOME/.cora` (the OS's home directory when `HOME`
 * is unset). It depends on the home alone, never on `XDG_RUNTIME_DIR`: one vault has one
 * service, and every shell that names the same home finds it (SECURITY.md, "One owner per vault").
 *
 * @param env - the environment to read (default `process.env`)
 * @returns the path; absolute unless `CORA_HOME` or `HOME` holds a relative one
 * @example
 * ```ts
 * socketPath({ CORA_HOME: '/srv/cora', XDG_RUNTIME_DIR: '/run/user/1000' }); // '/srv/cora/run/cora.sock'
 * socketPath({ XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/me' }); // '/home/me/.cora/run/cora.sock'
 * ```
 */
export function socketPath(env: NodeJS.ProcessEnv = process.env): string {
  const coraHome = env['CORA_HOME'];
  // A moved home (CORA_HOME) is a separate vault with its own service. A path that followed
  // XDG_RUNTIME_DIR would differ between shells (cron, su, ssh) and miss the vault's service.
  if (coraHome !== undefined && coraHome !== '') return join(coraHome, 'run', 'cora.sock');
  return join(env['HOME'] ?? homedir(), '.cora', 'run', 'cora.sock');
}

/** Our effective uid (`process.geteuid`; Linux and macOS). */
export function ownUid(): number {
  if (typeof process.geteuid !== 'function') {
    throw new IpcError('UNSAFE_SOCKET_DIR', 'this platform has no uids; Unix sockets are not supported here');
  }
  return process.geteuid();
}

/**
 * Check that `dir` is a real directory (not a symlink), owned by `uid`, mode exactly 0700.
 * @throws IpcError `UNSAFE_SOCKET_DIR` otherwise (or when it does not exist).
 */
export async function checkPrivateDir(dir: string, uid: number): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    throw new IpcError('UNSAFE_SOCKET_DIR', `cannot inspect the socket directory ${dir}`, { cause: error });
  }
  if (st.isSymbolicLink())
    throw new IpcError('UNSAFE_SOCKET_DIR', `the socket directory ${dir} is a symlink`);
  if (!st.isDirectory()) throw new IpcError('UNSAFE_SOCKET_DIR', `${dir} is not a directory`);
  if (st.uid !== uid) {
    throw new IpcError(
      'UNSAFE_SOCKET_DIR',
      `the socket directory ${dir} is owned by uid ${st.uid}, not ${uid}`,
    );
  }
  if ((st.mode & 0o777) !== 0o700) {
    throw new IpcError(
      'UNSAFE_SOCKET_DIR',
      `the socket directory ${dir} has mode ${(st.mode & 0o777).toString(8)}, not 700 (fix: chmod 700 ${dir})`,
    );
  }
}

/**
 * Create the socket's directory (and missing parents) with mode 0700, then check it.
 * An existing directory is never chmod-ed: a wider mode or another owner is refused.
 * @throws IpcError `UNSAFE_SOCKET_DIR`.
 */
export async function ensureSocketDir(path: string, uid: number): Promise<string> {
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new IpcError('UNSAFE_SOCKET_DIR', `cannot create the socket directory ${dir}`, { cause: error });
  }
  await checkPrivateDir(dir, uid);
  return dir;
}
