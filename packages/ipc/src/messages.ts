// SPDX-License-Identifier: AGPL-3.0-only
// Every message of the protocol as a type, with its limits: the one table a reader checks
// against the README (long because the protocol is, not because it mixes concerns).
import type { WireErrorCode } from './errors.ts';

/** The protocol version this package speaks (sent in `hello`). */
export const PROTOCOL_VERSION = 1;

/** Every protocol version a server built from this package accepts in `hello`. */
export const SUPPORTED_PROTOCOLS: readonly number[] = Object.freeze([PROTOCOL_VERSION]);

/** Request ids are integers from 1 to this (2^31 − 1). Id 0 marks connection-level errors. */
export const MAX_REQUEST_ID = 0x7fffffff;

/** Deepest nesting of objects and arrays a header may have. */
export const MAX_HEADER_DEPTH = 8;

/**
 * Limits of an `exec` request (architecture §8), past which the server refuses it: argv items
 * and count, and the caller's environment offered for `env_pass` (a value is capped at
 * MAX_ARG_STRLEN, what one execve string may hold).
 */
export const EXEC_LIMITS = Object.freeze({
  maxArgs: 256,
  maxArgBytes: 4096,
  maxEnvVars: 256,
  maxEnvNameBytes: 256,
  maxEnvValueBytes: 128 * 1024,
});

/**
 * Whether one environment variable can cross in an `exec` request: a name without `=` or NUL
 * within {@link EXEC_LIMITS}, a value without NUL within them. The count is checked apart.
 *
 * @param name - the variable's name
 * @param value - its value
 * @returns true when the server's schema accepts the pair
 */
export function isCarriableEnvVar(name: string, value: string): boolean {
  return (
    name !== '' &&
    !name.includes('=') &&
    !name.includes('\0') &&
    Buffer.byteLength(name) <= EXEC_LIMITS.maxEnvNameBytes &&
    !value.includes('\0') &&
    Buffer.byteLength(value) <= EXEC_LIMITS.maxEnvValueBytes
  );
}

/** Parameters of a message that has none. */
// eslint-disable-next-line @typescript-eslint/no-generated-empty-object-type -- intersected with the header fields
export type EmptyParams = Record<never, never>;

/**
 * The header parameters of each message type, beside `v`, `id` and `type`. Secret bytes are
 * never parameters: they travel in the attachment ({@link ATTACHMENT_PARTS}).
 */
