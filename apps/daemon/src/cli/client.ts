// SPDX-License-Identifier: AGPL-3.0-only
import { lstatSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  connectIpc,
  isIpcError,
  type ApproveHandle,
  type ApproveOptions,
  type AuditExportResult,
  type AuditVerifyResult,
  type IpcClient,
  type InitResult,
  type RequestParams,
  type SecretMeta,
  type SecretsImportResult,
  type SecretsSetResult,
  type StatusResult,
  type UnlockResult,
} from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import { CrError } from '../shared/errors.ts';
import { fromWire } from './wire-errors.ts';
import { startDetachedService, type ServiceSettings } from './launcher.ts';
import { EXIT_NOT_OWNER, ownerPid } from '../shared/owner-lock.ts';
import { serviceSocketPath } from '../shared/paths.ts';
import { DEFAULT_IDLE_TIMEOUT_MS } from '../shared/duration.ts';
import { VERSION } from '../shared/version.ts';

const translate = fromWire;

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
  /** `acceptVault`: adopt a vault file the audit log does not vouch for (audited). */
  unlock(passphrase: SecretBuf, options?: RequestParams['unlock']): Promise<UnlockResult>;
  /** Create the vault through the service that owns the home. */
  init(passphrase: SecretBuf, by: 'cli' | 'tui'): Promise<InitResult>;
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
    unlock: (passphrase, options = {}) =>
      call(() => client.request('unlock', options, { parts: [passphrase] })),
    init: (passphrase, by) => call(() => client.request('init', { by }, { parts: [passphrase] })),
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

/**
 * Connect to the service that owns the vault in `home`, after `@cora/ipc` checked the
 * socket's directory, owner and the server's peer uid (G5).
 * @param home - the Cora home (the socket is found from it, never from the environment)
 * @returns the service, or null when none runs
 * @throws CrError `REFUSED` (impostor or refused), `UNSAFE_PATH`, `UNAVAILABLE`.
 */
export async function connectService(home: string): Promise<Service | null> {
  const path = serviceSocketPath(home);
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
 * Connect to the service of `settings.home`, starting it (detached, locked) when none runs,
 * and wait up to `waitMs` for it to listen. Two CLIs that start one at the same moment end
 * with one service: the other exits at once, having written nothing (owner-lock.ts).
 * @param settings - used only when the service has to be started
 * @param options - `startIfMissing` (default true), `waitMs` (default 10 s)
 * @returns the service and whether this call started it
 * @throws CrError `UNAVAILABLE` when it does not come up in time.
 */
export async function ensureService(
  settings: ServiceSettings,
  options: { startIfMissing?: boolean; waitMs?: number } = {},
): Promise<{ service: Service; started: boolean }> {
  const existing = await connectService(settings.home);
  if (existing !== null) return { service: existing, started: false };
  let started = false;
  let exitCode: number | null | undefined;
  if ((options.startIfMissing ?? true) && ownerPid(settings.home) === null) {
    void startDetachedService(settings).exited.then((code) => {
      exitCode = code;
    });
    started = true;
  }
  const waitMs = options.waitMs ?? 10_000;
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const service = await connectService(settings.home);
    if (service !== null) return { service, started };
    // It exited without listening (e.g. it refused to start): say why now, not in 10 s.
    // EXIT_NOT_OWNER is another service that owns the vault: keep trying to connect to it.
    if (exitCode !== undefined && exitCode !== EXIT_NOT_OWNER) {
      const why = lastLogLine(settings.home);
      throw new CrError(
        'UNAVAILABLE',
        `the service did not start${why === null ? '' : `: ${why}`} (see ${settings.home}/service.log)`,
      );
    }
  }
  const owner = ownerPid(settings.home);
  throw new CrError(
    'UNAVAILABLE',
    owner === null
      ? `the service did not start listening on ${serviceSocketPath(settings.home)} within ${String(waitMs)} ms; see ${settings.home}/service.log`
      : `the service of this vault (pid ${String(owner)}) does not answer on ${serviceSocketPath(settings.home)}; stop it (kill ${String(owner)}) and retry`,
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

/**
 * Run `fn` with the service of `home` (started locked when none runs), then close the connection.
 * @param home - the Cora home
 * @param fn - what to do with the service
 * @returns what `fn` returns
 */
export async function withService<T>(home: string, fn: (service: Service) => Promise<T>): Promise<T> {
  const { service } = await ensureService({ home, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, lifetimeMs: 0 });
  try {
    return await fn(service);
  } finally {
    service.close();
  }
}
