// SPDX-License-Identifier: AGPL-3.0-only
import { spawn, type StdioOptions } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect } from 'vitest';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { APP_DIR } from './helpers.ts';

/** The launcher every e2e test drives: the real `bin/cr` running the built `dist/cli.js`. */
export const CR = join(APP_DIR, 'bin', 'cr');

/** Fail early and clearly when the CLI was not built (tooling/test.sh builds first). */
export function requireBuild(): void {
  if (!existsSync(join(APP_DIR, 'dist', 'cli.js')) || !existsSync(join(APP_DIR, 'dist', 'service-main.js'))) {
    throw new Error('apps/daemon/dist is missing: run `pnpm run build` before the e2e tests');
  }
}

/** Result of one `cr` run. */
export interface CrResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A private Cora home for one test, and the environment that points `cr` at it. */
export interface CoraHome {
  readonly dir: TempDir;
  readonly env: NodeJS.ProcessEnv;
  readonly passFile: string;
  /** Write a 0600 passphrase file and return its path. */
  writePassFile(name: string, content: string): string;
  /** Run `cr` with these arguments. */
  cr(args: readonly string[], options?: CrOptions): Promise<CrResult>;
  /** SIGTERM the service if one runs, and wait for it to go. */
  stopService(): Promise<void>;
}

/** Options of one `cr` run. */
export interface CrOptions {
  readonly input?: string | Uint8Array;
  /** Bytes written to descriptor 3 of the child (for `--passphrase-fd 3`). */
  readonly fd3?: string;
  /** Run as this uid/gid through setpriv (root only). */
  readonly asUid?: number;
}

/** Create a home with a vault passphrase file; `owner` chowns it (root only). */
export async function makeCoraHome(passphrase: string, owner?: number): Promise<CoraHome> {
  const dir = await makeTempDir('cora-e2e-');
  const run = join(dir.path, 'run');
  mkdirSync(run, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir.path,
    CORA_HOME: join(dir.path, '.cora'),
    XDG_RUNTIME_DIR: run,
    CORA_NODE: process.execPath,
  };
  delete env['NODE_OPTIONS'];
  const writePassFile = (name: string, content: string): string => {
    const path = join(dir.path, name);
    writeFileSync(path, content, { mode: 0o600 });
    chmodSync(path, 0o600);
    if (owner !== undefined) chownSync(path, owner, owner);
    return path;
  };
  if (owner !== undefined) {
    chownSync(dir.path, owner, owner);
    chownSync(run, owner, owner);
  }
  const passFile = writePassFile('pass', `${passphrase}\n`);
  const home: CoraHome = {
    dir,
    env,
    passFile,
    writePassFile,
    cr: (args, options = {}) => runCr(args, env, options),
    stopService: async () => {
      const status = await runCr(['status', '--json'], env, owner === undefined ? {} : { asUid: owner });
      const pid = (JSON.parse(status.stdout || '{}') as { pid?: number | null }).pid;
      if (typeof pid === 'number') await killAndWait(pid, 'SIGTERM');
    },
  };
  return home;
}

/** Send `signal` to `pid` and wait until it is gone (SIGKILL after 3 s). */
export async function killAndWait(pid: number, signal: NodeJS.Signals): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Run bin/cr to completion. */
export function runCr(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: CrOptions = {},
): Promise<CrResult> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions =
      options.fd3 === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe'];
    const [command, argv] =
      options.asUid === undefined
        ? [CR, [...args]]
        : [
            'setpriv',
            [
              `--reuid=${String(options.asUid)}`,
              `--regid=${String(options.asUid)}`,
              '--clear-groups',
              CR,
              ...args,
            ],
          ];
    const child = spawn(command, argv, { env, stdio, cwd: env['HOME'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (options.fd3 !== undefined) {
      const fd3 = child.stdio[3] as NodeJS.WritableStream;
      fd3.end(options.fd3);
    }
    child.stdin?.end(options.input ?? '');
  });
}

/** Parse `cr status --json`. */
export interface StatusJson {
  state: 'locked' | 'unlocked';
  secrets: number;
  pid: number | null;
  socket: string;
  idleDeadline: string | null;
  version: string;
  running: boolean;
}

export async function status(home: CoraHome, asUid?: number): Promise<StatusJson> {
  const result = await home.cr(['status', '--json'], asUid === undefined ? {} : { asUid });
  if (result.code !== 0) throw new Error(`cr status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusJson;
}

/**
 * The e2e set-up of a test file: check the build first, and stop the service of (and remove)
 * every home made through the returned function after each test.
 * @param passphrase - the vault passphrase written to each home's `passFile`
 * @returns makes a home; `owner` chowns it (root only), `env` is added to its environment,
 *   `passphrase` replaces the file's default
 */
export function useCoraHomes(
  passphrase: string,
): (options?: { owner?: number; env?: NodeJS.ProcessEnv; passphrase?: string }) => Promise<CoraHome> {
  const homes: CoraHome[] = [];
  beforeAll(() => {
    requireBuild();
  });
  afterEach(async () => {
    for (const home of homes.splice(0)) {
      await home.stopService();
      await home.dir.remove();
    }
  });
  return async (options = {}) => {
    const home = await makeCoraHome(options.passphrase ?? passphrase, options.owner);
    Object.assign(home.env, options.env ?? {});
    homes.push(home);
    return home;
  };
}

/**
 * Make `home` a vault that is unlocked, holds `secret` = `value`, and has `task` running with it
 * under the extra `policy task add` arguments (`--target …`).
 * @returns what `cr policy task add` printed and its exit code
 */
export async function withTask(
  home: CoraHome,
  options: {
    readonly secret: string;
    readonly value: string;
    readonly task: string;
    readonly args: readonly string[];
  },
): Promise<CrResult> {
  const pass = ['--passphrase-file', home.passFile];
  expect((await home.cr(['init', ...pass])).code).toBe(0);
  expect((await home.cr(['unlock', ...pass])).code).toBe(0);
  const set = await home.cr(['secrets', 'set', options.secret, ...pass], { input: options.value });
  expect(set.code).toBe(0);
  return await home.cr(['policy', 'task', 'add', options.task, options.secret, ...options.args, ...pass]);
}

/**
 * `cr policy task add` output minus the warning that `--allow-interpreter` accepts (tests run
 * `sh` as a target): what is left must be empty.
 */
export function withoutInterpreterWarnings(stderr: string): string {
  return stderr.replace(/^warning: \S+ runs whatever code its caller passes.*\n/gm, '');
}

/**
 * Make `home` a vault that is unlocked, holds `TOKEN`, and has a task `t` running `target`
 * with `TOKEN` under `--approve approve` (the approvals tests' starting point).
 * @param home - a fresh home
 * @param target - the task's target (an absolute path)
 * @param approve - `once`, `session`, `window:1m`…
 * @returns `home`
 */
export async function withApprovalTask(home: CoraHome, target: string, approve: string): Promise<CoraHome> {
  const add = await withTask(home, {
    secret: 'TOKEN',
    value: 'approve-me-0123456789',
    task: 't',
    args: ['--target', target, '--allow-interpreter', '--approve', approve],
  });
  expect(withoutInterpreterWarnings(add.stderr)).toBe('');
  expect(add.code).toBe(0);
  return home;
}