export interface RequestParams {
  /** First frame of every connection. */
  hello: { readonly protocol: number; readonly client: string };
  status: EmptyParams;
  /**
   * Wipe every secret. `stop`: then end the service process (`cr stop`); only the `cr` CLI may
   * ask, and the reply may be cut off by the exit (wait for the process instead).
   */
  lock: { readonly stop?: boolean };
  /**
   * Attachment: the passphrase. `acceptVault`: adopt a vault file the audit log does not vouch
   * for (an older generation, or one written elsewhere) instead of refusing it; audited.
   */
  unlock: {
    readonly acceptVault?: boolean;
    /** Lock after this long without a request, for this unlock (0 = never); default the service's. */
    readonly idleTimeoutMs?: number;
    /** Lock this long after this unlock whatever happens (0 = no limit); default the service's. */
    readonly lifetimeMs?: number;
  };
  /** Create the vault (`cr init`), through the service that owns the home. Attachment: the new passphrase. */
  init: { readonly by: 'cli' | 'tui' };
  'secrets.list': EmptyParams;
  /** Attachment: passphrase, value (see `packParts`). */
  'secrets.set': { readonly name: string };
  /**
   * Attachment: the passphrase. A secret that tasks use is refused with `IN_USE` (naming
   * them) unless `force` confirms the delete.
   */
  'secrets.delete': { readonly name: string; readonly force?: boolean };
  /** Attachment: passphrase, then one value per name, in order. */
  'secrets.import': { readonly names: readonly string[] };
  /** Attachment: old passphrase, new passphrase. */
  passwd: EmptyParams;
  /** The policy of the unlocked vault (architecture §7; not secret). */
  'policy.get': EmptyParams;
  /**
   * Replace the policy. `policy` must be a JSON object (the service validates it with
   * `@cora/policy`; this package only checks its shape and the frame limit). Attachment: the
   * passphrase (architecture §7: every change needs it). A task that names a secret the vault
   * does not hold is refused with `NOT_FOUND` unless `allowMissingSecrets` (a secret added later).
   */
  'policy.set': {
    readonly policy: unknown;
    readonly allowMissingSecrets?: boolean;
    /**
     * Accept a task target that runs code its caller chooses (a shell, an interpreter, a
     * launcher such as `env` or `npm`); refused with `NOT_ALLOWED` otherwise, for targets a
     * task did not already have.
     */
    readonly allowInterpreterTargets?: boolean;
  };
  /** Walk the policy decision for a would-be `exec` without running anything. */
  'policy.explain': {
    readonly task: string;
    readonly argv: readonly string[];
    /** Decide for this executable as the caller instead of the one asking. */
    readonly caller?: string;
    /**
     * Decide as if the caller ran under this program too (an agent's executable, or the script
     * an interpreter runs): what `cr exec` from inside that agent would meet at `via`.
     */
    readonly under?: string;
  };
  /**
   * What the service would decide for the process holding `pid` as a caller, now (its
   * identity, the caller rules that match, `via` per task), without running anything. Only
   * the `cr` CLI may ask. A pid names a process only for a moment: the service identifies a
   * caller again when it connects.
   */
  'policy.verify': { readonly pid: number };
  /**
   * Run a task (architecture §8). Follow-up frames ({@link InputParams}) reference this request's id
   * while it is in flight; the server streams `started`, `stdout` and `stderr` events and ends
   * with {@link ExecResult}. For an `output: passthrough` task it first sends `fds` `{ path }`:
   * the client hands its fds 0-2 to that unix socket (SCM_RIGHTS) and gets no output events.
   */
  exec: ExecParams;
  /**
   * Become an approver (architecture §7): attachment = the passphrase, proved once. The service then
   * streams `ready`, one `pending` ({@link ApprovalInfo}) per request waiting for a human and
   * `resolved` ({@link ApprovalResolved}) when one is decided, expires or is withdrawn; the
   * client decides with `approve.decide` follow-ups. Ends with {@link ApproveResult} when the
   * vault locks or another approver session replaces this one.
   */
  approve: EmptyParams;
  /** Verify the audit log with the service's key and in-memory head (architecture §10). */
  'audit.verify': EmptyParams;
  /**
   * Export the verified audit log: `line` events (`{ line }`, one record each), then
   * {@link AuditExportResult}; the last line is the MACed trailer.
   */
  'audit.export': EmptyParams;
  /**
   * The live approval grants (architecture §7): who may run which task without asking until
   * when. Metadata only; no passphrase needed (see SECURITY.md "Approvals").
   */
  'grants.list': EmptyParams;
  /**
   * Forget one grant (`grant`: its `id` in {@link GrantInfo}) or every grant (`all: true`), at
   * once: no later spawn uses it. No passphrase needed: a revoke only narrows access.
   */
  'grants.revoke': { readonly grant: string } | { readonly all: true };
}

/**
 * The shape of a grant id: 8 lower-case hex digits, random, stable while the grant lives.
 * It names a grant; it is not a credential (knowing it lets a caller revoke, never use, it).
 */
export const GRANT_ID_PATTERN: RegExp = /^[0-9a-f]{8}$/;

/** One live grant, as `grants.list` reports it. Names, paths, pids and times only. */
export interface GrantInfo {
  /** Opaque, stable while the grant lives ({@link GRANT_ID_PATTERN}). */
  readonly id: string;
  readonly task: string;
  /** The caller executable the grant is for. */
  readonly caller: string;
  /** The parent process the grant is for (with its start time, which is not shown). */
  readonly parentPid: number;
  /** `window`: until `expiresAt`; `session`: until the vault locks. */
  readonly scope: 'window' | 'session';
  /** ISO-8601. */
  readonly grantedAt: string;
  /** ISO-8601, or null for a `session` grant (it ends at lock). */
  readonly expiresAt: string | null;
  /** The approval request that made it (the `id` of its `approval-granted` audit record). */
  readonly approval: number;
  /** Who approved it, when known. */
  readonly approver: { readonly pid: number; readonly exe: string } | null;
}

