// SPDX-License-Identifier: AGPL-3.0-only
import {
  exportLog,
  isAuditError,
  verifyLog,
  type AuditEvent,
  type AuditOp,
  type CallerSummary,
  type VerifyReport,
} from '@cora/audit';
import {
  IpcError,
  isIpcError,
  type ApproveResult,
  type AuditVerifyResult,
  type IpcHandlers,
  type RequestContext,
  type SecretMeta,
  type StatusResult,
} from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import { guarded } from './errors.ts';
import type { Peer } from './peer.ts';
import { grantInfo, type Approvals, type ApproverSession } from './approvals.ts';
import { auditTaskName, type ServiceAudit } from './audit.ts';
import { createExecHandler } from './exec-handler.ts';
import type { CliFingerprint } from './authorize.ts';
import { policyExplain, policyGet, policySet, policyVerify } from './policy-handlers.ts';
import type { ServiceState } from './state.ts';

export type { Peer } from './peer.ts';

/** Fixed facts a handler reports (`status`). */
export interface ServiceInfo {
  readonly socket: string;
  readonly version: string;
  /** This installation's `cr` (`policy.verify` says whether a process is it). */
  readonly cli: CliFingerprint;
}

function part(context: RequestContext<Peer>, index: number): SecretBuf {
  const buf = context.parts[index];
  if (buf === undefined) throw new IpcError('BAD_REQUEST', 'a part of the attachment is missing');
  return buf;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The audit log, the approval queue and the log directory, shared by the handlers. */
export interface ServiceParts {
  readonly audit: ServiceAudit;
  readonly approvals: Approvals;
  /** Directory of the audit log (for verify and export). */
  readonly auditDir: string;
  /** End the service (`lock` with `stop`), after the reply had its chance to go out. */
  readonly stop?: () => void;
}

/**
 * The service's request handlers. Secrets arrive only as attachment parts, which the server
 * wipes after the handler settles; the state copies what it keeps. Every request but `status`,
 * `lock` and the grants requests counts as activity for the idle timeout (a status bar
 * polling `cr status` or a grants view must not keep the vault open).
 *
 * Audit (G7): a change is on disk in the log before its reply says it happened (a log that
 * cannot be written turns the reply into `AUDIT_UNAVAILABLE`: the change is kept, and the
 * message says so); a wrong passphrase is noted as `auth-failed` / `unlock-failed`.
 *
 * @param state - the service state
 * @param info - socket path and version for `status`
 * @param parts - audit log, approvals
 * @returns one handler per request type
 */
export function createHandlers(
  state: ServiceState,
  info: ServiceInfo,
  parts: ServiceParts,
): IpcHandlers<Peer> {
  const { audit, approvals } = parts;
  const status = (): StatusResult => {
    const snap = state.snapshot();
    return {
      state: snap.state,
      secrets: snap.secrets ?? 0,
      pid: process.pid,
      socket: info.socket,
      idleDeadline: snap.idleDeadline,
      version: info.version,
      lifetimeDeadline: snap.lifetimeDeadline,
      unlockedAt: snap.unlockedAt,
      lastLock:
        snap.lastLockReason === null || snap.lastLockAt === null
          ? null
          : { reason: snap.lastLockReason, at: snap.lastLockAt },
    };
  };
  /** Run a change; note a wrong passphrase; record the change before replying. */
  const change = async <T>(
    op: AuditOp,
    context: RequestContext<Peer>,
    fn: () => Promise<T>,
    event: (result: T, caller: CallerSummary) => AuditEvent,
  ): Promise<T> => {
    const caller = audit.caller(context.peer);
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      if (isIpcError(error, 'AUTH_FAILED')) audit.note({ type: 'auth-failed', caller, op });
      throw error;
    }
    try {
      await audit.record(event(result, caller));
    } catch {
      throw new IpcError(
        'AUDIT_UNAVAILABLE',
        'the change was saved, but the audit log cannot be written (disk full, I/O error or permissions)',
      );
    }
    return result;
  };
  const handlers: IpcHandlers<Peer> = {
    status: () => guarded(() => Promise.resolve(status())),
    lock: (request, context) =>
      guarded(() => {
        const stop = request.stop === true;
        // Stopping is the CLI's (its user's) decision: a caller the policy admits may lock only.
        if (stop && (!context.peer.isCli || parts.stop === undefined)) {
          audit.note({
            type: 'caller-refused',
            caller: audit.caller(context.peer),
            op: 'lock',
            reason: 'NOT_CLI',
          });
          throw new IpcError('NOT_ALLOWED', 'only the cr CLI may stop the service');
        }
        // A stop is recorded even while locked: the record says who ended the service.
        if (state.unlocked || stop)
          audit.note({ type: 'lock', reason: stop ? 'stop' : 'request', caller: audit.caller(context.peer) });
        state.lock(stop ? 'stop' : 'request');
        if (stop) parts.stop?.();
        return Promise.resolve({ state: 'locked' as const });
      }),
    init: (request, context) =>
      guarded(async () => {
        const by = `cr ${info.version}${request.by === 'tui' ? ' tui' : ''}`;
        const generation = await state.init(part(context, 0), { created: new Date().toISOString(), by });
        return { created: true as const, generation };
      }),
    unlock: (request, context) =>
      guarded(async () => {
        state.touch();
        const caller = audit.caller(context.peer);
        let unlocked: boolean;
        try {
          unlocked = await state.unlock(part(context, 0), {
            ...(request.acceptVault === undefined ? {} : { acceptVault: request.acceptVault }),
            ...(request.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: request.idleTimeoutMs }),
            ...(request.lifetimeMs === undefined ? {} : { lifetimeMs: request.lifetimeMs }),
          });
        } catch (error) {
          if (isIpcError(error, 'AUTH_FAILED'))
            audit.note({ type: 'unlock-failed', caller, reason: 'AUTH_FAILED' });
          if (isIpcError(error, 'NO_VAULT'))
            audit.note({ type: 'unlock-failed', caller, reason: 'NO_VAULT' });
          if (isIpcError(error, 'VAULT_ROLLBACK'))
            audit.note({ type: 'unlock-failed', caller, reason: 'VAULT_ROLLBACK' });
          throw error;
        }
        if (!unlocked) throw new IpcError('UNLOCKED', 'the service is already unlocked');
        const secrets = state.snapshot().secrets ?? 0;
        try {
          // MACed with the key just set: seals every record written while locked (architecture §10).
          await audit.record({ type: 'unlock', caller, secrets });
        } catch (error) {
          state.lock('error'); // no secret may be used that the log cannot account for
          throw error;
        }
        return { state: 'unlocked' as const, secrets };
      }),
    'secrets.list': () =>
      guarded(() => {
        state.touch();
        const list: SecretMeta[] = state
          .list()
          .map((s) => ({ name: s.name, created: iso(s.created), updated: iso(s.updated) }));
        return Promise.resolve(list);
      }),
    'secrets.set': (request, context) =>
      guarded(() => {
        state.touch();
        return change(
          'secrets.set',
          context,
          () => state.setSecret(request.name, part(context, 1), part(context, 0)),
          (replaced, caller) => ({
            type: 'secret-set',
            caller,
            names: [request.name],
            replaced: replaced ? [request.name] : [],
          }),
        ).then((replaced) => ({ name: request.name, replaced }));
      }),
    'secrets.delete': (request, context) =>
      guarded(async () => {
        state.touch();
        await change(
          'secrets.delete',
          context,
          () =>
            state.deleteSecret(request.name, part(context, 0), {
              ...(request.force === undefined ? {} : { force: request.force }),
            }),
          (_r, caller) => ({ type: 'secret-deleted', caller, name: request.name }),
        );
        return { name: request.name };
      }),
    'secrets.import': (request, context) =>
      guarded(async () => {
        state.touch();
        const items = request.names.map((name, i) => ({ name, value: part(context, i + 1) }));
        const result = await change(
          'secrets.import',
          context,
          () => state.importSecrets(items, part(context, 0)),
          (r, caller) => ({
            type: 'secret-set',
            caller,
            names: [...r.added, ...r.replaced],
            replaced: r.replaced,
          }),
        );
        return { created: result.added, replaced: result.replaced };
      }),
    passwd: (_request, context) =>
      guarded(async () => {
        state.touch();
        await change(
          'passwd',
          context,
          () => state.changePassphrase(part(context, 0), part(context, 1)),
          (_r, caller) => ({ type: 'passwd', caller }),
        );
        return { changed: true as const };
      }),
    'policy.get': () =>
      guarded(() => {
        state.touch();
        return Promise.resolve(policyGet(state));
      }),
    'policy.set': (request, context) =>
      guarded(() => {
        state.touch();
        return change(
          'policy.set',
          context,
          () => {
            const { policy, ...options } = request;
            return policySet(state, policy, part(context, 0), options);
          },
          (_r, caller) => {
            const policy = state.policy();
            return {
              type: 'policy-changed',
              caller,
              tasks: Object.keys(policy.tasks).length,
              callers: policy.callers.length,
            };
          },
        );
      }),
    'policy.explain': (request, context) =>
      guarded(() => {
        state.touch();
        return Promise.resolve(
          policyExplain(state, request, {
            identity: context.peer.verified.identity,
            isCli: context.peer.isCli,
          }),
        );
      }),
    'policy.verify': (request) =>
      guarded(() => {
        state.touch();
        return policyVerify(state, request.pid, info.cli);
      }),
    exec: createExecHandler(state, audit, approvals),
    approve: (_request, context) =>
      guarded(async () => {
        if (!state.unlocked) throw new IpcError('LOCKED', 'approvals need an unlocked vault; run cr unlock');
        state.touch();
        try {
          await state.verifyPassphrase(part(context, 0));
        } catch (error) {
          if (isIpcError(error, 'AUTH_FAILED')) {
            audit.note({ type: 'auth-failed', caller: audit.caller(context.peer), op: 'approve' });
          }
          throw error;
        }
        // The check above ran before the (slow) key derivation: the vault may have locked since.
        if (state.snapshot().state !== 'unlocked') {
          throw new IpcError('LOCKED', 'the vault was locked meanwhile; run cr unlock');
        }
        return await approverSession(approvals, context);
      }),
    // architecture §7: grants hold no value and live only while unlocked (lock forgets them), so
    // listing needs no passphrase and answers an empty list while locked; a revoke only narrows
    // access, so it needs none either. Both are gated like every request (SECURITY.md).
    'grants.list': () => guarded(() => Promise.resolve(approvals.grants().map(grantInfo))),
    'grants.revoke': (request, context) =>
      guarded(async () => {
        // Removed in this tick, before anything awaits: no spawn after this point uses them.
        const revoked = approvals.revoke('all' in request ? 'all' : { id: request.grant });
        if (revoked.length === 0 && !('all' in request)) {
          throw new IpcError(
            'NOT_FOUND',
            `no live grant has the id ${request.grant} (it expired, was revoked, or the vault locked); cr grants list shows the live ones`,
          );
        }
        const caller = audit.caller(context.peer);
        try {
          for (const grant of revoked) {
            await audit.record({
              type: 'grant-revoked',
              caller,
              grant: grant.id,
              approval: grant.approval,
              task: auditTaskName(grant.task),
              exe: grant.callerExe,
              parentPid: grant.parentPid,
              scope: grant.scope,
              until: grant.until === Infinity ? null : iso(grant.until),
            });
          }
        } catch {
          throw new IpcError(
            'AUDIT_UNAVAILABLE',
            'the grants were revoked, but the audit log cannot be written (disk full, I/O error or permissions)',
          );
        }
        return { revoked: revoked.map(grantInfo) };
      }),
    'audit.verify': () =>
      guarded(async () => {
        // While locked there is no key: the chain alone, but still against the head this
        // service wrote, so a cut or rewritten tail is found either way.
        const key = state.auditKeyCopy();
        try {
          const head = audit.log.head();
          const report = await verifyLog(parts.auditDir, {
            ...(key === null ? {} : { key }),
            ...(head.seq > 0 ? { expectHead: { seq: head.seq, hash: head.hash } } : {}),
          });
          return toWire(report);
        } finally {
          key?.wipe();
        }
      }),
    'audit.export': (_request, context) =>
      guarded(async () => {
        const key = state.auditKeyCopy();
        if (key === null) throw new IpcError('LOCKED', 'an export is signed with the key; run cr unlock');
        try {
          let last = '';
          for await (const line of exportLog(parts.auditDir, key)) {
            if (context.signal.aborted) throw new IpcError('NOT_ALLOWED', 'the caller went away');
            last = new TextDecoder().decode(line).replace(/\n$/u, '');
            if (!context.send('line', { line: last })) await context.waitForDrain();
          }
          const trailer = JSON.parse(last) as { count?: unknown; head?: unknown };
          if (typeof trailer.count !== 'number' || typeof trailer.head !== 'string') {
            throw new Error('export trailer missing');
          }
          return { count: trailer.count, head: trailer.head };
        } catch (error) {
          if (isAuditError(error, 'VERIFY_FAILED')) {
            throw new IpcError(
              'BAD_REQUEST',
              `the audit log does not verify, so it is not exported: ${error.message}`,
            );
          }
          throw error;
        } finally {
          key.wipe();
        }
      }),
  };
  return handlers;
}

