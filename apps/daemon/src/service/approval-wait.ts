// SPDX-License-Identifier: AGPL-3.0-only
import { IpcError, type RequestContext } from '@cora/ipc';
import { describeConfinement, parseDuration, type Decision, type Task } from '@cora/policy';
import { passedEnvironment, steeringFiles } from './approval-context.ts';
import { cleanHomeDrops } from './exec/confine.ts';
import type { Approvals } from './approvals.ts';
import { auditTaskName, type ServiceAudit } from './audit.ts';
import { recordedCommand, type SecretSource } from './command-record.ts';
import type { Peer } from './peer.ts';

/** What a wait for approval needs: the queue, the audit log and the task being asked for. */
export interface ApprovalParts {
  readonly approvals: Approvals;
  readonly audit: ServiceAudit;
  /** The task as the policy holds it now (undefined: removed meanwhile). */
  readonly task: Task | undefined;
  /** The vault, for the masker the command is shown and recorded through. */
  readonly secrets: SecretSource;
}

/** `approve` of a task as a grant window: ms, Infinity (session), or null (once). */
function approvalWindow(approve: Task['approve']): { ms: number | null; label: string | null } {
  if (approve === 'session') return { ms: Infinity, label: 'session' };
  if (approve.startsWith('window:')) {
    const label = approve.slice('window:'.length);
    // The schema accepted the duration; 0 would make the grant useless, so it counts as once.
    const ms = parseDuration(label) ?? 0;
    return ms > 0 ? { ms, label } : { ms: null, label: null };
  }
  return { ms: null, label: null };
}

/**
 * Wait for a human (architecture §7). Every step is audited: requested, then granted, denied,
 * expired or cancelled. A grant re-runs the whole evaluation (the policy, rate and ttl may
 * have changed while waiting) with this request counted as approved.
 */
export async function waitForApproval(
  parts: ApprovalParts,
  request: {
    readonly task: string;
    readonly argv: readonly string[];
    readonly cwd: string;
    readonly env: Readonly<Record<string, string>>;
  },
  resolved: string,
  context: RequestContext<Peer>,
  decide: (grant: boolean) => Decision,
): Promise<Decision> {
  const { approvals, audit, task } = parts;
  if (task === undefined) return decide(false);
  const caller = audit.caller(context.peer);
  const taskName = auditTaskName(request.task);
  const window = approvalWindow(task.approve);
  // Shown to the approver: what the agent can set besides argv (SECURITY.md).
  const passed = passedEnvironment(request.env, task);
  // A clean HOME (the task's `home`) is empty: the files of the caller's HOME do not reach it.
  const found = await steeringFiles(request.env, request.cwd);
  const files = task.home === 'clean' ? found.filter((file) => file.where !== 'home') : found;
  // Masked and bounded for both readers: a value the agent put in argv is neither drawn on
  // the approver's screen nor written to the log, and the event always fits a frame.
  const command = recordedCommand(parts.secrets, task.secrets, request);
  const asked = approvals.ask(
    {
      task: request.task,
      target: resolved,
      command,
      secrets: task.secrets,
      caller: context.peer.verified.identity,
      windowMs: window.ms,
      windowLabel: window.label,
      context: {
        env: task.home === 'clean' ? passed.env.filter((v) => !cleanHomeDrops(v.name)) : passed.env,
        envOmitted: passed.omitted,
        files,
        confine: describeConfinement(task),
        // A fixed word, never a value: the approver must know the output is not masked.
        output: task.output,
      },
    },
    context.signal,
  );
  audit.note({
    type: 'approval-requested',
    id: asked.id,
    caller,
    task: taskName,
    target: resolved,
    secrets: [...task.secrets],
    timeoutMs: asked.expiresAt - Date.now(),
    command,
  });
  context.send('approval', { id: asked.id, expiresAt: new Date(asked.expiresAt).toISOString() });
  const outcome = await asked.outcome;
  switch (outcome.kind) {
    case 'granted':
      audit.note({
        type: 'approval-granted',
        id: asked.id,
        task: taskName,
        approver:
          outcome.approver === null ? caller : audit.caller({ identity: outcome.approver, isCli: true }),
        scope: outcome.scope,
        until: outcome.until === null ? null : new Date(outcome.until).toISOString(),
      });
      return decide(true);
    case 'denied':
      audit.note({
        type: 'approval-denied',
        id: asked.id,
        task: taskName,
        approver: audit.caller({ identity: outcome.approver, isCli: true }),
        reason: outcome.reason,
      });
      throw new IpcError(
        'DENIED',
        outcome.reason === 'SELF_APPROVAL'
          ? 'denied: the process that asked cannot approve its own request'
          : 'denied by the approver',
      );
    case 'expired':
      audit.note({ type: 'approval-expired', id: asked.id, task: taskName });
      throw new IpcError('DENIED', 'nobody approved the request in time (run cr approve or cr tui)');
    case 'cancelled':
      audit.note({
        type: 'approval-denied',
        id: asked.id,
        task: taskName,
        approver: null,
        reason: 'CANCELLED',
      });
      throw new IpcError(
        'DENIED',
        'the approval request was withdrawn (the caller left or the vault locked)',
      );
  }
}