/** What an approver sees of a request waiting for approval. Names only, never a value. */
export interface ApprovalInfo {
  /** Unique for the life of the service. */
  readonly id: number;
  readonly task: string;
  /** The resolved target binary. */
  readonly target: string;
  /**
   * The command line as the caller sent it, masked with the task's secrets and cut at
   * {@link APPROVAL_LIMITS} (`maxArgBytes` each, `maxArgvBytes` in all).
   */
  readonly argv: readonly string[];
  /** UTF-8 bytes left out of each `argv` item (one entry per item; 0: the whole argument). */
  readonly argvMore: readonly number[];
  /** Arguments left out after the last one in `argv`. */
  readonly argvOmitted: number;
  /** The child's working directory, masked like `argv` and cut at 4096 bytes. */
  readonly cwd: string;
  /** UTF-8 bytes left out of `cwd`. */
  readonly cwdMore: number;
  /** Names of the secrets the task would inject. */
  readonly secrets: readonly string[];
  readonly caller: { readonly pid: number; readonly exe: string; readonly script: string | null };
  /** Parent first, up to init. */
  readonly ancestry: readonly { readonly pid: number; readonly exe: string }[];
  /** The grant window `allow-window` would give (`15m`, `session`), or null for `approve: once`. */
  readonly window: string | null;
  /** ISO-8601: the request is denied when nobody decides by then. */
  readonly expiresAt: string;
  /**
   * The variables the child gets from the caller's environment (architecture §7: the base names,
   * `LC_*` and the task's `env_pass`; one a secret replaces is not listed), by name. The
   * caller's own values, never a secret; each cut at {@link APPROVAL_LIMITS}, `more` counting
   * the bytes left out.
   */
  readonly env: readonly ApprovalEnvVar[];
  /** Variables left out of `env` past {@link APPROVAL_LIMITS} `maxEnv`. */
  readonly envOmitted: number;
  /** Files known to steer common targets, present in the child's HOME or working directory. */
  readonly files: readonly ApprovalFile[];
  /**
   * How the task confines the child, in words (`clean HOME: …`, `writes only in …`,
   * `connects only to TCP ports …`), each cut at {@link APPROVAL_LIMITS} `maxConfineBytes`;
   * empty when it is not confined. Absent from a service that predates it.
   */
  readonly confine?: readonly string[];
  /**
   * The task's `output`: `passthrough` means the child's output reaches the caller unmasked.
   * Absent from a service that predates it.
   */
  readonly output?: 'masked' | 'passthrough';
}

/** One variable of {@link ApprovalInfo} `env`. */
export interface ApprovalEnvVar {
  readonly name: string;
  readonly value: string;
  /** UTF-8 bytes of the value left out (0: the whole value). */
  readonly more: number;
}

/** One file of {@link ApprovalInfo} `files`: it can change what an allowed target does. */
export interface ApprovalFile {
  /** The child's HOME (`~/`) or its working directory (`./`). */
  readonly where: 'home' | 'cwd';
  /** Relative to that directory: `.curlrc`, `.ssh/config`. */
  readonly path: string;
  /** ISO-8601 modification time. */
  readonly modified: string;
}

/**
 * Bounds of what an approver is sent ({@link ApprovalInfo}). With them the `pending` event
 * fits one frame whatever the caller sent: each string at most 6 × its bytes as JSON (a control
 * character is `\u001b`), in all under 1 MiB (the service's test builds the largest one).
 */
export const APPROVAL_LIMITS = Object.freeze({
  maxArgBytes: 1024,
  maxArgvBytes: 16 * 1024,
  maxAncestors: 8,
  maxEnv: 64,
  maxEnvValueBytes: 1024,
  maxFiles: 32,
  maxFilePathBytes: 256,
  maxConfineBytes: 1024,
});

/** How a pending approval ended, as an approver is told. */
export interface ApprovalResolved {
  readonly id: number;
  readonly outcome: 'granted' | 'denied' | 'expired' | 'cancelled';
}

/** An approver's answer to one pending request. */
export type ApprovalDecision = 'allow-once' | 'allow-window' | 'deny';

/** Signals a client may forward to a running `exec` child. */
export type ExecSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGQUIT' | 'SIGKILL';

/** Parameters of `exec`. None of them is secret. */
export interface ExecParams {
  /** The task name (architecture §7 `tasks.<NAME>`). */
  readonly task: string;
  /** The command line, 1–256 items of at most 4096 UTF-8 bytes each, no NUL. */
  readonly argv: readonly string[];
  /** The caller's working directory: absolute, at most 4096 bytes, no NUL. */
  readonly cwd: string;
  /**
   * The caller's environment variables offered for the task's `env_pass` (at most 256; names
   * without `=` or NUL). Never secrets: the service adds those itself.
   */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Whether the caller's stdin and stdout are a terminal: the service then runs the child on a
   * pty (its output is one stream, sent as `stdout`) and honours `exec.resize`.
   */
  readonly tty?: boolean;
  /** The caller's terminal width in columns (1–65535), the pty's initial size with `tty`. */
  readonly cols?: number;
  /** The caller's terminal height in rows (1–65535), the pty's initial size with `tty`. */
  readonly rows?: number;
}

