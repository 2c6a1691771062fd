// SPDX-License-Identifier: AGPL-3.0-only
// The closed union of audit events (architecture §10, G7). Every field is a number, a boolean, a
// name or path that matches a closed pattern, or a member of a closed list: no field is there to
// carry a secret value. The one free text is the command a caller sent (`AuditCommand`), bounded
// here and masked by the service before it is recorded. The lists live here, not in @cora/ipc or
// @cora/policy (architecture §2).
import type { CallerIdentity } from '@cora/identity';

/** Requests an audit record can name (the IPC operations plus `connect`). */
export const AUDIT_OPS = Object.freeze([
  'connect',
  'hello',
  'status',
  'lock',
  'unlock',
  'init',
  'secrets.list',
  'secrets.set',
  'secrets.delete',
  'secrets.import',
  'passwd',
  'policy.get',
  'policy.set',
  'policy.explain',
  'policy.verify',
  'exec',
  'approve',
  'audit.verify',
  'audit.export',
  'grants.list',
  'grants.revoke',
] as const);
/** One of {@link AUDIT_OPS}. */
export type AuditOp = (typeof AUDIT_OPS)[number];

/** Decision and refusal reasons (policy reasons, approval outcomes, service states). */
export const AUDIT_REASONS = Object.freeze([
  'CALLER_NOT_ALLOWED',
  'CALLER_PIN_MISMATCH',
  'CALLER_HASH_UNAVAILABLE',
  'CALLER_UID_MISMATCH',
  'INTERPRETER_NEEDS_SCRIPT',
  'SCRIPT_NOT_ALLOWED',
  'UNKNOWN_TASK',
  'VIA_MISSING',
  'TARGET_NOT_FOUND',
  'TARGET_NOT_ALLOWED',
  'TARGET_PIN_MISMATCH',
  'TARGET_HASH_UNAVAILABLE',
  'TTL_EXPIRED',
  'RATE_LIMITED',
  'APPROVAL_REQUIRED',
  'ALLOWED',
  'ALLOWED_BY_GRANT',
  'LOCKED',
  'NOT_CLI',
  'PEER_CHANGED',
  'AUTH_FAILED',
  'NO_VAULT',
  'VAULT_ROLLBACK',
  'SELF_APPROVAL',
  'DENIED',
  'TIMED_OUT',
  'CANCELLED',
  'GRANT_REVOKED',
  'CONFINE_UNSUPPORTED',
] as const);
/** One of {@link AUDIT_REASONS}. */
export type AuditReason = (typeof AUDIT_REASONS)[number];

/** Why the service locked. */
export const LOCK_REASONS = Object.freeze([
  'request',
  'idle',
  'lifetime',
  'suspend',
  'signal',
  'error',
  'shutdown',
  /** `cr stop`: locked, then the service exits (the record names the caller). */
  'stop',
] as const);
/** One of {@link LOCK_REASONS}. */
export type LockReason = (typeof LOCK_REASONS)[number];

/** Every event type, in the order of the README's table. */
export const AUDIT_EVENT_TYPES = Object.freeze([
  'service-start',
  'service-stop',
  'connect',
  'status-polls',
  'caller-refused',
  'unlock',
  'unlock-failed',
  'auth-failed',
  'lock',
  'task-start',
  'secret-injected',
  'secret-missing',
  'task-end',
  'target-refused',
  'task-refused',
  'rate-limited',
  'approval-requested',
  'approval-granted',
  'approval-denied',
  'approval-expired',
  'grant-revoked',
  'secret-set',
  'secret-deleted',
  'policy-changed',
  'passwd',
  'protocol-error',
  'file-start',
  'vault-write',
  'vault-state',
] as const);
/** Operations that write the vault file (`vault-write`). */
export const VAULT_OPS = Object.freeze([
  'init',
  'secrets.set',
  'secrets.delete',
  'secrets.import',
  'passwd',
  'policy.set',
] as const);
/** One of {@link VAULT_OPS}. */
export type VaultOp = (typeof VAULT_OPS)[number];

/** One of {@link AUDIT_EVENT_TYPES}. */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who made a request, reduced to what an audit line needs (no argv, no environment). */
export interface CallerSummary {
  readonly pid: number;
  /** The caller's uid; -1 on Windows, which has none (see `sid`). */
  readonly uid: number;
  /** Windows: the caller's token user SID. */
  readonly sid?: string;
  /** Absolute path of the caller's executable. */
  readonly exe: string;
  /** Script path when the caller is an interpreter running one (weaker evidence, architecture §6). */
  readonly script?: string;
  readonly parentPid?: number;
  readonly parentExe?: string;
  /** Whether the caller is Cora's own CLI. */
  readonly cli: boolean;
}

