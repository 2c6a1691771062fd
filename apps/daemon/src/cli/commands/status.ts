// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr status`: whether the service runs and is unlocked, why it last locked and when it will
 * lock next (never a value). Human output is local time with the distance; `--json` keeps ISO
 * UTC. When no service runs, the reason died with it: the newest `lock` and `service-stop`
 * records of the audit log say it instead (unverified: a lookup, `cr audit verify` is the check).
 */
import { existsSync } from 'node:fs';
import type { StatusLock, StatusResult } from '@cora/ipc';
import { lockReasonText } from '@cora/display';
import { coraHome, serviceSocketPath, vaultPath } from '../../shared/paths.ts';
import { connectService } from '../client.ts';
import { VERSION } from '../../shared/version.ts';
import { localClock, localTime, out, printJson, span } from '../output.ts';

/** How the service ended, from the audit log, when none runs. */
interface StatusStopped {
  /** `signal`, `shutdown` (`cr stop`) or `error`; `unknown` when the log has no stop after the last start (killed). */
  readonly reason: 'signal' | 'shutdown' | 'error' | 'unknown';
  /** ISO-8601; for `unknown`, the time of the last start. */
  readonly at: string;
}

/** What `cr status` reports (`--json` prints it). */
export type StatusReport = Omit<StatusResult, 'pid'> & {
  readonly pid: number | null;
  readonly running: boolean;
  /** When no service runs: how the last one ended, from the audit log (null when the log does not say). */
  readonly stopped?: StatusStopped | null;
  readonly vault: string;
  readonly vaultExists: boolean;
};

/**
 * The last lock and stop the audit log recorded, for a home whose service is gone. Loaded only
 * here: `cr status` with a running service reads no file and loads no libsodium.
 */
async function fromAuditLog(
  home: string,
): Promise<{ lastLock: StatusLock | null; stopped: StatusStopped | null }> {
  try {
    const { findLastRecords } = await import('@cora/audit');
    const found = await findLastRecords(home, ['lock', 'service-stop', 'service-start']);
    let lastLock: StatusLock | null = null;
    let stopped: StatusStopped | null = null;
    // Newest first; only what the last service run wrote counts (up to its start).
    for (const [index, { record }] of found.entries()) {
      if (record.type === 'service-start') {
        if (index === 0) stopped = { reason: 'unknown', at: record.time };
        break;
      }
      if (record.type === 'service-stop' && stopped === null)
        stopped = { reason: record.reason, at: record.time };
      if (record.type === 'lock' && lastLock === null) {
        lastLock = { reason: record.reason, at: record.time };
      }
    }
    return { lastLock, stopped };
  } catch {
    // No log (a fresh home), or one that cannot be read: status says nothing about it.
    return { lastLock: null, stopped: null };
  }
}

/**
 * The human lines of `cr status`.
 * @param status - the report
 * @param now - ms since the epoch (the distances count from it)
 * @returns the lines, in order
 */
export function statusLines(status: StatusReport, now: number = Date.now()): string[] {
  const lines: string[] = [];
  const unlocked = status.state === 'unlocked';
  lines.push(`state:    ${status.state}${status.running ? '' : ' (service not running)'}`);
  if (unlocked) {
    lines.push(`secrets:  ${String(status.secrets)}`);
    if (typeof status.unlockedAt === 'string') lines.push(`since:    ${localTime(status.unlockedAt, now)}`);
    const idle = status.idleDeadline;
    lines.push(
      idle === null
        ? 'idle:     never locks when idle (idle timeout 0)'
        : `idle:     locks in ${span(Date.parse(idle) - now)} (idle), at ${localClock(idle, now)} unless a request comes first`,
    );
    const life = status.lifetimeDeadline ?? null;
    lines.push(
      life === null
        ? 'lifetime: none (unlock --lifetime sets one)'
        : `lifetime: ends ${localTime(life, now)}, busy or not`,
    );
  }
  if (!status.running && status.stopped !== undefined && status.stopped !== null) {
    const { reason, at } = status.stopped;
    lines.push(
      reason === 'unknown'
        ? `stopped:  no record of how; it started ${localTime(at, now)} (killed, or the machine went down)`
        : `stopped:  ${reason === 'shutdown' ? 'by cr stop' : reason === 'signal' ? 'by a signal' : 'by an error'}, ${localTime(at, now)}`,
    );
  }
  const lock = status.lastLock ?? null;
  if (!unlocked && lock !== null) {
    const source = status.running ? '' : ' (from the audit log)';
    lines.push(`locked:   ${lockReasonText(lock.reason)}, ${localTime(lock.at, now)}${source}`);
  } else if (!unlocked && status.running && status.lastLock === null) {
    lines.push('locked:   not unlocked since the service started');
  }
  if (status.pid !== null) lines.push(`pid:      ${String(status.pid)}`);
  lines.push(`socket:   ${status.socket}`);
  lines.push(`vault:    ${status.vault}${status.vaultExists ? '' : ' (none yet: run cr init)'}`);
  lines.push(`version:  ${status.version}`);
  return lines;
}

export async function cmdStatus(options: { json?: boolean }): Promise<void> {
  const home = coraHome();
  const socket = serviceSocketPath(home);
  const vault = vaultPath(home);
  const vaultExists = existsSync(vault);
  // Sends nothing secret: the fast connection (client.ts), as a status bar polls it.
  const service = await connectService(home, { noSecrets: true });
  let status: StatusReport;
  if (service === null) {
    const { lastLock, stopped } = vaultExists ? await fromAuditLog(home) : { lastLock: null, stopped: null };
    status = {
      state: 'locked',
      secrets: 0,
      pid: null,
      socket,
      idleDeadline: null,
      version: VERSION,
      lifetimeDeadline: null,
      unlockedAt: null,
      lastLock,
      running: false,
      stopped,
      vault,
      vaultExists,
    };
  } else {
    try {
      status = { ...(await service.status()), running: true, vault, vaultExists };
    } finally {
      service.close();
    }
  }
  if (options.json === true) printJson(status);
  else for (const line of statusLines(status)) out(line);
}
