// SPDX-License-Identifier: AGPL-3.0-only
import type {
  ApprovalDecision,
  ApprovalInfo,
  ApprovalResolved,
  ApproveResult,
  AuditVerifyResult,
  GrantInfo,
  GrantsRevokeResult,
  InitResult,
  PolicyExplainResult,
  SecretMeta,
  SecretsImportResult,
  SecretsSetResult,
  StatusResult,
  UnlockResult,
} from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';

/** Callbacks of an approver session. */
export interface ApprovalHandlers {
  /** The passphrase was accepted; requests follow. */
  onReady?(): void;
  /** A request waits for a decision (names only, never a value). */
  onPending?(info: ApprovalInfo): void;
  /** A pending request was decided, expired or withdrawn. */
  onResolved?(resolved: ApprovalResolved): void;
}

/** A running approver session (`approve` request). */
export interface ApprovalSession {
  /** Settles when the session ends: `locked`, `replaced`, or rejects with the service's error. */
  readonly done: Promise<ApproveResult>;
  /** Answer pending request `id`; resolves once sent. */
  decide(id: number, decision: ApprovalDecision): Promise<void>;
}

/**
 * One audit record, read generically: the screen shows `type`, `time`, `task` and the caller,
 * and every other field in the detail pane, so it does not depend on each event's shape
 * (architecture §10: no event type can hold a value). `@cora/audit`'s `AuditRecord` is one; the
 * detail pane lists every own field of the object it is given.
 */
export interface AuditRecordLike {
  /** Position in the hash chain. */
  readonly seq: number;
  /** ISO-8601. */
  readonly time: string;
  /** The event type, e.g. `task-start`. */
  readonly type: string;
  /** The task the event is about, if any. */
  readonly task?: string | undefined;
  /** Who asked, if anyone. */
  readonly caller?:
    | {
        readonly pid?: number | undefined;
        readonly exe?: string | undefined;
        readonly script?: string | null | undefined;
      }
    | undefined;
  /**
   * The command of `task-start` and `approval-requested`: the caller's argv and cwd, masked and
   * cut by the service (`@cora/audit` `AuditCommand`); untrusted text, shown escaped.
   */
  readonly command?:
    | {
        readonly argv: readonly string[];
        readonly argvMore: readonly number[];
        readonly argvOmitted: number;
        readonly cwd: string;
        readonly cwdMore: number;
      }
    | undefined;
}

/**
 * The service as the TUI uses it: one method per `@cora/ipc` request, the same requests `cr`
 * sends. The daemon's own client (`apps/daemon/src/cli/client.ts`, the one `cr` uses)
 * satisfies it, so the TUI has no client of its own. Passphrases and values are `SecretBuf`s
 * (`@cora/memstore`) and travel only as attachment parts (architecture §5); the caller keeps and
 * wipes them. A failed request rejects with an `Error` whose message is fit to show (never a
 * secret) and, when known, a string `code`.
 */
export interface TuiService {
  /** True once the connection is closed, by either side: the TUI then connects again. */
  readonly closed: boolean;
  /** `status`. */
  status(): Promise<StatusResult>;
  /** `init`: create the vault through the service that owns the home (the setup's first write). */
  init(passphrase: SecretBuf, by: 'tui'): Promise<InitResult>;
  /** `unlock` with the passphrase. */
  unlock(passphrase: SecretBuf): Promise<UnlockResult>;
  /** `lock`. */
  lock(): Promise<void>;
  /** `secrets.list`: names and times, never values. */
  listSecrets(): Promise<readonly SecretMeta[]>;
  /** `secrets.set`: the passphrase (G6) and the value as attachment parts. */
  setSecret(name: string, value: SecretBuf, passphrase: SecretBuf): Promise<SecretsSetResult>;
  /** `secrets.delete` with the passphrase. */
  deleteSecret(name: string, passphrase: SecretBuf): Promise<void>;
  /** `secrets.import`: the passphrase, then one part per value, in the order of `names`. */
  importSecrets(
    names: readonly string[],
    values: readonly SecretBuf[],
    passphrase: SecretBuf,
  ): Promise<SecretsImportResult>;
  /** `policy.get`: the policy JSON (not secret). */
  getPolicy(): Promise<unknown>;
  /**
   * `policy.set` with the passphrase (G6); `allowInterpreterTargets`: accept a new target that
   * runs code its caller chooses (refused with `NOT_ALLOWED` otherwise).
   */
  setPolicy(
    policy: unknown,
    passphrase: SecretBuf,
    options?: { readonly allowInterpreterTargets?: boolean },
  ): Promise<void>;
  /**
   * `policy.explain`: would this caller (default: this `cr`; `caller`: that executable) be
   * allowed to run `argv` under `task`, if it ran under `under` too (an agent, for `via`)?
   */
  explain(
    task: string,
    argv: readonly string[],
    as?: { readonly caller?: string; readonly under?: string },
  ): Promise<PolicyExplainResult>;
  /** `approve`: prove the passphrase once, then receive pending requests. */
  approve(passphrase: SecretBuf, handlers: ApprovalHandlers): ApprovalSession;
  /** `audit.verify`. */
  verifyAudit(): Promise<AuditVerifyResult>;
  /** `grants.list`: the live approval grants (no passphrase; empty while locked). */
  listGrants(): Promise<readonly GrantInfo[]>;
  /** `grants.revoke`: one grant by id, or every grant; effective at once, audited. */
  revokeGrants(which: { readonly grant: string } | { readonly all: true }): Promise<GrantsRevokeResult>;
  /** Close the connection (ends an approver session). */
  close(): void;
}

