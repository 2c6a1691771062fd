// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr stop`: lock, then end the service of this home, whatever state it is in (architecture
 * §9). A service that answers is asked to (`lock` with `stop`: it wipes, records `lock` with
 * reason `stop` and the caller, then exits); one that holds the vault but does not answer
 * (starting, wedged) gets SIGTERM, whose handler wipes before it exits, then SIGKILL.
 * Signals go through a pidfd opened before the owner is checked again, so a recycled pid is
 * never signalled.
 */
import { existsSync } from 'node:fs';
import { CrError, isCrError } from '../../shared/errors.ts';
import { ownerPid } from '../../shared/owner-lock.ts';
import { coraHome, serviceSocketPath } from '../../shared/paths.ts';
import { pidfdCalls } from '../../shared/pidfd.ts';
import { connectService } from '../client.ts';
import { note, out } from '../output.ts';
import { notOurService } from '../service-check.ts';

/** <signal.h> numbers, the same on every Linux architecture Cora runs on. */
const SIGNALS = { SIGKILL: 9, SIGTERM: 15, SIGCONT: 18 } as const;

/** How long a service has to exit after each step (its own shutdown is bounded by 0.5 s). */
const EXIT_WAIT_MS = 5000;

/** Wait until `pid` no longer owns the vault of `home` (the kernel drops the lock at exit). */
async function exited(home: string, pid: number, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (ownerPid(home) !== pid) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Send `signal` to `pid` only while it still owns the vault of `home`: the pidfd pins the
 * process before the owner check, so the check and the signal name the same process.
 * @returns false when it had already gone
 */
function signalOwner(home: string, pid: number, signal: keyof typeof SIGNALS): boolean {
  const pidfd = pidfdCalls();
  const fd = pidfd.open(pid);
  if (fd < 0) return false;
  try {
    if (ownerPid(home) !== pid) return false;
    return pidfd.sendSignal(fd, SIGNALS[signal]) === 0;
  } finally {
    pidfd.close(fd);
  }
}

/** Refuse to signal a vault owner that is not this installation's service for `home`. */
function checkOwner(home: string, pid: number): void {
  const why = notOurService(pid, home);
  if (why !== null) {
    throw new CrError(
      'REFUSED',
      `pid ${String(pid)} holds ${home}/service.lock but is not this installation's Cora service (${why}); cr stop does not signal it`,
    );
  }
}

/** SIGTERM, then SIGKILL when the service does not exit. */
async function terminate(home: string, pid: number): Promise<void> {
  if (!signalOwner(home, pid, 'SIGTERM')) return;
  // A stopped process (SIGSTOP) handles SIGTERM only once continued; systemd does the same.
  signalOwner(home, pid, 'SIGCONT');
  if (await exited(home, pid, EXIT_WAIT_MS)) return;
  note(`cr: the service (pid ${String(pid)}) did not exit on SIGTERM; killing it (SIGKILL)`);
  if (!signalOwner(home, pid, 'SIGKILL') || (await exited(home, pid, EXIT_WAIT_MS))) return;
  throw new CrError('UNAVAILABLE', `the service (pid ${String(pid)}) is still running after SIGKILL`);
}

/**
 * Lock and end the service of this home (exit codes: apps/daemon README "Exit codes").
 * @returns 0 when it stopped or none ran
 * @throws CrError `REFUSED` when what holds the vault or answers on its socket is not this
 *   installation's service, `UNAVAILABLE` when it cannot be ended.
 */
export async function cmdStop(): Promise<number> {
  const home = coraHome();
  // The full peer check: this command ends the process behind the socket.
  const service = await connectService(home);
  let pid: number | null = null;
  if (service === null) {
    pid = ownerPid(home);
    if (pid === null) {
      out('The service is not running: nothing to stop.');
      return 0;
    }
    // It owns the vault but does not listen (starting, or wedged).
    checkOwner(home, pid);
    await terminate(home, pid);
  } else {
    // Whether the service took the stop (its exit may cut the reply off: UNAVAILABLE).
    let asked: boolean;
    try {
      pid = (await service.status()).pid;
      await service.stop();
      asked = true;
    } catch (error) {
      asked = pid !== null && isCrError(error, 'UNAVAILABLE');
      if (!asked) {
        const why = error instanceof Error ? error.message : 'error';
        note(`cr: the service did not take the stop (${why}); signalling it`);
      }
      pid ??= ownerPid(home);
    } finally {
      service.close();
    }
    if (pid === null) throw new CrError('UNAVAILABLE', 'the service answered but its pid is unknown');
    if (!asked || !(await exited(home, pid, EXIT_WAIT_MS))) {
      checkOwner(home, pid);
      await terminate(home, pid);
    }
  }
  // A clean exit removes the socket; only a killed service leaves it (the next one replaces it).
  const socket = serviceSocketPath(home);
  out(`Locked and stopped the service (pid ${String(pid)}).`);
  if (existsSync(socket) && ownerPid(home) === null)
    note(`cr: ${socket} was left behind; the next service replaces it`);
  return 0;
}
