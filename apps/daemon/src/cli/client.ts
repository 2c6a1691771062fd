// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The one client of the service: every `cr` command and `cr tui` talk to it through
 * {@link Service}, one typed method per `@cora/ipc` request, with every error mapped once
 * through `wire-errors.ts`. A new request type touches the protocol, its handler and this
 * file. `cr exec` loads this module: keep it to `@cora/ipc` and the shared basics (starting
 * a service lives in `launcher.ts`).
 */
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  connectIpc,
  isIpcError,
  type ApproveHandle,
  type ApproveOptions,
  type AuditExportResult,
  type ExecHandle,
  type ExecOptions,
  type ExecParams,
  type IpcClient,
  type InitResult,
  type PolicyVerifyResult,
  type RequestParams,
  type UnlockResult,
} from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
// Types only (erased): the TUI states what it needs, this client provides it.
import type { TuiService } from '@cora/tui';
import { CrError } from '../shared/errors.ts';
import { serviceSocketPath } from '../shared/paths.ts';
import { VERSION } from '../shared/version.ts';
import type { PolicyWriteOptions } from '../shared/policy-checks.ts';
import { notOurService, notOurServiceWin32 } from './service-check.ts';
import { fromWire } from './wire-errors.ts';

/**
 * The service as `cr` and `cr tui` use it: the TUI's {@link TuiService} plus what only the
 * CLI sends. Every rejection is a `CrError` (exit code and message from the one table).
 */
export interface Service extends TuiService {
  /** `acceptVault`: adopt a vault file the audit log does not vouch for (audited). */
  unlock(passphrase: SecretBuf, options?: RequestParams['unlock']): Promise<UnlockResult>;
  /** Create the vault through the service that owns the home. */
  init(passphrase: SecretBuf, by: 'cli' | 'tui'): Promise<InitResult>;
  passwd(current: SecretBuf, next: SecretBuf): Promise<void>;
  /** `force`: delete a secret that tasks use (refused with `IN_USE` otherwise). */
  deleteSecret(name: string, passphrase: SecretBuf, options?: { readonly force?: boolean }): Promise<void>;
  /** `options`: accept task secrets the vault does not hold yet, targets that run any code. */
  setPolicy(policy: unknown, passphrase: SecretBuf, options?: PolicyWriteOptions): Promise<void>;
  /** Become an approver (architecture §7); errors of `done` are CLI errors. */
  approve(passphrase: SecretBuf, options: ApproveOptions): ApproveHandle;
  /** Run a task (architecture §8); errors of `done` are CLI errors. */
  exec(params: ExecParams, options: ExecOptions): ExecHandle;
  /** Back-pressure: stop reading replies and events until {@link Service.resumeReading}. */
  pauseReading(): void;
  resumeReading(): void;
  /** What the service would decide for the process holding `pid` as a caller (`cr verify`). */
  verifyPid(pid: number): Promise<PolicyVerifyResult>;
  /** Stream the signed export, one record line per call of `onLine`. */
  exportAudit(onLine: (line: string) => void): Promise<AuditExportResult>;
  /** Lock, then end the service (`cr stop`); the exit may cut the reply off. */
  stop(): Promise<void>;
}

/** `fn`, its rejection mapped to the CLI's error (wire-errors.ts). */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw fromWire(error);
  }
}

