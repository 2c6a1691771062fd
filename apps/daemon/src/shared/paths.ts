// SPDX-License-Identifier: AGPL-3.0-only
import { existsSync, lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { windowsPipePath } from '@cora/ipc';
import { CrError } from './errors.ts';
import { ensurePrivateDirWin32, windowsVaultHome } from './win32-acl.ts';
import { userSid } from './win32-user.ts';

/** File name of the vault inside the Cora home (architecture §4). */
const VAULT_FILE = 'vault.cora';

/**
 * The Cora home: `$CORA_HOME`, else `~/.cora` (architecture §11); on Windows `%LOCALAPPDATA%\Cora`
 * (a per-user, non-roaming folder). Not created here.
 * @param env - the environment to read (default `process.env`)
 * @returns an absolute path
 * @throws CrError `USAGE` on Windows when neither CORA_HOME nor LOCALAPPDATA is set.
 */
export function coraHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['CORA_HOME'];
  if (fromEnv !== undefined && fromEnv !== '') {
    return isAbsolute(fromEnv) ? fromEnv : resolve(fromEnv);
  }
  if (process.platform === 'win32') {
    const home = windowsVaultHome(env);
    if (home === undefined) throw new CrError('USAGE', 'neither CORA_HOME nor LOCALAPPDATA is set');
    return home;
  }
  return join(env['HOME'] ?? homedir(), '.cora');
}

/**
 * The vault file inside `home`.
 * @param home - the Cora home
 * @returns `<home>/vault.cora`
 */
export function vaultPath(home: string): string {
  return join(home, VAULT_FILE);
}

/**
 * Create the Cora home (0700) if missing and check it is private: a directory (not a symlink)
 * owned by this uid with no group or other permissions. crypto-format checks only the vault's
 * last path component; the directory is ours to check (crypto-format README, Not guaranteed).
 *
 * @param home - the Cora home
 * @param create - create it when missing (default true)
 * @throws CrError `UNSAFE_PATH` when it is not a private directory of ours, `NO_VAULT` when
 *   `create` is false and it does not exist.
 */
export function ensurePrivateDir(home: string, create = true): void {
  if (process.platform === 'win32') {
    ensurePrivateDirWindows(home, create);
    return;
  }
  if (create) mkdirSync(home, { recursive: true, mode: 0o700 });
  let st;
  try {
    st = lstatSync(home);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CrError('NO_VAULT', `${home} does not exist; run 'cr init' first`);
    }
    throw error;
  }
  if (!st.isDirectory()) {
    throw new CrError(
      'UNSAFE_PATH',
      `${home} is not a directory (a symlink is refused); remove it or set CORA_HOME`,
    );
  }
  const uid = process.getuid?.() ?? -1;
  if (st.uid !== uid) {
    throw new CrError(
      'UNSAFE_PATH',
      `${home} belongs to uid ${String(st.uid)}, not to you (uid ${String(uid)})`,
    );
  }
  if ((st.mode & 0o077) !== 0) {
    throw new CrError(
      'UNSAFE_PATH',
      `${home} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); run 'chmod 700 ${home}'`,
    );
  }
}

/** Windows: no uid or mode bits; the home's DACL is the user's alone (win32-acl.ts). */
function ensurePrivateDirWindows(home: string, create: boolean): void {
  if (!create && !existsSync(home)) {
    throw new CrError('NO_VAULT', `${home} does not exist; run 'cr init' first`);
  }
  // A junction or symlink shows as a link to lstat: refused like a symlinked home on Linux.
  if (existsSync(home) && !lstatSync(home).isDirectory()) {
    throw new CrError(
      'UNSAFE_PATH',
      `${home} is not a directory (a link is refused); remove it or set CORA_HOME`,
    );
  }
  try {
    ensurePrivateDirWin32(home, userSid());
  } catch (error) {
    throw new CrError('UNSAFE_PATH', error instanceof Error ? error.message : String(error));
  }
}

/**
 * Longest path a Unix socket address holds: `sun_path` is 108 bytes with the NUL on Linux,
 * 104 on macOS (`<sys/un.h>`).
 * @param platform - a `process.platform` value
 * @returns the limit in bytes, without the NUL
 */
export function maxSocketPathBytes(platform: NodeJS.Platform): number {
  return platform === 'darwin' ? 103 : 107;
}

const MAX_SOCKET_PATH_BYTES = maxSocketPathBytes(process.platform);

/**
 * The socket of the service that owns the vault in `home`: `<home>/run/cora.sock`. It is a
 * function of the home alone, never of XDG_RUNTIME_DIR or whether CORA_HOME was spelled out,
 * so every shell that names the same vault reaches the same service (owner-lock.ts). On Windows
 * the named pipe of the user and the home (`\\.\pipe\cora-<SID>-<vault id>`, @cora/ipc), from
 * the home's resolved path so that every spelling of it names one pipe.
 *
 * @param home - the Cora home
 * @returns an absolute path
 * @throws CrError `USAGE` when the home's path is too long for a socket address.
 */
export function serviceSocketPath(home: string): string {
  if (process.platform === 'win32') return windowsPipePath(userSid(), canonicalHome(home));
  const path = join(home, 'run', 'cora.sock');
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new CrError(
      'USAGE',
      `the Cora home ${home} is too long for its socket (${path} is over ${String(MAX_SOCKET_PATH_BYTES)} bytes); use a shorter CORA_HOME`,
    );
  }
  return path;
}

/** The home's real path when it exists (Windows: links, 8.3 names and case resolved). */
function canonicalHome(home: string): string {
  try {
    return realpathSync.native(home);
  } catch {
    return resolve(home);
  }
}

/**
 * The vault of `home`, which must exist (every command but `init`) in a private home.
 * @param home - the Cora home
 * @returns the vault's path
 * @throws CrError `NO_VAULT`, `UNSAFE_PATH`.
 */
export function requireVault(home: string): string {
  const path = vaultPath(home);
  if (!existsSync(path)) throw new CrError('NO_VAULT', `there is no vault at ${path}; run 'cr init' first`);
  ensurePrivateDir(home, false);
  return path;
}
