// SPDX-License-Identifier: AGPL-3.0-only
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private temporary directory; `remove()` (or `await using`) deletes it recursively. */
export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A temporary HOME for one test: the directory and an environment that points at it. */
export interface TempHome {
  readonly path: string;
  /** `process.env` with `HOME` (and `XDG_*` dirs) set to the temp directory, for children. */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Create a fresh directory under the OS temp dir with mode 0700.
 *
 * @param prefix - name prefix, e.g. `cora-vault-`
 * @returns the directory and a way to remove it
 * @example
 * ```ts
 * await using dir = await makeTempDir('cora-');
 * ```
 */
export async function makeTempDir(prefix = 'cora-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  await chmod(path, 0o700);
  const remove = async (): Promise<void> => {
    await rm(path, { recursive: true, force: true });
  };
  return { path, remove, [Symbol.asyncDispose]: remove };
}

/**
 * Run `fn` with a private 0700 temp HOME, then remove it (also when `fn` throws).
 * `process.env` of the test process is not changed; hand `home.env` to child processes.
 *
 * @param fn - receives the temp home
 * @returns what `fn` returns
 * @example
 * ```ts
 * await withTempHome(async (home) => {
 *   spawnSync('cr', ['init'], { env: home.env });
 * });
 * ```
 */
export async function withTempHome<T>(fn: (home: TempHome) => T | Promise<T>): Promise<T> {
  const dir = await makeTempDir('cora-home-');
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: dir.path,
      XDG_CONFIG_HOME: join(dir.path, '.config'),
      XDG_RUNTIME_DIR: dir.path,
      XDG_STATE_HOME: join(dir.path, '.local', 'state'),
    };
    return await fn({ path: dir.path, env });
  } finally {
    await dir.remove();
  }
}
