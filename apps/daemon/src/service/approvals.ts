// SPDX-License-Identifier: AGPL-3.0-only
import { randomBytes } from 'node:crypto';
import type { AuditCommand } from '@cora/audit';
import type { CallerIdentity } from '@cora/identity';
import {
  APPROVAL_LIMITS,
  type ApprovalDecision,
  type ApprovalInfo,
  type ApprovalResolved,
  type GrantInfo,
} from '@cora/ipc';
import { cutText } from './command-record.ts';
import type { GrantQuery } from '@cora/policy';

/** architecture §7: a request waits this long for a human, then it is denied. */
const DEFAULT_APPROVAL_TIMEOUT_MS = 60_000;

/** What a task asks a human to approve (names only, never a value). */
export interface ApprovalRequest {
  readonly task: string;
  readonly target: string;
  /** argv and cwd, masked with the task's secrets and bounded (`command-record.ts`). */
  readonly command: AuditCommand;
  readonly secrets: readonly string[];
  /** The process that asked (its parent is the one a grant is remembered for). */
  readonly caller: CallerIdentity;
  /**
   * How long `allow-window` lasts: ms, `Infinity` for `approve: session` (until lock), or
   * null for `approve: once` (every spawn is asked; `allow-window` counts as `allow-once`).
   */
  readonly windowMs: number | null;
  /** The task's `approve` as written (`15m`, `session`), shown to the approver. */
  readonly windowLabel: string | null;
  /** What else shapes the command: the caller's variables the child gets, steering files. */
  readonly context?: Pick<ApprovalInfo, 'env' | 'envOmitted' | 'files' | 'confine' | 'output'>;
}

/** How an approval request ended. */
export type ApprovalOutcome =
  | {
      readonly kind: 'granted';
      readonly scope: 'once' | 'window' | 'session';
      readonly until: number | null;
      readonly approver: CallerIdentity | null;
    }
  | {
      readonly kind: 'denied';
      readonly reason: 'DENIED' | 'SELF_APPROVAL';
      readonly approver: CallerIdentity;
    }
  | { readonly kind: 'expired' }
  | { readonly kind: 'cancelled' };

/** An approver connection as {@link Approvals} sees it. */
export interface ApproverSession {
  /** The kernel-verified identity of the approver process. */
  readonly identity: CallerIdentity;
  /** Send an event frame of the `approve` request. */
  send(event: 'pending', data: ApprovalInfo): void;
  send(event: 'resolved', data: ApprovalResolved): void;
  /** The session is over (vault locked, or a newer approver took over). */
  end(reason: 'locked' | 'replaced'): void;
}

/** A live grant: what `grants.list` shows, plus the key's start time, which it does not. */
export interface Grant {
  /** 8 hex digits, random, unique among live grants. */
  readonly id: string;
  readonly task: string;
  readonly callerExe: string;
  readonly parentPid: number;
  readonly parentStartTime: bigint;
  readonly scope: 'window' | 'session';
  /** ms since the epoch. */
  readonly grantedAt: number;
  /** ms since the epoch; Infinity for a session grant (until lock). */
  readonly until: number;
  /** The approval request that made it. */
  readonly approval: number;
  readonly approver: CallerIdentity | null;
}

interface Pending {
  readonly id: number;
  readonly request: ApprovalRequest;
  readonly expiresAt: number;
  readonly finish: (outcome: ApprovalOutcome) => void;
}

/**
 * Pending approval requests, the one live approver session, and the grants they leave
 * (architecture §7 "Approvals"). A grant is remembered per (task, caller exe, parent pid, parent
 * start time): the start time makes a recycled parent pid inherit nothing. Grants and pending
 * requests live in memory only and end at lock.
 */
export class Approvals {
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #pending = new Map<number, Pending>();
  /** Live grants by key; an entry is deleted the moment it is revoked or found expired. */
  readonly #grants = new Map<string, Grant>();
  #session: ApproverSession | null = null;
  #nextId = 1;

