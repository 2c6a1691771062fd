// SPDX-License-Identifier: AGPL-3.0-only
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AuditLog } from '@cora/audit';
import { createVault } from '@cora/crypto-format';
import { SecretBuf } from '@cora/memstore';
import { ServiceAudit } from '../src/service/audit.ts';
import { VaultHistory } from '../src/service/vault-history.ts';

/** The package root (apps/daemon). */
export const APP_DIR = fileURLToPath(new URL('..', import.meta.url));

/**
 * Write a Node script at `path` that connects to the service's socket (its first argument)
 * through the built `@cora/ipc`, as a program that is not `cr` would, then runs `body` with
 * `client` in scope (a caller the tests admit by policy, or expect refused).
 * @param path - where to write it
 * @param body - the script's lines after the connection
 */
export function writeIpcClientScript(path: string, body: readonly string[]): void {
  const ipc = pathToFileURL(realpathSync(join(APP_DIR, 'node_modules', '@cora', 'ipc', 'dist', 'index.js')));
  writeFileSync(
    path,
    [
      `const { connectIpc } = await import(${JSON.stringify(ipc.href)});`,
      'const client = await connectIpc({ socketPath: process.argv[2] });',
      ...body,
    ].join('\n'),
  );
}

/** Node flags for a child that imports this package's TypeScript sources. */
export const SOURCE_FLAGS = ['--conditions=cora-source', '--no-warnings'];

/** A SecretBuf holding `text` (tests only: test inputs are not secrets). */
export function secret(text: string | Uint8Array): SecretBuf {
  return SecretBuf.fromAndWipe(typeof text === 'string' ? Buffer.from(text) : Uint8Array.from(text));
}

/** The bytes of a SecretBuf as a Buffer copy (tests only). */
export function reveal(buf: SecretBuf): Buffer {
  return buf.use((bytes) => Buffer.from(bytes));
}

/** A real audit log in `dir` and the vault history over it, as the service opens them. */
export async function openHistory(
  dir: string,
  vaultPath: string,
): Promise<{ history: VaultHistory; log: AuditLog }> {
  const log = await AuditLog.open({ dir, fsync: false });
  const history = await VaultHistory.open(new ServiceAudit(log, () => undefined), dir, vaultPath);
  return { history, log };
}

/** Create an empty vault at `path` under `passphrase` at the KDF floor. */
export async function makeVault(path: string, passphrase: string): Promise<void> {
  const pass = secret(passphrase);
  const auditKey = SecretBuf.random(32);
  try {
    await createVault(path, { entries: [], auditKey, json: Buffer.from('{"policy":{},"meta":{}}') }, pass);
  } finally {
    pass.wipe();
    auditKey.wipe();
  }
}

/** Result of {@link runNode}. */
export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run `node <flags> -e|script` to completion with optional stdin bytes.
 */
export function runNode(
  args: readonly string[],
  options: { input?: Uint8Array | string; env?: NodeJS.ProcessEnv; detached?: boolean; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [...args], {
      env: options.env ?? process.env,
      cwd: options.cwd ?? APP_DIR,
      detached: options.detached ?? false,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin?.end(options.input ?? '');
  });
}
