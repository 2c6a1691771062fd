// SPDX-License-Identifier: AGPL-3.0-only
import { lstatSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  connectIpc,
  isIpcError,
  socketPath,
  type ApproveHandle,
  type ApproveOptions,
  type AuditExportResult,
  type AuditVerifyResult,
  type IpcClient,
  type IpcErrorCode,
  type SecretMeta,
  type SecretsImportResult,
  type SecretsSetResult,
  type StatusResult,
  type UnlockResult,
} from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import { CrError, type CrErrorCode } from './errors.ts';
import { startDetachedService, type ServiceSettings } from './launcher.ts';
import { VERSION } from './version.ts';

/** IPC error codes as CLI error codes (and so exit codes). */
const FROM_IPC: Partial<Record<IpcErrorCode, CrErrorCode>> = {
  AUTH_FAILED: 'AUTH_FAILED',
  LOCKED: 'LOCKED',
  NOT_FOUND: 'NOT_FOUND',
  INVALID_NAME: 'INVALID_NAME',
  TOO_LARGE: 'TOO_LARGE',
  NO_VAULT: 'NO_VAULT',
  VAULT_EXISTS: 'VAULT_EXISTS',
  NOT_ALLOWED: 'REFUSED',
  UNTRUSTED_SERVER: 'REFUSED',
  UNSAFE_SOCKET: 'REFUSED',
  UNSAFE_SOCKET_DIR: 'UNSAFE_PATH',
  NOT_RUNNING: 'UNAVAILABLE',
  CONNECTION_CLOSED: 'UNAVAILABLE',
  TIMEOUT: 'UNAVAILABLE',
  BUSY: 'UNAVAILABLE',
  RATE_LIMITED: 'UNAVAILABLE',
  BAD_REQUEST: 'INVALID_INPUT',
  AUDIT_UNAVAILABLE: 'AUDIT_UNAVAILABLE',
  DENIED: 'DENIED',
};

/** Extra advice after the service's own message. */
const HINT: Partial<Record<IpcErrorCode, string>> = {
  AUTH_FAILED: 'nothing was changed; try again',
  NOT_ALLOWED: 'the service only talks to this installation’s cr',
  UNTRUSTED_SERVER: 'something other than your Cora service holds the socket; stop it and retry',
  UNSAFE_SOCKET: 'something other than your Cora service holds the socket path; remove it and retry',
};

function translate(error: unknown): unknown {
  if (!isIpcError(error)) return error;
  const code = FROM_IPC[error.code] ?? 'INTERNAL';
  const hint = HINT[error.code];
  return new CrError(code, hint === undefined ? error.message : `${error.message} (${hint})`, {
    cause: error,
  });
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw translate(error);
  }
}

/** The service as the CLI uses it: one typed method per request, CLI error codes. */
export interface Service {
  status(): Promise<StatusResult>;
  unlock(passphrase: SecretBuf): Promise<UnlockResult>;
  lock(): Promise<void>;
  list(): Promise<readonly SecretMeta[]>;
  set(name: string, value: SecretBuf, passphrase: SecretBuf): Promise<SecretsSetResult>;
  delete(name: string, passphrase: SecretBuf): Promise<void>;
  import(
    names: readonly string[],
    values: readonly SecretBuf[],
    passphrase: SecretBuf,
  ): Promise<SecretsImportResult>;
  passwd(current: SecretBuf, next: SecretBuf): Promise<void>;
  /** Become an approver (DESIGN §7); errors of `done` are CLI errors. */
  approve(passphrase: SecretBuf, options: ApproveOptions): ApproveHandle;
  auditVerify(): Promise<AuditVerifyResult>;
  /** Stream the signed export, one record line per call of `onLine`. */
  auditExport(onLine: (line: string) => void): Promise<AuditExportResult>;
  close(): void;
}