/**
 * Follow-up frames: sent by the client while the request `ref` (an `exec`) is in flight,
 * each with its own fresh `id`. They get no reply when delivered; a follow-up whose `ref` is
 * not an `exec` in flight on this connection (unknown, finished, another type) is answered
 * with a `NOT_FOUND` error under the follow-up's own id, and the connection stays. They take
 * no rate token and no in-flight slot (architecture §5 limits apply to requests): piping a large
 * stdin is bounded by the socket's back-pressure instead.
 */
export interface InputParams {
  /** Attachment: the bytes (non-empty); or `eof: true` with an empty attachment. */
  'exec.stdin': { readonly ref: number; readonly eof?: true };
  'exec.signal': { readonly ref: number; readonly signal: ExecSignal };
  /** Terminal size, 1–65535 each. */
  'exec.resize': { readonly ref: number; readonly cols: number; readonly rows: number };
  /** An approver's decision on the pending request `approval`; `ref` is the `approve` request. */
  'approve.decide': { readonly ref: number; readonly approval: number; readonly decision: ApprovalDecision };
}

/** The follow-up frame types. */
export type InputType = keyof InputParams;

/** The header of a follow-up frame of type `T`: `{ v?, id, type, ref, …params }`. */
export type InputHeader<T extends InputType = InputType> = {
  [K in T]: { readonly v?: number; readonly id: number; readonly type: K } & InputParams[K];
}[T];

/** Every request type a client may send (follow-up frames are {@link InputType}). */
export type MessageType = keyof RequestParams;

/** The message types a server hands to its handlers (`hello` is answered by the server itself). */
export type RequestType = Exclude<MessageType, 'hello'>;

/** The header of a request of type `T`: `{ v?, id, type, …params }`. */
export type RequestHeader<T extends MessageType = MessageType> = {
  [K in T]: { readonly v?: number; readonly id: number; readonly type: K } & RequestParams[K];
}[T];

/** Result of `hello`. */
export interface HelloResult {
  readonly protocol: number;
  /** Name and version of the server, e.g. `cora/0.1.0`. */
  readonly server: string;
}

/** Result of `status` (`cr status --json` prints it). */
export interface StatusResult {
  readonly state: 'locked' | 'unlocked';
  readonly secrets: number;
  readonly pid: number;
  readonly socket: string;
  /** ISO-8601 time at which the service locks itself when idle, or `null` while locked. */
  readonly idleDeadline: string | null;
  readonly version: string;
  /**
   * ISO-8601 time at which this unlock's absolute lifetime locks it, whatever happens; `null`
   * while locked or without a lifetime. Absent from services before it.
   */
  readonly lifetimeDeadline?: string | null;
  /** ISO-8601 time of this unlock; `null` while locked. Absent from services before it. */
  readonly unlockedAt?: string | null;
  /**
   * The last lock since the service started, with why; `null` when it has not locked since
   * (a fresh service starts locked). Absent from services before it.
   */
  readonly lastLock?: StatusLock | null;
}

/**
 * Why the service locked: `request` (`cr lock`), `stop` (`cr stop`), `idle` (idle timeout),
 * `lifetime` (the unlock's absolute lifetime), `suspend` (the machine slept), `signal`,
 * `shutdown` (the service stopping) or `error`.
 */
export type StatusLockReason =
  'request' | 'stop' | 'idle' | 'lifetime' | 'suspend' | 'signal' | 'shutdown' | 'error';

/** A lock the service remembers: why and when (`status`). */
export interface StatusLock {
  readonly reason: StatusLockReason;
  /** ISO-8601. */
  readonly at: string;
}

/** Result of `lock`. */
export interface LockResult {
  readonly state: 'locked';
}

/** Result of `unlock`. */
export interface UnlockResult {
  readonly state: 'unlocked';
  readonly secrets: number;
}

/** One entry of `secrets.list`: metadata only, never a value (G2). */
export interface SecretMeta {
  readonly name: string;
  /** ISO-8601. */
  readonly created: string;
  /** ISO-8601. */
  readonly updated: string;
  /** Value length in bytes (not secret). */
  readonly length?: number;
}