  /**
   * @param options - `timeoutMs` (default 60 s) and a clock (ms since the epoch)
   */
  constructor(options: { readonly timeoutMs?: number; readonly now?: () => number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Requests waiting for a decision. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Whether an approver session is attached. */
  get hasApprover(): boolean {
    return this.#session !== null;
  }

  /**
   * Whether a live grant covers `query` (the `grants` callback of `@cora/policy` evaluate).
   * @param query - task, caller exe, parent pid and start time
   * @returns true while a grant for exactly that key has not expired
   */
  hasGrant(query: GrantQuery): boolean {
    return this.#live(grantKey(query)) !== undefined;
  }

  /**
   * The live grants, oldest first (expired ones are dropped on the way).
   * @returns a copy; revoking does not change it
   */
  grants(): Grant[] {
    return [...this.#grants.keys()].flatMap((key) => this.#live(key) ?? []);
  }

  /**
   * Revoke one grant, or every one (architecture §7): removed synchronously, so a spawn that
   * checks {@link Approvals.hasGrant} afterwards, even one that was already being decided,
   * finds nothing.
   * @param which - `{ id }` of one grant, or `all`
   * @returns the grants removed (none when the id is unknown, expired or already revoked)
   */
  revoke(which: { readonly id: string } | 'all'): Grant[] {
    const revoked: Grant[] = [];
    for (const key of [...this.#grants.keys()]) {
      const grant = this.#live(key);
      if (grant === undefined || (which !== 'all' && grant.id !== which.id)) continue;
      this.#grants.delete(key);
      revoked.push(grant);
    }
    return revoked;
  }

  /** The grant under `key` if it has not expired; an expired one is deleted. */
  #live(key: string): Grant | undefined {
    const grant = this.#grants.get(key);
    if (grant === undefined) return undefined;
    if (grant.until <= this.#now()) {
      this.#grants.delete(key);
      return undefined;
    }
    return grant;
  }

  /** A fresh id no live grant has. */
  #newGrantId(): string {
    const taken = new Set([...this.#grants.values()].map((g) => g.id));
    for (;;) {
      const id = randomBytes(4).toString('hex');
      if (!taken.has(id)) return id;
    }
  }

  /**
   * Ask for a human decision and wait: until an approver decides, the time-out (then
   * `expired`: a time-out is a denial), or `signal` aborts (`cancelled`: the caller left).
   *
   * @param request - what to show the approver
   * @param signal - aborted when the caller goes away
   * @returns the id given to the request (audited at once) and the outcome
   */
  ask(
    request: ApprovalRequest,
    signal: AbortSignal,
  ): { id: number; expiresAt: number; outcome: Promise<ApprovalOutcome> } {
    const id = this.#nextId++;
    const expiresAt = this.#now() + this.#timeoutMs;
    const outcome = new Promise<ApprovalOutcome>((resolve) => {
      const timer = setTimeout(() => {
        finish({ kind: 'expired' });
      }, this.#timeoutMs);
      const onAbort = (): void => {
        finish({ kind: 'cancelled' });
      };
      const finish = (result: ApprovalOutcome): void => {
        if (!this.#pending.delete(id)) return;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#session?.send('resolved', { id, outcome: result.kind });
        resolve(result);
      };
      this.#pending.set(id, { id, request, expiresAt, finish });
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) {
        onAbort();
        return;
      }
      this.#session?.send('pending', info(id, request, expiresAt));
    });
    return { id, expiresAt, outcome };
  }

  /**
   * Make `session` the approver (the previous one, if any, ends as `replaced`) and show it
   * every request already waiting.
   * @param session - the new approver
   * @returns a function that detaches this session (no-op once replaced)
   */
  attach(session: ApproverSession): () => void {
    const previous = this.#session;
    this.#session = session;
    previous?.end('replaced');
    for (const p of this.#pending.values()) session.send('pending', info(p.id, p.request, p.expiresAt));
    return () => {
      if (this.#session === session) this.#session = null;
    };
  }

  /**
   * Apply an approver's decision. The process that asked, or any process whose ancestry holds
   * it or its parent, can never approve the request (architecture §7): such a decision denies it.
   *
   * @param session - the approver that decided (must be the attached one)
   * @param id - the pending request
   * @param decision - allow-once, allow-window or deny
   * @returns false when `id` is not pending (decided, expired or unknown) or `session` is stale
   */
  decide(session: ApproverSession, id: number, decision: ApprovalDecision): boolean {
    if (this.#session !== session) return false;
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    const approver = session.identity;
    if (isSelfApproval(pending.request.caller, approver)) {
      pending.finish({ kind: 'denied', reason: 'SELF_APPROVAL', approver });
      return true;
    }
    if (decision === 'deny') {
      pending.finish({ kind: 'denied', reason: 'DENIED', approver });
      return true;
    }
    const windowMs = pending.request.windowMs;
    const key = keyOf(pending.request);
    const parent = pending.request.caller.ancestry[0];
    if (
      decision === 'allow-once' ||
      windowMs === null ||
      key === null ||
      parent === undefined ||
      parent.startTime === null
    ) {
      pending.finish({ kind: 'granted', scope: 'once', until: null, approver });
      return true;
    }
    const now = this.#now();
    const until = windowMs === Infinity ? Infinity : now + windowMs;
    const scope = windowMs === Infinity ? 'session' : 'window';
    // A new grant under the same key replaces the old one (and gets a new id).
    this.#grants.delete(key);
    this.#grants.set(key, {
      id: this.#newGrantId(),
      task: pending.request.task,
      callerExe: pending.request.caller.exe,
      parentPid: parent.pid,
      parentStartTime: parent.startTime,
      scope,
      grantedAt: now,
      until,
      approval: id,
      approver,
    });
    const result: ApprovalOutcome = {
      kind: 'granted',
      scope,
      until: until === Infinity ? null : until,
      approver,
    };
    pending.finish(result);
    // Other requests waiting under the same key are covered by the grant just made.
    for (const other of [...this.#pending.values()]) {
      if (keyOf(other.request) === key) other.finish(result);
    }
    return true;
  }

  /** Lock: every grant goes, every waiting request is cancelled, the approver session ends. */
  clear(): void {
    this.#grants.clear();
    for (const p of [...this.#pending.values()]) p.finish({ kind: 'cancelled' });
    const session = this.#session;
    this.#session = null;
    session?.end('locked');
  }
}

function grantKey(query: GrantQuery): string {
  return `${query.task}\0${query.callerExe}\0${String(query.parentPid)}\0${String(query.parentStartTime)}`;
}

/** The grant key of a request, or null when its parent's start time is unknown (no grant then). */
function keyOf(request: ApprovalRequest): string | null {
  const parent = request.caller.ancestry[0];
  if (parent?.startTime === null || parent === undefined) return null;
  return grantKey({
    task: request.task,
    callerExe: request.caller.exe,
    parentPid: parent.pid,
    parentStartTime: parent.startTime,
  });
}

/**
 * The approver is the requester, or descends from it or from its parent (an agent that runs
 * `cr exec` and also `cr approve`). Pids are compared with start times, so a recycled pid
 * neither blocks nor passes.
 */
function isSelfApproval(requester: CallerIdentity, approver: CallerIdentity): boolean {
  const suspects: { pid: number; startTime: bigint | null }[] = [
    { pid: requester.pid, startTime: requester.startTime },
  ];
  const parent = requester.ancestry[0];
  if (parent !== undefined) suspects.push({ pid: parent.pid, startTime: parent.startTime });
  const line: { pid: number; startTime: bigint | null }[] = [
    { pid: approver.pid, startTime: approver.startTime },
    ...approver.ancestry.map((a) => ({ pid: a.pid, startTime: a.startTime })),
  ];
  return suspects.some((s) =>
    line.some(
      (a) => a.pid === s.pid && (a.startTime === null || s.startTime === null || a.startTime === s.startTime),
    ),
  );
}

/**
 * A grant as `grants.list` and `grants.revoke` report it: no start time, no argv, no value.
 * @param grant - a grant of {@link Approvals}
 * @returns its wire form
 */
export function grantInfo(grant: Grant): GrantInfo {
  return {
    id: grant.id,
    task: grant.task,
    caller: grant.callerExe,
    parentPid: grant.parentPid,
    scope: grant.scope,
    grantedAt: new Date(grant.grantedAt).toISOString(),
    expiresAt: grant.until === Infinity ? null : new Date(grant.until).toISOString(),
    approval: grant.approval,
    approver: grant.approver === null ? null : { pid: grant.approver.pid, exe: grant.approver.exe },
  };
}

/** Longest path the `pending` event carries (its schema's bound). */
const MAX_PATH_BYTES = 4096;

/**
 * The `pending` event of a request. Every part is bounded (APPROVAL_LIMITS; argv and cwd were
 * cut when the request was made) so that it fits one frame whatever the caller sent: a request
 * too large to send could be neither shown nor decided.
 */
function info(id: number, request: ApprovalRequest, expiresAt: number): ApprovalInfo {
  const { command } = request;
  return {
    id,
    task: request.task,
    target: request.target,
    argv: [...command.argv],
    argvMore: [...command.argvMore],
    argvOmitted: command.argvOmitted,
    cwd: command.cwd,
    cwdMore: command.cwdMore,
    secrets: [...request.secrets],
    caller: {
      pid: request.caller.pid,
      exe: request.caller.exe,
      script: request.caller.script?.path ?? null,
    },
    // argv0 stands in for an unreadable exe: the process chose it, of any length.
    ancestry: request.caller.ancestry.slice(0, APPROVAL_LIMITS.maxAncestors).map((a) => ({
      pid: a.pid,
      exe: cutText(a.exe ?? a.argv0 ?? '?', MAX_PATH_BYTES).kept,
    })),
    window: request.windowMs === null ? null : request.windowLabel,
    expiresAt: new Date(expiresAt).toISOString(),
    env: (request.context?.env ?? []).map((v) => ({ ...v })),
    envOmitted: request.context?.envOmitted ?? 0,
    files: (request.context?.files ?? []).map((f) => ({ ...f })),
    // How the child is confined (@cora/policy describeConfinement), bounded like every field.
    ...(request.context?.confine === undefined
      ? {}
      : {
          confine: request.context.confine.map((line) => cutText(line, APPROVAL_LIMITS.maxConfineBytes).kept),
        }),
    ...(request.context?.output === undefined ? {} : { output: request.context.output }),
  };
}
