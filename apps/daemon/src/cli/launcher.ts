// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Starting the service: detached for every command that needs one running, or in the
 * foreground (`cr unlock --foreground`), and {@link ensureService}, which connects to it,
 * starting it first when none runs. Kept apart from `client.ts` so `cr exec`, which never
 * starts a service, does not load it.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrError, fileError } from '../shared/errors.ts';
import { serviceEnvironment, serviceNodeFlags } from '../shared/harden.ts';
import { DEFAULT_IDLE_TIMEOUT_MS, parseDuration } from '../shared/duration.ts';
import { EXIT_NOT_OWNER, ownerPid } from '../shared/owner-lock.ts';
import { serviceSocketPath } from '../shared/paths.ts';
import { connectService, type Service } from './client.ts';
import { serviceMainPath } from './service-check.ts';

/** Settings the service is started with (its command line; none of it is secret). */
export interface ServiceSettings {
  readonly home: string;
  readonly idleTimeoutMs: number;
  readonly lifetimeMs: number;
}

/**
 * Settings read from the CLI's environment when it starts the service (README "Audit and
 * approvals"): approval time-out and audit rotation. Bad values are refused (USAGE).
 */
function tuningArgs(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const duration = (name: string, flag: string): void => {
    const value = env[name];
    if (value !== undefined && value !== '') out.push(flag, String(parseDuration(value, name)));
  };
  const count = (name: string, flag: string): void => {
    const value = env[name];
    if (value === undefined || value === '') return;
    if (!/^\d{1,15}$/.test(value))
      throw new CrError('USAGE', `${name} must be a whole number, got '${value}'`);
    out.push(flag, value);
  };
  duration('CORA_APPROVAL_TIMEOUT', '--approval-timeout-ms');
  count('CORA_AUDIT_MAX_BYTES', '--audit-max-bytes');
  duration('CORA_AUDIT_MAX_AGE', '--audit-max-age-ms');
  count('CORA_AUDIT_KEEP', '--audit-keep');
  return out;
}

/** The service's command line after the Node binary (the launcher's and the systemd unit's). */
export function serviceArgs(settings: ServiceSettings): string[] {
  return [
    ...serviceNodeFlags(process.execArgv),
    serviceMainPath(),
    '--home',
    settings.home,
    '--idle-timeout-ms',
    String(settings.idleTimeoutMs),
    '--lifetime-ms',
    String(settings.lifetimeMs),
    ...tuningArgs(process.env),
  ];
}

/** A service started by {@link startDetachedService}. */
interface StartedService {
  readonly pid: number;
  /** Settles with the exit code if the service exits while this CLI still runs. */
  readonly exited: Promise<number | null>;
}

/**
 * Start the service detached: `detached: true` makes Node call `setsid()` in the child, so it
 * has no controlling terminal and survives the CLI and the terminal (architecture §9). Its
 * environment is built from nothing ({@link serviceEnvironment}) and its Node flags scrubbed
 * (`--disable-sigusr1` added).
 * Its stderr goes to `<home>/service.log` (0600, append; messages there never hold secrets).
 *
 * @param settings - home, idle timeout and lifetime
 * @returns the pid of the new service process, and its exit while we wait for it
 */
function startDetachedService(settings: ServiceSettings): StartedService {
  const logPath = join(settings.home, 'service.log');
  let log: number;
  try {
    log = openSync(
      logPath,
      constants.O_WRONLY |
        constants.O_APPEND |
        constants.O_CREAT |
        constants.O_NOFOLLOW |
        constants.O_NONBLOCK,
      0o600,
    );
  } catch (error) {
    throw fileError(error, logPath);
  }
  try {
    const child = spawn(process.execPath, serviceArgs(settings), {
      detached: true,
      stdio: ['ignore', 'ignore', log],
      env: serviceEnvironment(process.env),
      cwd: '/',
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => {
        resolve(code);
      });
      child.once('error', () => {
        resolve(null);
      });
    });
    child.unref();
    return { pid: child.pid ?? 0, exited };
  } finally {
    closeSync(log);
  }
}

/**
 * Start the service as a child that shares this terminal (`cr unlock --foreground`): not
 * detached, stdio inherited, same scrubbing. The caller waits for it to exit.
 *
 * @param settings - home, idle timeout and lifetime
 * @returns the child process
 */
export function startForegroundService(settings: ServiceSettings): ReturnType<typeof spawn> {
  return spawn(process.execPath, serviceArgs(settings), {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: serviceEnvironment(process.env),
  });
}

/**
 * Connect to the service of `settings.home`, starting it (detached, locked) when none runs,
 * and wait up to `waitMs` for it to listen. Two CLIs that start one at the same moment end
 * with one service: the other exits at once, having written nothing (owner-lock.ts).
 * @param settings - used only when the service has to be started
 * @param options - `startIfMissing` (default true), `waitMs` (default 10 s)
 * @returns the service (one connection) and whether this call started it
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
 * The service of `home` with the default settings, started locked when none runs: what every
 * vault-changing command and `cr tui` connect with.
 * @param home - the Cora home
 * @returns the service (one connection; the caller closes it)
 */
export async function startedService(home: string): Promise<Service> {
  const { service } = await ensureService({ home, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, lifetimeMs: 0 });
  return service;
}

/**
 * Run `fn` with the service of `home` (started locked when none runs), then close the connection.
 * @param home - the Cora home
 * @param fn - what to do with the service
 * @returns what `fn` returns
 */
export async function withService<T>(home: string, fn: (service: Service) => Promise<T>): Promise<T> {
  const service = await startedService(home);
  try {
    return await fn(service);
  } finally {
    service.close();
  }
}