function wrap(client: IpcClient): Service {
  return {
    get closed(): boolean {
      return client.closed;
    },
    status: () => call(() => client.request('status', {})),
    unlock: (passphrase, options = {}) =>
      call(() => client.request('unlock', options, { parts: [passphrase] })),
    init: (passphrase, by) => call(() => client.request('init', { by }, { parts: [passphrase] })),
    lock: () =>
      call(async () => {
        await client.request('lock', {});
      }),
    stop: () =>
      call(async () => {
        await client.request('lock', { stop: true });
      }),
    listSecrets: () => call(() => client.request('secrets.list', {})),
    setSecret: (name, value, passphrase) =>
      call(() => client.request('secrets.set', { name }, { parts: [passphrase, value] })),
    deleteSecret: (name, passphrase, options = {}) =>
      call(async () => {
        await client.request('secrets.delete', { name, ...options }, { parts: [passphrase] });
      }),
    importSecrets: (names, values, passphrase) =>
      call(() => client.request('secrets.import', { names }, { parts: [passphrase, ...values] })),
    passwd: (current, next) =>
      call(async () => {
        await client.request('passwd', {}, { parts: [current, next] });
      }),
    getPolicy: () => call(async () => (await client.request('policy.get', {})).policy),
    setPolicy: (policy, passphrase, options = {}) =>
      call(async () => {
        await client.request('policy.set', { policy, ...options }, { parts: [passphrase] });
      }),
    explain: (task, argv, as = {}) => call(() => client.request('policy.explain', { task, argv, ...as })),
    verifyPid: (pid) => call(() => client.request('policy.verify', { pid })),
    approve: (passphrase, options) => {
      const handle = client.approve(passphrase, options);
      return { ...handle, done: call(() => handle.done) };
    },
    exec: (params, options) => {
      const handle = client.exec(params, options);
      return { ...handle, done: call(() => handle.done) };
    },
    pauseReading: () => {
      client.pauseReading();
    },
    resumeReading: () => {
      client.resumeReading();
    },
    verifyAudit: () => call(() => client.request('audit.verify', {})),
    listGrants: () => call(() => client.request('grants.list', {})),
    revokeGrants: (which) => call(() => client.request('grants.revoke', which)),
    exportAudit: (onLine) =>
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
 * How long `cr` waits to connect and be greeted. Generous on purpose: on a loaded machine
 * (a hundred `cr` processes on two cores) a live service can take seconds to greet, and
 * giving up then fails a command that would have run; only a wedged service takes longer.
 */
const HELLO_TIMEOUT_MS = 30_000;

/**
 * Connect to the service that owns the vault in `home`, after `@cora/ipc` checked the
 * socket's directory, owner and the server's peer uid (G5).
 * @param home - the Cora home (the socket is found from it, never from the environment)
 * @param options - `noSecrets`: the command sends no passphrase and no value (status, exec):
 *   skip the kernel's peer check and the impostor check (no FFI to load, a faster start); the
 *   socket directory and socket checks still hold, and the connection refuses attachments
 * @returns the service, or null when none runs
 * @throws CrError `REFUSED` (impostor or refused), `UNSAFE_PATH`, `UNAVAILABLE`.
 */
export async function connectService(
  home: string,
  options: { readonly noSecrets?: boolean } = {},
): Promise<Service | null> {
  const path = serviceSocketPath(home);
  // No run directory, no service (a quick answer before any FFI). Windows pipes have none.
  if (process.platform !== 'win32') {
    try {
      lstatSync(dirname(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }
  try {
    return wrap(
      await connectIpc({
        socketPath: path,
        clientName: `cr/${VERSION}`,
        timeoutMs: HELLO_TIMEOUT_MS,
        // Windows always checks the server (its SID is part of the pipe's trust, @cora/ipc).
        ...(options.noSecrets === true && process.platform !== 'win32'
          ? { verifyPeer: false }
          : {
              checkServer: async ({ pid }: { readonly pid: number }) => {
                const why =
                  process.platform === 'win32'
                    ? await notOurServiceWin32(pid, home)
                    : notOurService(pid, home);
                if (why !== null) throw new Error(why);
              },
            }),
      }),
    );
  } catch (error) {
    if (isIpcError(error, 'NOT_RUNNING')) return null;
    throw fromWire(error);
  }
}

/** What a command that needs a running service says when none runs. */
const NOT_RUNNING = 'the service is not running; run cr unlock';

/**
 * The running service of `home`; never starts one (reads and `cr exec` need it unlocked).
 * @param home - the Cora home
 * @param whenNotRunning - the message when none runs (say what is out of reach and why)
 * @param options - as {@link connectService}
 * @returns the service
 * @throws CrError `LOCKED` with `whenNotRunning`, and {@link connectService}'s errors.
 */
export async function runningService(
  home: string,
  whenNotRunning = NOT_RUNNING,
  options: { readonly noSecrets?: boolean } = {},
): Promise<Service> {
  const service = await connectService(home, options);
  if (service === null) throw new CrError('LOCKED', whenNotRunning);
  return service;
}

/**
 * Run `fn` with the running service of `home` (see {@link runningService}), then close it.
 * @param home - the Cora home
 * @param fn - what to do with the service
 * @param whenNotRunning - the message when none runs
 * @returns what `fn` returns
 */
export async function withRunningService<T>(
  home: string,
  fn: (service: Service) => Promise<T>,
  whenNotRunning = NOT_RUNNING,
): Promise<T> {
  const service = await runningService(home, whenNotRunning);
  try {
    return await fn(service);
  } finally {
    service.close();
  }
}
