// SPDX-License-Identifier: AGPL-3.0-only
/** `cr unlock [--foreground]`: start the service if needed and unlock it. */
import { CrError } from '../../shared/errors.ts';
import { parseDuration, DEFAULT_IDLE_TIMEOUT_MS } from '../../shared/duration.ts';
import { coraHome, requireVault } from '../../shared/paths.ts';
import { readPassphrase } from '../passphrase.ts';
import { ensureService, startForegroundService } from '../launcher.ts';
import { ownerPid } from '../../shared/owner-lock.ts';
import { passSource, withSecret, type PassOptions } from '../options.ts';
import { out, note } from '../output.ts';

export interface UnlockOptions extends PassOptions {
  foreground?: boolean;
  acceptVault?: boolean;
  idleTimeout?: string;
  lifetime?: string;
}

export async function cmdUnlock(options: UnlockOptions): Promise<void> {
  const home = coraHome();
  requireVault(home);
  const settings = {
    home,
    idleTimeoutMs:
      options.idleTimeout === undefined
        ? DEFAULT_IDLE_TIMEOUT_MS
        : parseDuration(options.idleTimeout, '--idle-timeout'),
    lifetimeMs: options.lifetime === undefined ? 0 : parseDuration(options.lifetime, '--lifetime'),
  };
  if (options.foreground === true) {
    await unlockForeground(settings, options);
    return;
  }
  const { service } = await ensureService(settings);
  try {
    const status = await service.status();
    if (status.state === 'unlocked') {
      out(`Already unlocked (${String(status.secrets)} secrets, pid ${String(status.pid)}).`);
      return;
    }
    const result = await withSecret(
      () => readPassphrase(passSource(options), 'Passphrase: '),
      (passphrase) => service.unlock(passphrase, unlockParams(settings, options)),
    );
    out(`Unlocked: ${String(result.secrets)} secrets (service pid ${String(status.pid)}).`);
  } finally {
    service.close();
  }
}

function unlockParams(
  settings: { idleTimeoutMs: number; lifetimeMs: number },
  options: UnlockOptions,
): { acceptVault?: boolean; idleTimeoutMs: number; lifetimeMs: number } {
  return {
    ...(options.acceptVault === true ? { acceptVault: true } : {}),
    idleTimeoutMs: settings.idleTimeoutMs,
    lifetimeMs: settings.lifetimeMs,
  };
}

async function unlockForeground(
  settings: { home: string; idleTimeoutMs: number; lifetimeMs: number },
  options: UnlockOptions,
): Promise<void> {
  const owner = ownerPid(settings.home);
  if (owner !== null) {
    throw new CrError(
      'USAGE',
      `the service of this vault already runs (pid ${String(owner)}); --foreground starts one only when none runs`,
    );
  }
  const child = startForegroundService(settings);
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => child.kill(sig));
  }
  const { service } = await ensureService(settings, { startIfMissing: false });
  try {
    const result = await withSecret(
      () => readPassphrase(passSource(options), 'Passphrase: '),
      (passphrase) => service.unlock(passphrase, unlockParams(settings, options)),
    );
    note(`Unlocked: ${String(result.secrets)} secrets (service pid ${String(child.pid)}; Ctrl-C stops it).`);
  } catch (error) {
    child.kill('SIGTERM');
    throw error;
  } finally {
    service.close();
  }
  process.exitCode = await exited;
}