/** `service-start`: the service process started (always written while locked). */
export interface ServiceStartEvent {
  readonly type: 'service-start';
  readonly pid: number;
  readonly version: string;
}
/** `service-stop`: the service is exiting. */
export interface ServiceStopEvent {
  readonly type: 'service-stop';
  readonly reason: 'signal' | 'shutdown' | 'error';
}
/** `connect`: a caller connected and was identified by the kernel. */
export interface ConnectEvent {
  readonly type: 'connect';
  readonly caller: CallerSummary;
}
/**
 * `status-polls`: admitted connections that asked only `status`, counted per caller instead of
 * one `connect` record each (a status bar polling every second would write 86,400 a day).
 * One record per caller and window, naming the last poller, how many and since when.
 */
export interface StatusPollsEvent {
  readonly type: 'status-polls';
  readonly caller: CallerSummary;
  readonly count: number;
  /** When the first poll of the window came (ISO-8601 UTC with ms). */
  readonly since: string;
}
/** `caller-refused`: a caller or one of its requests was refused before any work. */
export interface CallerRefusedEvent {
  readonly type: 'caller-refused';
  readonly caller: CallerSummary;
  readonly op: AuditOp;
  readonly reason: AuditReason;
}
/** `unlock`: the vault was unlocked; written with the audit key, it seals the locked records before it. */
export interface UnlockEvent {
  readonly type: 'unlock';
  readonly caller: CallerSummary;
  readonly secrets: number;
}
/** `unlock-failed`: an unlock attempt failed. */
export interface UnlockFailedEvent {
  readonly type: 'unlock-failed';
  readonly caller: CallerSummary;
  readonly reason: AuditReason;
}
/** `auth-failed`: a wrong passphrase on a mutation or an approval. */
export interface AuthFailedEvent {
  readonly type: 'auth-failed';
  readonly caller: CallerSummary;
  readonly op: AuditOp;
}
/** `lock`: the service locked; written before the key is cleared, it seals the head. */
export interface LockEvent {
  readonly type: 'lock';
  readonly reason: LockReason;
  readonly caller?: CallerSummary;
}
/**
 * Bounds of {@link AuditCommand} (UTF-8 bytes of the masked text kept; what is past them is
 * counted, not written). The schema refuses anything larger.
 */
export const AUDIT_COMMAND_LIMITS = Object.freeze({
  /** Arguments kept (the `exec` request's own limit). */
  maxArgs: 256,
  /** Bytes kept of one argument. */
  maxArgBytes: 1024,
  /** Bytes kept of all arguments together; the arguments after the cut are counted. */
  maxArgvBytes: 16 * 1024,
  /** Bytes kept of the working directory. */
  maxCwdBytes: 4096,
});

/**
 * The command a caller asked to run, as the audit keeps it: the caller's own data (not a
 * secret), but free text, so the service masks it with the task's masker (every value of the
 * task and its encodings become `<concealed:NAME>`) and cuts it to {@link AUDIT_COMMAND_LIMITS}
 * before it is recorded. Strings are stored as data (exact after masking and cutting); readers
 * escape them for display. On disk every character outside printable ASCII is a `\uXXXX`
 * escape, so the file itself cannot steer a terminal (README "Record format").
 */
export interface AuditCommand {
  /** The arguments kept, argv[0] as typed. */
  readonly argv: readonly string[];
  /** Bytes left out of each kept argument (one entry per `argv` item; 0: the whole argument). */
  readonly argvMore: readonly number[];
  /** Arguments left out after the last kept one. */
  readonly argvOmitted: number;
  /** The child's working directory (the caller's), possibly cut. */
  readonly cwd: string;
  /** Bytes left out of `cwd`. */
  readonly cwdMore: number;
}

