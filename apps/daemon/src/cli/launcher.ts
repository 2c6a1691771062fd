// SPDX-License-Identifier: AGPL-3.0-only
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CrError, fileError } from '../shared/errors.ts';
import { scrubEnvironment, serviceNodeFlags } from '../shared/harden.ts';
import { parseDuration } from '../shared/duration.ts';

/** Settings the service is started with (its command line; none of it is secret). */
export interface ServiceSettings {
  readonly home: string;
  readonly idleTimeoutMs: number;
  readonly lifetimeMs: number;
}

/** Where the service entry point sits: beside this module (dist/ when built, src/ in tests). */
function serviceMainPath(): string {
  // Built, every chunk sits in dist/ beside service-main.js; from sources, src/service/main.ts.
  const source = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(source ? '../service/main.ts' : './service-main.js', import.meta.url));
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

/** The service's command line after the Node binary. */
function serviceArgs(settings: ServiceSettings): string[] {
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
export interface StartedService {
  readonly pid: number;
  /** Settles with the exit code if the service exits while this CLI still runs. */
  readonly exited: Promise<number | null>;
}

/**
 * Start the service detached: `detached: true` makes Node call `setsid()` in the child, so it
 * has no controlling terminal and survives the CLI and the terminal (DESIGN §9). Its
 * environment and Node flags are scrubbed ({@link scrubEnvironment}, `--disable-sigusr1`).
 * Its stderr goes to `<home>/service.log` (0600, append; messages there never hold secrets).
 *
 * @param settings - home, idle timeout and lifetime
 * @returns the pid of the new service process, and its exit while we wait for it
 */
export function startDetachedService(settings: ServiceSettings): StartedService {
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
      env: scrubEnvironment(process.env),
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
    env: scrubEnvironment(process.env),
  });
}