function wrap(client: IpcClient): Service {
  return {
    status: () => call(() => client.request('status', {})),
    unlock: (passphrase) => call(() => client.request('unlock', {}, { parts: [passphrase] })),
    lock: () =>
      call(async () => {
        await client.request('lock', {});
      }),
    list: () => call(() => client.request('secrets.list', {})),
    set: (name, value, passphrase) =>
      call(() => client.request('secrets.set', { name }, { parts: [passphrase, value] })),
    delete: (name, passphrase) =>
      call(async () => {
        await client.request('secrets.delete', { name }, { parts: [passphrase] });
      }),
    import: (names, values, passphrase) =>
      call(() => client.request('secrets.import', { names }, { parts: [passphrase, ...values] })),
    passwd: (current, next) =>
      call(async () => {
        await client.request('passwd', {}, { parts: [current, next] });
      }),
    approve: (passphrase, options) => {
      const handle = client.approve(passphrase, options);
      return { ...handle, done: call(() => handle.done) };
    },
    auditVerify: () => call(() => client.request('audit.verify', {})),
    auditExport: (onLine) =>
      call(() =>
        client.request(
          'audit.export',
          {},
          {
            onEvent: (event) => {
              const line = (event.data as { line?: unknown } | undefined)?.line;
              if (event.event === 'line' && typeof line === 'string') onLine(line);
            },
          },
        ),
      ),
    close: () => {
      client.close();
    },
  };
}

/** The socket the service listens on (`@cora/ipc`, DESIGN §5). */
export function serviceSocketPath(): string {
  return socketPath();
}

/**
 * Connect to the running service, after `@cora/ipc` checked the socket's directory, owner and
 * the server's peer uid (G5).
 * @param path - the socket path
 * @returns the service, or null when none runs
 * @throws CrError `REFUSED` (impostor or refused), `UNSAFE_PATH`, `UNAVAILABLE`.
 */
export async function connectService(path: string): Promise<Service | null> {
  try {
    lstatSync(dirname(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return wrap(await connectIpc({ socketPath: path, clientName: `cr/${VERSION}` }));
  } catch (error) {
    if (isIpcError(error, 'NOT_RUNNING')) return null;
    throw translate(error);
  }
}

/**
 * Connect to the service, starting it (detached, locked) when none runs, and wait up to
 * `waitMs` for its socket.
 * @param settings - used only when the service has to be started
 * @param options - `startIfMissing` (default true), `waitMs` (default 10 s)
 * @returns the service and whether this call started it
 * @throws CrError `UNAVAILABLE` when it does not come up in time.
 */
export async function ensureService(
  settings: ServiceSettings,
  options: { startIfMissing?: boolean; waitMs?: number } = {},
): Promise<{ service: Service; started: boolean }> {
  const path = serviceSocketPath();
  const existing = await connectService(path);
  if (existing !== null) return { service: existing, started: false };
  let started = false;
  let exitCode: number | null | undefined;
  if (options.startIfMissing ?? true) {
    void startDetachedService(settings).exited.then((code) => {
      exitCode = code;
    });
    started = true;
  }
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const service = await connectService(path);
    if (service !== null) return { service, started };
    // It exited without listening (e.g. it refused to start): say why now, not in 10 s. Exit
    // code 0 is another service that won the race to the socket: keep trying to connect.
    if (exitCode !== undefined && exitCode !== 0) {
      const why = lastLogLine(settings.home);
      throw new CrError(
        'UNAVAILABLE',
        `the service did not start${why === null ? '' : `: ${why}`} (see ${settings.home}/service.log)`,
      );
    }
  }
  throw new CrError(
    'UNAVAILABLE',
    `the service did not start listening on ${path} within ${String(options.waitMs ?? 10_000)} ms; see ${settings.home}/service.log`,
  );
}

/** The message of the last line of the service log (it never holds a secret), or null. */
function lastLogLine(home: string): string | null {
  try {
    const lines = readFileSync(join(home, 'service.log'), 'utf8').trimEnd().split('\n');
    const last = lines.at(-1) ?? '';
    // "<time> cora-service[pid]: <message>"
    const at = last.indexOf(']: ');
    return at < 0 ? null : last.slice(at + 3);
  } catch {
    return null;
  }
}