/** `task-start`: a task was allowed and is being spawned. */
export interface TaskStartEvent {
  readonly type: 'task-start';
  readonly caller: CallerSummary;
  readonly task: string;
  readonly target: string;
  readonly secrets: readonly string[];
  readonly output: 'masked' | 'passthrough';
  readonly reason: AuditReason;
  readonly weak: boolean;
  /** What was run and where (masked, bounded); absent in records written before it existed. */
  readonly command?: AuditCommand;
}
/** `secret-injected`: the child is running with these secrets (names only). */
export interface SecretInjectedEvent {
  readonly type: 'secret-injected';
  readonly task: string;
  readonly pid: number;
  readonly secrets: readonly string[];
}
/** `secret-missing`: a task names a secret the vault does not hold. */
export interface SecretMissingEvent {
  readonly type: 'secret-missing';
  readonly caller: CallerSummary;
  readonly task: string;
  readonly secret: string;
}
/** `task-end`: the child exited. */
export interface TaskEndEvent {
  readonly type: 'task-end';
  readonly task: string;
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly durationMs: number;
}
/** `target-refused`: the command a caller asked for is not one the task allows. */
export interface TargetRefusedEvent {
  readonly type: 'target-refused';
  readonly caller: CallerSummary;
  readonly task: string;
  readonly target: string | null;
  readonly reason: AuditReason;
}
/** `task-refused`: unknown task, missing `via`, or another denial. */
export interface TaskRefusedEvent {
  readonly type: 'task-refused';
  readonly caller: CallerSummary;
  readonly task: string;
  readonly reason: AuditReason;
}
/** `rate-limited`: `max_spawns` or `ttl` stopped a spawn. */
export interface RateLimitedEvent {
  readonly type: 'rate-limited';
  readonly caller: CallerSummary;
  readonly task: string;
  readonly limit: 'max_spawns' | 'ttl';
}
/** `approval-requested`: a spawn waits for a human. */
export interface ApprovalRequestedEvent {
  readonly type: 'approval-requested';
  readonly id: number;
  readonly caller: CallerSummary;
  readonly task: string;
  readonly target: string;
  readonly secrets: readonly string[];
  readonly timeoutMs: number;
  /** What the approver is asked to allow (masked, bounded); absent in older records. */
  readonly command?: AuditCommand;
}
/** `approval-granted`: an approver allowed a pending request. */
export interface ApprovalGrantedEvent {
  readonly type: 'approval-granted';
  readonly id: number;
  readonly task: string;
  readonly approver: CallerSummary;
  readonly scope: 'once' | 'window' | 'session';
  readonly until: string | null;
}
/** `approval-denied`: denied, self-approval refused, or cancelled. */
export interface ApprovalDeniedEvent {
  readonly type: 'approval-denied';
  readonly id: number;
  readonly task: string;
  readonly approver: CallerSummary | null;
  readonly reason: AuditReason;
}
/** `approval-expired`: nobody answered in time (time-out = deny). */
export interface ApprovalExpiredEvent {
  readonly type: 'approval-expired';
  readonly id: number;
  readonly task: string;
}
/**
 * `grant-revoked`: a live approval grant was revoked on request (`cr grants revoke`, the TUI).
 * `caller` revoked it; `approval` is the id of the `approval-granted` record that made it (ids
 * count from 1 again at each `service-start`); `grant` is its 8-hex-digit id as `cr grants list`
 * showed it (made by the service, never by a caller); `exe` and `parentPid` are whom it was
 * for. Lock forgets every grant without this record (the `lock` record says it).
 */
export interface GrantRevokedEvent {
  readonly type: 'grant-revoked';
  readonly caller: CallerSummary;
  readonly grant: string;
  readonly approval: number;
  readonly task: string;
  readonly exe: string;
  readonly parentPid: number;
  readonly scope: 'window' | 'session';
  readonly until: string | null;
}
/** `secret-set`: secrets were stored (names only). */
export interface SecretSetEvent {
  readonly type: 'secret-set';
  readonly caller: CallerSummary;
  readonly names: readonly string[];
  readonly replaced: readonly string[];
}
/** `secret-deleted`: a secret was deleted. */
export interface SecretDeletedEvent {
  readonly type: 'secret-deleted';
  readonly caller: CallerSummary;
  readonly name: string;
}
/** `policy-changed`: the policy was replaced (sizes only). */
export interface PolicyChangedEvent {
  readonly type: 'policy-changed';
  readonly caller: CallerSummary;
  readonly tasks: number;
  readonly callers: number;
}
/** `passwd`: the passphrase was changed. */
export interface PasswdEvent {
  readonly type: 'passwd';
  readonly caller: CallerSummary;
}
/**
 * `protocol-error`: a malformed or refused frame (wire error code only). `pid` and `uid` name
 * the caller, from the kernel (SO_PEERCRED) when it was cut before it was identified; `uid` is
 * absent when neither gave one.
 */