/** An agent binary found on PATH. */
export interface AgentBinary {
  /** Its command name, e.g. `claude`. */
  readonly name: string;
  /** Its resolved absolute path. */
  readonly path: string;
}

/** What the machine says about a task target before it is stored (`cr policy task add`'s warnings). */
export interface TargetCheck {
  /**
   * A shell, interpreter or launcher (`sh`, `node`, `npm`, `env`, `git`…): the caller would
   * choose the code that receives the secrets, so the service refuses it unless accepted.
   */
  readonly runsCallersCode: boolean;
  /** Warnings for people: replaceable by the user, runs any code, is a script. */
  readonly warnings: readonly string[];
}

/** A parsed .env file: names to preview, values in secure memory (the caller wipes them). */
export interface DotenvImport {
  /** The variable names, in file order. */
  readonly names: readonly string[];
  /** One value per name, in secure memory. */
  readonly values: readonly SecretBuf[];
  /** Human-readable problems (line numbers and kinds, never values); nothing is imported if any. */
  readonly problems: readonly string[];
}

/** Options of {@link TuiBackend.readAudit}. */
export interface ReadAuditOptions {
  /** Keep waiting for new records after the last one (`cr audit tail --follow`). */
  readonly follow?: boolean;
  /** Stops the iteration. */
  readonly signal?: AbortSignal;
}

/**
 * What the TUI needs from the machine. The daemon implements it with its own modules
 * (`apps/daemon/src/cli/commands/tui.ts`), so the TUI never imports the daemon and tests give
 * it a strict fake.
 */
export interface TuiBackend {
  /** The Cora home (`CORA_HOME`, default `~/.cora`). */
  readonly home: string;
  /** The vault file. */
  readonly vaultPath: string;
  /** The service's socket. */
  readonly socketPath: string;
  /** The `cr` version, shown in the header. */
  readonly version: string;
  /** Longest passphrase accepted, in bytes: the CLI's limit, so both refuse the same input. */
  readonly maxPassphraseBytes: number;
  /** Whether a vault exists (else the TUI starts with the setup). */
  vaultExists(): boolean;
  /** Weak-passphrase warnings computed on the bytes (`cr init`'s rule); never quote it. */
  passphraseWarnings(passphrase: SecretBuf): string[];
  /**
   * Connect to the service, starting it (locked) if none runs; the home is created (0700) when
   * missing, for the setup. Each call is one connection: the TUI keeps one for its screens and
   * opens a second only for an approver session.
   */
  connect(): Promise<TuiService>;
  /**
   * Agents on PATH (claude, codex, gemini, aider, cursor-agent, …), by realpath: a binary, or
   * the script an interpreter runs (an npm agent), which `via` matches the same way.
   */
  findAgents(): Promise<readonly AgentBinary[]>;
  /** The realpath of a command as a task target (PATH lookup), or null when there is none. */
  resolveCommand(command: string): string | null;
  /** The checks `cr policy task add` makes of a target (its realpath), for the setup to show. */
  checkTarget(target: string): TargetCheck;
  /** Read a .env file straight into secure memory. */
  readDotenv(path: string): Promise<DotenvImport>;
  /** Audit records, oldest first. */
  readAudit(options: ReadAuditOptions): AsyncIterable<AuditRecordLike>;
}
