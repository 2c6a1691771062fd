// SPDX-License-Identifier: AGPL-3.0-only
import { callerSummary, type AuditEvent, type AuditLog, type CallerSummary } from '@cora/audit';
import type { CallerIdentity } from '@cora/identity';
import { IpcError } from '@cora/ipc';

/** A caller as the service knows it: the kernel identity, or a connection's verified peer. */
type AuditPeer =
  | { readonly identity: CallerIdentity; readonly isCli: boolean }
  | { readonly verified: { readonly identity: CallerIdentity }; readonly isCli: boolean };

/** Task names outside the policy's rule are recorded as this (the rule is the audit schema's). */
const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const INVALID_TASK = 'invalid-task-name';

/**
 * The service's side of the audit log (architecture §10, G7). Two ways to write:
 * - {@link ServiceAudit.record}: waits until the record is on disk (fsync) and throws
 *   `AUDIT_UNAVAILABLE` when it cannot be written. Used before a secret is released and for
 *   every change, so nothing happens that the log does not hold.
 * - {@link ServiceAudit.note}: does not wait (connections, refusals, ends of tasks). A failure
 *   is reported to the service log; the next `record` fails closed anyway.
 */
export class ServiceAudit {
  readonly #log: AuditLog;
  readonly #report: (message: string) => void;

  /**
   * @param log - the open audit log
   * @param report - writes a line to the service log (never a value)
   */
  constructor(log: AuditLog, report: (message: string) => void) {
    this.#log = log;
    this.#report = report;
  }

  /** The open log (for verify and export). */
  get log(): AuditLog {
    return this.#log;
  }

  /**
   * Append and wait for the fsync.
   * @param event - the event
   * @throws IpcError `AUDIT_UNAVAILABLE` when the log cannot be written.
   */
  async record(event: AuditEvent): Promise<void> {
    try {
      await this.#log.append(event);
    } catch (error) {
      this.#report(`audit log write failed (${describe(error)}): ${event.type} not recorded`);
      throw new IpcError(
        'AUDIT_UNAVAILABLE',
        'the audit log cannot be written (disk full, I/O error or permissions); nothing was released',
      );
    }
  }

  /**
   * Append without waiting.
   * @param event - the event
   */
  note(event: AuditEvent): void {
    this.#log.append(event).catch((error: unknown) => {
      this.#report(`audit log write failed (${describe(error)}): ${event.type} not recorded`);
    });
  }

  /**
   * The caller summary of a peer.
   * @param peer - kernel identity and whether it is the CLI
   * @returns pid, uid, exe, script, parent
   */
  caller(peer: AuditPeer): CallerSummary {
    return callerSummary('identity' in peer ? peer.identity : peer.verified.identity, peer.isCli);
  }
}

/**
 * A caller-given task name as it may be recorded.
 * @param name - the name the caller sent
 * @returns the name, or `invalid-task-name` when it breaks the policy's rule
 */
export function auditTaskName(name: string): string {
  return TASK_NAME.test(name) ? name : INVALID_TASK;
}

function describe(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown';
}