export interface ProtocolErrorEvent {
  readonly type: 'protocol-error';
  readonly pid: number | null;
  readonly uid?: number;
  readonly code: string;
}
/** `file-start`: written by the log itself as the first record of every file after the first. */
export interface FileStartEvent {
  readonly type: 'file-start';
  readonly previous: string | null;
  readonly torn: number;
}

/**
 * `vault-write`: one step of a vault write. `intent` is on disk before the new file is renamed
 * into place, `commit` after it, `abort` when it never was. `sha256` is the hash of the new
 * (encrypted, public) file and `previous` of the file it replaces; `recovered` marks the
 * commit or abort a service wrote at start for a write that a crash left half done.
 */
export interface VaultWriteEvent {
  readonly type: 'vault-write';
  readonly phase: 'intent' | 'commit' | 'abort';
  readonly op: VaultOp;
  readonly generation: number;
  readonly sha256: string;
  readonly previous: string | null;
  readonly recovered: boolean;
}

/**
 * `vault-state`: the vault the log vouches for, restated. `carry` opens a rotated file so the
 * newest file always names it; `first-use` adopts a vault the log had never seen; `adopted`
 * records the user's explicit acceptance of a file the log did not vouch for (`vouched` is the
 * generation it vouched for until then).
 */
export interface VaultStateEvent {
  readonly type: 'vault-state';
  readonly reason: 'carry' | 'first-use' | 'adopted';
  readonly generation: number;
  readonly sha256: string;
  readonly vouched: number | null;
}

/** Any audit event: a discriminated union on `type` (without the record fields). */
export type AuditEvent =
  | ServiceStartEvent
  | ServiceStopEvent
  | ConnectEvent
  | StatusPollsEvent
  | CallerRefusedEvent
  | UnlockEvent
  | UnlockFailedEvent
  | AuthFailedEvent
  | LockEvent
  | TaskStartEvent
  | SecretInjectedEvent
  | SecretMissingEvent
  | TaskEndEvent
  | TargetRefusedEvent
  | TaskRefusedEvent
  | RateLimitedEvent
  | ApprovalRequestedEvent
  | ApprovalGrantedEvent
  | ApprovalDeniedEvent
  | ApprovalExpiredEvent
  | GrantRevokedEvent
  | SecretSetEvent
  | SecretDeletedEvent
  | PolicyChangedEvent
  | PasswdEvent
  | ProtocolErrorEvent
  | FileStartEvent
  | VaultWriteEvent
  | VaultStateEvent;

/** The fields every line adds around an event (see the README's "Record format"). */
export interface RecordFields {
  readonly v: 1;
  readonly seq: number;
  /** ISO-8601 UTC with milliseconds. */
  readonly time: string;
  /** Lower-case hex SHA-256 of the previous line (64 zeros for the first record of a log). */
  readonly prev: string;
  /** Lower-case hex HMAC-SHA256 with the audit key, or `null` when written while locked. */
  readonly mac: string | null;
}

/** One line of the log: an event plus its record fields. */
export type AuditRecord = AuditEvent & RecordFields;

/**
 * Reduce a kernel-verified identity to the audit's caller summary: pid, uid, executable,
 * script path, the parent's pid and executable. Drops argv, start times and everything else.
 *
 * @param identity - from `@cora/identity`'s `peerIdentity`
 * @param cli - whether the caller was recognised as Cora's own CLI
 * @returns a summary that {@link validateEvent} accepts when the paths are within bounds
 * @example
 * ```ts
 * await log.append({ type: 'connect', caller: callerSummary(peer.identity, true) });
 * ```
 */
export function callerSummary(identity: CallerIdentity, cli: boolean): CallerSummary {
  const parent = identity.ancestry[0];
  return {
    pid: identity.pid,
    uid: identity.uid,
    ...(identity.sid === undefined ? {} : { sid: identity.sid }),
    exe: identity.exe,
    ...(identity.script === undefined ? {} : { script: identity.script.path }),
    ...(parent === undefined ? {} : { parentPid: parent.pid }),
    ...(parent?.exe === undefined || parent.exe === null ? {} : { parentExe: parent.exe }),
    cli,
  };
}

/** What a problem found by verify is. */
export type VerifyProblemKind =
  'bad-json' | 'bad-record' | 'seq' | 'chain' | 'mac' | 'head-mismatch' | 'missing-file';