/** Hold an approver session until the vault locks, another approver takes over, or the client leaves. */
function approverSession(approvals: Approvals, context: RequestContext<Peer>): Promise<ApproveResult> {
  return new Promise<ApproveResult>((resolve) => {
    let detach = (): void => undefined;
    const session: ApproverSession = {
      identity: context.peer.verified.identity,
      send: (event: 'pending' | 'resolved', data: unknown) => {
        context.send(event, data);
      },
      end: (reason) => {
        detach();
        resolve({ ended: reason });
      },
    };
    context.send('ready');
    detach = approvals.attach(session);
    context.onInput((input) => {
      if (input.kind !== 'decide') return;
      // G5 for follow-ups too: a decision counts only from the process that proved the
      // passphrase; one that exec'd something else (or exited) ends the session.
      if (!context.peer.verified.stillSame()) {
        session.end('replaced');
        return;
      }
      approvals.decide(session, input.approval, input.decision);
    });
    context.signal.addEventListener(
      'abort',
      () => {
        detach();
        resolve({ ended: 'replaced' });
      },
      { once: true },
    );
  });
}

function toWire(report: VerifyReport): AuditVerifyResult {
  return {
    ok: report.ok,
    records: report.records,
    files: [...report.files],
    macChecked: report.macChecked,
    lastSealedSeq: report.lastSealedSeq,
    unsealed: report.unsealed,
    head: report.head,
    torn: report.torn,
    firstProblem:
      report.firstProblem === null
        ? null
        : {
            file: report.firstProblem.file,
            line: report.firstProblem.line,
            seq: report.firstProblem.seq,
            kind: report.firstProblem.kind,
            message: report.firstProblem.message.slice(0, 1024),
          },
  };
}