/** Result of `secrets.set`. */
export interface SecretsSetResult {
  readonly name: string;
  /** `true` when a value was already stored under this name. */
  readonly replaced: boolean;
}

/** Result of `secrets.delete`. */
export interface SecretsDeleteResult {
  readonly name: string;
}

/** Result of `secrets.import`. */
export interface SecretsImportResult {
  readonly created: readonly string[];
  readonly replaced: readonly string[];
}

/** Result of `init`: the new vault's generation (it continues the audit log's history). */
export interface InitResult {
  readonly created: true;
  readonly generation: number;
}

/** Result of `passwd`. */
export interface PasswdResult {
  readonly changed: true;
}

/** Result of `policy.get`: the policy JSON object (not secret). */
export interface PolicyGetResult {
  readonly policy: unknown;
}

/** Result of `policy.set`. */
export interface PolicySetResult {
  readonly ok: true;
}

/** One step of `policy.explain`, in the order of architecture §7. */
export interface PolicyExplainStep {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Result of `policy.explain`. */
export interface PolicyExplainResult {
  readonly steps: readonly PolicyExplainStep[];
  readonly outcome: 'allow' | 'deny' | 'needs-approval';
  readonly reason: string;
}

/** A process as `policy.verify` saw it (architecture §6): what the service reads at connect. */
export interface PolicyVerifyProcess {
  readonly pid: number;
  /** Effective uid. */
  readonly uid: number;
  /** Start time in clock ticks since boot, in decimal: with the pid it names one process. */
  readonly startTime: string;
  readonly exe: string;
  /** SHA-256 of the running executable, computed when a caller rule pins one; else null. */
  readonly exeSha256: string | null;
  /** The script an interpreter runs (weaker evidence), or null. */
  readonly script: string | null;
  /** Parent first, at most 8; `exe` is null where it could not be read. */
  readonly ancestry: readonly { readonly pid: number; readonly uid: number; readonly exe: string | null }[];
  /** Whether a pidfd pinned the process while it was read (else its start time only). */
  readonly pinned: boolean;
}

/** One rule of `callers` or `status_callers`, and whether it matches the process. */
export interface PolicyVerifyRule {
  readonly list: 'callers' | 'status_callers';
  readonly exe: string;
  readonly script: string | null;
  readonly uid: number | null;
  readonly sha256: string | null;
  readonly match: boolean;
  /** `ALLOWED`, or the policy's reason code (`CALLER_PIN_MISMATCH`, `SCRIPT_NOT_ALLOWED`…). */
  readonly reason: string;
  /** Whether the running executable has the rule's `sha256`; null when the rule pins nothing. */
  readonly pin: boolean | null;
  readonly detail: string;
}

/** What the gate answers for a kind of request: allowed, or the policy's reason. */
export interface PolicyVerifyGate {
  readonly allowed: boolean;
  readonly reason: string;
  readonly detail: string;
}

/** Result of `policy.verify`: what the service would decide for a process as a caller. */
export interface PolicyVerifyResult {
  readonly process: PolicyVerifyProcess;
  /** Whether it is this installation's `cr`, which is always allowed, and why not when not. */
  readonly cli: { readonly match: boolean; readonly detail: string };
  /** Every rule of `callers`, then of `status_callers`, in order. */
  readonly rules: readonly PolicyVerifyRule[];
  /** Every request but `status` (`exec`, `secrets.list`…). */
  readonly requests: PolicyVerifyGate;
  readonly status: PolicyVerifyGate;
  /** Each task: whether its `via` is met by the process or its ancestry. */
  readonly tasks: readonly { readonly task: string; readonly via: boolean; readonly detail: string }[];
}

/** Result of `exec`: the child's exit code, or the signal that killed it. */
export interface ExecResult {
  readonly code: number | null;
  readonly signal: string | null;
}

/** Result of `approve`: why the approver session ended. */
export interface ApproveResult {
  readonly ended: 'locked' | 'replaced';
}

/** Where `audit.verify` found the first problem. */
export interface AuditProblem {
  readonly file: string;
  /** 1-based line number in `file`. */
  readonly line: number;
  readonly seq: number | null;
  readonly kind: string;
  readonly message: string;
}

/** Result of `audit.verify` (see `@cora/audit` for what each check can and cannot detect). */
export interface AuditVerifyResult {
  readonly ok: boolean;
  readonly records: number;
  readonly files: readonly string[];
  readonly macChecked: boolean;
  readonly lastSealedSeq: number | null;
  /** Records after the last MACed one. */
  readonly unsealed: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly torn: { readonly file: string; readonly offset: number; readonly bytes: number } | null;
  readonly firstProblem: AuditProblem | null;
}

/** Result of `audit.export`: what the trailer line says. */
export interface AuditExportResult {
  readonly count: number;
  readonly head: string;
}

/** Result of `grants.revoke`: the grants it removed (empty for `all` when there were none). */
export interface GrantsRevokeResult {
  readonly revoked: readonly GrantInfo[];
}

/** The result type of each message type. */
export interface Results {
  hello: HelloResult;
  status: StatusResult;
  lock: LockResult;
  unlock: UnlockResult;
  init: InitResult;
  'secrets.list': readonly SecretMeta[];
  'secrets.set': SecretsSetResult;
  'secrets.delete': SecretsDeleteResult;
  'secrets.import': SecretsImportResult;
  passwd: PasswdResult;
  'policy.get': PolicyGetResult;
  'policy.set': PolicySetResult;
  'policy.explain': PolicyExplainResult;
  'policy.verify': PolicyVerifyResult;
  exec: ExecResult;
  approve: ApproveResult;
  'audit.verify': AuditVerifyResult;
  'audit.export': AuditExportResult;
  'grants.list': readonly GrantInfo[];
  'grants.revoke': GrantsRevokeResult;
}

/** The `error` of a failed reply. */
export interface ErrorBody {
  readonly code: WireErrorCode;
  /** Plain text for humans; never secret bytes, never a thrown error's own message. */
  readonly message: string;
  /** With `UNSUPPORTED_VERSION`: the protocol versions the server speaks. */
  readonly supported?: readonly number[];
}

/** A successful reply. */
export interface OkReply<T extends MessageType = MessageType> {
  readonly id: number;
  readonly ok: true;
  readonly result: Results[T];
}

/** A failed reply. `id` is 0 for a connection-level error (the connection then closes). */
export interface ErrorReply {
  readonly id: number;
  readonly ok: false;
  readonly error: ErrorBody;
}

/** A final reply. */
export type ReplyHeader<T extends MessageType = MessageType> = OkReply<T> | ErrorReply;

/**
 * An intermediate frame for a request in progress (streaming). Any number may precede the
 * final reply of the same `id`. Binary payloads travel in the frame's attachment. `exec`
 * sends `started` `{ pid }`, then `stdout` / `stderr` (attachment: the masked bytes).
 */
export interface EventHeader {
  readonly id: number;
  /** Event name, 1–64 characters. */
  readonly event: string;
  /** Optional JSON payload (never secret). */
  readonly data?: unknown;
}

/**
 * How many attachment parts each message type carries (layout: `packParts`). A type with 0
 * must have an empty attachment; a type with parts must have a non-empty one.
 * `secrets.import` carries `1 + names.length` parts; `exec.stdin` carries one (the raw
 * bytes), or none with `eof: true`.
 */
export const ATTACHMENT_PARTS: Readonly<Record<MessageType | InputType, number | 'import' | 'stdin'>> =
  Object.freeze({
    hello: 0,
    status: 0,
    lock: 0,
    unlock: 1,
    init: 1,
    'secrets.list': 0,
    'secrets.set': 2,
    'secrets.delete': 1,
    'secrets.import': 'import',
    passwd: 2,
    'policy.get': 0,
    'policy.set': 1,
    'policy.explain': 0,
    'policy.verify': 0,
    exec: 0,
    approve: 1,
    'audit.verify': 0,
    'audit.export': 0,
    'grants.list': 0,
    'grants.revoke': 0,
    'exec.stdin': 'stdin',
    'exec.signal': 0,
    'exec.resize': 0,
    'approve.decide': 0,
  });

/**
 * The number of attachment parts `request` must carry.
 * @param request - a validated request header
 * @returns the part count (0 = no attachment)
 * @example
 * ```ts
 * attachmentParts({ id: 1, type: 'secrets.set', name: 'A' }); // 2
 * ```
 */
export function attachmentParts(request: RequestHeader | InputHeader): number {
  const parts = ATTACHMENT_PARTS[request.type];
  if (parts === 'import') return 1 + (request as RequestHeader<'secrets.import'>).names.length;
  if (parts === 'stdin') return (request as InputHeader<'exec.stdin'>).eof === true ? 0 : 1;
  return parts;
}
