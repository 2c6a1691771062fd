// SPDX-License-Identifier: AGPL-3.0-only
// Longer than most files on purpose: everything that holds, changes or wipes the unlocked
// vault is one class behind one queue, so no path can read or write around the ordering (the
// vault's JSON rules live in vault-section.ts, the write history in vault-history.ts).
import { performance } from 'node:perf_hooks';
import {
  createVault,
  isCryptoFormatError,
  openVaultBlock,
  readVault,
  readVaultFile,
  updateVault,
} from '@cora/crypto-format';
import { IpcError } from '@cora/ipc';
import type { VaultOp } from '@cora/audit';
import {
  MAX_VALUE_BYTES,
  MemStore,
  SecretBuf,
  isValidSecretName,
  wipeSecretsBlock,
  type SecretEntry,
  type SecretInfo,
  type SecretsBlock,
} from '@cora/memstore';
import { emptyPolicy, isPolicyError, serializePolicy, type Policy } from '@cora/policy';
import {
  codeRunnersMessage,
  missingSecretsMessage,
  newCodeRunnerTargets,
  newMissingSecrets,
  tasksUsing,
  type PolicyWriteOptions,
} from '../shared/policy-checks.ts';
import { DEFAULT_IDLE_TIMEOUT_MS } from '../shared/duration.ts';
import { describeForLog, serviceError } from './errors.ts';
import type { PendingWrite, VaultHistory } from './vault-history.ts';
import { checkBudget, generationOf, policyOf, readSection, withGeneration } from './vault-section.ts';

/** Why the service locked; audited by a later issue, reported in `status` now. */
export type LockReason =
  'request' | 'idle' | 'lifetime' | 'suspend' | 'signal' | 'error' | 'shutdown' | 'stop';

/** Clocks, injectable only because a real suspend cannot be produced in a test. */
export interface Clocks {
  /** Wall clock, ms since the epoch (jumps over a suspend). Default `Date.now`. */
  readonly wall: () => number;
  /** Monotonic clock, ms (stops during a suspend on Linux). Default `performance.now`. */
  readonly mono: () => number;
}

/** Options of a {@link ServiceState}. */
export interface StateOptions {
  readonly vaultPath: string;
  /** The write history the audit log vouches for: checked at unlock and before every write. */
  readonly history: VaultHistory;
  /** Writes one line to the service log (a vault or disk refusal: class, step, errno). */
  readonly report?: (line: string) => void;
  /** Lock after this long without a request (architecture §9: default 15 min). 0 disables. */
  readonly idleTimeoutMs?: number;
  /** Lock this long after unlock, whatever happens (`--lifetime`). 0 or absent: no limit. */
  readonly lifetimeMs?: number;
  /** How often the suspend / lifetime check runs. Default 5 s. */
  readonly tickMs?: number;
  /** A wall-clock advance this much larger than the monotonic one means a suspend. Default 30 s. */
  readonly suspendThresholdMs?: number;
  /** Base of the escalating delay after a wrong passphrase (architecture §7). Default 250 ms. */
  readonly authDelayBaseMs?: number;
  /** Called after every lock, with the reason. */
  readonly onLock?: (reason: LockReason) => void;
  /**
   * Called synchronously when the vault was unlocked, with the vault's audit key (architecture §10).
   * The key stays owned by the state and is wiped at lock: copy it to keep it.
   */
  readonly onUnlock?: (auditKey: SecretBuf) => void;
  readonly clocks?: Clocks;
}

/** What `status` reports. Never a value, never a secret. */
export interface StateSnapshot {
  readonly state: 'locked' | 'unlocked';
  /** Number of secrets while unlocked; null while locked (the count is inside the ciphertext). */
  readonly secrets: number | null;
  readonly idleDeadline: string | null;
  readonly lifetimeDeadline: string | null;
  readonly unlockedAt: string | null;
  readonly lastLockReason: LockReason | null;
  /** When the last lock happened (wall clock, ISO-8601); null when none since the service started. */
  readonly lastLockAt: string | null;
}

/** Options of one {@link ServiceState.unlock}. */
export interface UnlockOptions {
  /** Adopt a vault file the audit log does not vouch for (`cr unlock --accept-vault`). */
  readonly acceptVault?: boolean;
  /** Idle timeout of this unlock; default the service's. 0 disables. */
  readonly idleTimeoutMs?: number;
  /** Lifetime of this unlock; default the service's. 0: no limit. */
  readonly lifetimeMs?: number;
}

/** Result of an import: which names were new and which replaced a stored value. */
export interface ImportResult {
  readonly added: string[];
  readonly replaced: string[];
}

/** A secret to import: the value stays owned by the caller. */
export interface ImportItem {
  readonly name: string;
  readonly value: SecretBuf;
}

/** Longest escalated delay after wrong passphrases (architecture §7: up to 10 s). */
const MAX_AUTH_DELAY_MS = 10_000;

interface Unlocked {
  readonly store: MemStore;
  readonly auditKey: SecretBuf;
  readonly json: Uint8Array;
  /** The parsed policy of the JSON section (empty when it was missing or invalid). */
  readonly policy: Policy;
  /** Why the stored policy was set aside, or null when it was valid (or absent). */
  readonly policyError: string | null;
  readonly unlockedAtWall: number;
  readonly lifetimeDeadlineWall: number | null;
}

/**
 * The service's unlocked state (architecture §9): the secrets in a {@link MemStore}, the audit key
 * and the policy JSON, and everything that ends them — `lock()`, the idle timer (from the last
 * request), the absolute lifetime, and a wall-clock jump that reveals a suspend. Vault changes
 * (set, delete, import, passwd) always go through `updateVault` with the passphrase (G6) and
 * then replace the in-memory copy at once, whether the state is locked or unlocked.
 * Unlock and every mutation are serialised, so parallel passphrase guesses queue up.
 */
export class ServiceState {
  readonly #options: StateOptions;
  readonly #clocks: Clocks;
  /** Idle timeout and lifetime of the current unlock (the service's defaults unless it asked). */
  #idleMs: number;
  #lifetimeMs: number;
  #unlocked: Unlocked | null = null;
  #lastActivityMono = 0;
  #lastActivityWall = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #lifetimeTimer: NodeJS.Timeout | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #tickWall = 0;
  #tickMono = 0;
  #failures = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #lastLockReason: LockReason | null = null;
  #lastLockAtWall: number | null = null;

  /**
   * @param options - see {@link StateOptions}
   * @throws RangeError for negative or non-integer durations.
   */
  constructor(options: StateOptions) {
    for (const key of [
      'idleTimeoutMs',
      'lifetimeMs',
      'tickMs',
      'suspendThresholdMs',
      'authDelayBaseMs',
    ] as const) {
      const v = options[key];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
        throw new RangeError(`options.${key} must be a non-negative integer, got ${String(v)}`);
      }
    }
    this.#options = options;
    this.#clocks = options.clocks ?? { wall: () => Date.now(), mono: () => performance.now() };
    this.#idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#lifetimeMs = options.lifetimeMs ?? 0;
  }

  /** Whether secrets are in memory. */
  get unlocked(): boolean {
    return this.#unlocked !== null;
  }

  /** Record a request: the idle timeout counts from the last one (architecture §9). */
  touch(): void {
    this.#lastActivityMono = this.#clocks.mono();
    this.#lastActivityWall = this.#clocks.wall();
  }

  /** Status without secrets. */
  snapshot(): StateSnapshot {
    const u = this.#unlocked;
    const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
    return {
      state: u === null ? 'locked' : 'unlocked',
      secrets: u === null ? null : u.store.size,
      idleDeadline: u === null || this.#idleMs === 0 ? null : iso(this.#lastActivityWall + this.#idleMs),
      lifetimeDeadline: u === null ? null : iso(u.lifetimeDeadlineWall),
      unlockedAt: u === null ? null : iso(u.unlockedAtWall),
      lastLockReason: this.#lastLockReason,
      lastLockAt: this.#lastLockAtWall === null ? null : iso(this.#lastLockAtWall),
    };
  }

  /**
   * The current policy (architecture §7). While locked it is unknown, and {@link emptyPolicy} is
   * returned: nothing but the `cr` CLI is admitted then (fail closed).
   * @returns the parsed, frozen policy
   */
  policy(): Policy {
    return this.#unlocked?.policy ?? emptyPolicy();
  }

  /**
   * Why the stored policy could not be used, or null. An invalid policy does not keep the
   * vault from opening (the human could not fix it otherwise): it is treated as empty, which
   * admits only the `cr` CLI and runs no task, and `policy.explain` says so.
   * @returns the validation message (names the offending path), or null
   */
  policyError(): string | null {
    return this.#unlocked?.policyError ?? null;
  }

  /**
   * When the vault was last unlocked, in ms since the epoch; null while locked. Task `ttl`s
   * count from here (architecture §7).
   * @returns the wall-clock time of the unlock, or null
   */
  unlockedAt(): number | null {
    return this.#unlocked?.unlockedAtWall ?? null;
  }

  /**
   * Copies of the named secrets, for one spawn (architecture §8). The caller owns the copies and
   * must wipe them (`value.wipe()`) once the child runs, on error paths too.
   *
   * @param names - secret names, as a task lists them
   * @returns one entry per name, in order, each a fresh SecretBuf
   * @throws IpcError `LOCKED` while locked, `NOT_FOUND` naming the first missing secret.
   */
  secretsFor(names: readonly string[]): { name: string; value: SecretBuf }[] {
    const u = this.#unlocked;
    if (u === null) throw new IpcError('LOCKED', 'the vault is locked; run cr unlock');
    const missing = names.find((name) => !u.store.has(name));
    if (missing !== undefined) {
      throw new IpcError(
        'NOT_FOUND',
        `the task needs the secret ${missing}, which the vault does not hold; add it: cr secrets set ${missing}`,
      );
    }
    const out: { name: string; value: SecretBuf }[] = [];
    try {
      for (const name of names) {
        out.push({ name, value: u.store.use(name, (bytes) => SecretBuf.from(bytes)) });
      }
    } catch (error) {
      for (const entry of out) entry.value.wipe();
      throw error;
    }
    return out;
  }

  /**
   * A copy of the vault's audit key (architecture §10) for verifying or signing the log; the caller
   * wipes it. Null while locked.
   * @returns a fresh SecretBuf, or null
   */
  auditKeyCopy(): SecretBuf | null {
    const u = this.#unlocked;
    return u === null ? null : copy(u.auditKey);
  }

  /**
   * The first of `names` the unlocked vault does not hold (for the `secret-missing` audit).
   * @param names - secret names
   * @returns a missing name, or null when all are held (or while locked)
   */
  missingSecret(names: readonly string[]): string | null {
    const u = this.#unlocked;
    if (u === null) return null;
    return names.find((name) => !u.store.has(name)) ?? null;
  }

  /**
   * Replace the policy in the vault (G6: needs the passphrase), keeping `meta` and every
   * secret, then in memory at once when unlocked (no lock / unlock needed).
   *
   * Checked against the decrypted vault itself (where the names are known, locked or
   * unlocked): a task may not name a secret the vault does not hold, unless the reference
   * was already there or `allowMissingSecrets` says it will be added later.
   *
   * @param passphrase - the vault passphrase (not wiped)
   * @param policy - a policy from `@cora/policy` (re-validated before writing)
   * @param options - `allowMissingSecrets`: accept names the vault does not hold (yet)
   * @throws IpcError `BAD_REQUEST` (the message names the offending path), `AUTH_FAILED`
   *   (nothing changes), `NO_VAULT`; IpcError `NOT_FOUND` naming each missing secret and
   *   the closest held name.
   */
  async setPolicy(passphrase: SecretBuf, policy: Policy, options: PolicyWriteOptions = {}): Promise<void> {
    let value: unknown;
    try {
      value = serializePolicy(policy);
    } catch (error) {
      if (isPolicyError(error)) throw new IpcError('BAD_REQUEST', error.message, { cause: error });
      throw error;
    }
    await this.#exclusive(async () => {
      await this.#mutate('policy.set', passphrase, (block) => {
        if (options.allowMissingSecrets !== true) {
          const names = block.entries.map((e) => e.name);
          const missing = newMissingSecrets(policyOf(block.json).policy, policy, new Set(names));
          if (missing.length > 0) throw new IpcError('NOT_FOUND', missingSecretsMessage(missing, names));
        }
        if (options.allowInterpreterTargets !== true) {
          const runners = newCodeRunnerTargets(policyOf(block.json).policy, policy);
          if (runners.length > 0) throw new IpcError('NOT_ALLOWED', codeRunnersMessage(runners));
        }
        const section = readSection(block.json);
        const json = new TextEncoder().encode(JSON.stringify({ ...section.rest, policy: value }));
        return { ...block, json };
      });
    });
  }

  /**
   * Names and metadata of the stored secrets (never values).
   * @returns sorted metadata
   * @throws IpcError `LOCKED` while locked.
   */
  list(): SecretInfo[] {
    if (this.#unlocked === null) throw new IpcError('LOCKED', 'the vault is locked; run cr unlock');
    return this.#unlocked.store.list();
  }

  /**
   * Read the vault with `passphrase` and hold its secrets. When already unlocked, nothing is
   * read and false is returned. The passphrase is not wiped (the caller owns it).
   *
   * @param passphrase - the vault passphrase
   * @param options - adopt a file the audit log does not vouch for (audited); this unlock's
   *   idle timeout and lifetime
   * @returns true when this call unlocked, false when already unlocked
   * @throws IpcError `AUTH_FAILED` (after the escalating delay), `NO_VAULT`; IpcError
   *   `VAULT_ROLLBACK` and the file classes of ./errors.ts.
   */
  unlock(passphrase: SecretBuf, options: UnlockOptions = {}): Promise<boolean> {
    for (const key of ['idleTimeoutMs', 'lifetimeMs'] as const) {
      const v = options[key];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
        throw new RangeError(`options.${key} must be a non-negative integer, got ${String(v)}`);
      }
    }
    return this.#exclusive(async () => {
      if (this.#unlocked !== null) return false;
      this.#idleMs = options.idleTimeoutMs ?? this.#options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
      this.#lifetimeMs = options.lifetimeMs ?? this.#options.lifetimeMs ?? 0;
      const path = this.#options.vaultPath;
      const { file, block } = await this.#authenticated(async () => {
        const bytes = await readVaultFile(path);
        return { file: bytes, block: await openVaultBlock(bytes, passphrase, path) };
      });
      let loaded: Unlocked;
      try {
        // Before anything is used: the file must be the one the audit log vouches for.
        await this.#options.history.checkOpened(
          file,
          generationOf(block.json),
          block.auditKey,
          options.acceptVault === true,
        );
        loaded = this.#load(block, true);
      } catch (error) {
        wipeSecretsBlock(block);
        throw error;
      }
      this.#unlocked = loaded;
      this.#startTimers();
      this.#options.onUnlock?.(loaded.auditKey);
      return true;
    });
  }

  /**
   * Prove the passphrase without changing anything (an approver session, architecture §7): the vault
   * is decrypted and everything it held wiped at once. A wrong passphrase costs the same
   * escalating delay as at unlock, shared with every other passphrase check.
   *
   * @param passphrase - the vault passphrase (not wiped)
   * @throws IpcError `AUTH_FAILED`, `NO_VAULT`.
   */
  verifyPassphrase(passphrase: SecretBuf): Promise<void> {
    return this.#exclusive(async () => {
      const block = await this.#authenticated(() => readVault(this.#options.vaultPath, passphrase));
      wipeSecretsBlock(block);
    });
  }

  /**
   * Wipe every secret and stop the timers. Idempotent.
   * @param reason - why (reported in status)
   */
  lock(reason: LockReason): void {
    this.#stopTimers();
    const u = this.#unlocked;
    if (u === null) return;
    this.#unlocked = null;
    this.#lastLockReason = reason;
    this.#lastLockAtWall = this.#clocks.wall();
    u.store.wipeAll();
    u.auditKey.wipe();
    u.json.fill(0);
    this.#options.onLock?.(reason);
  }

  /**
   * Store `value` under `name` in the vault (created or replaced), then in memory if unlocked.
   * `value` stays owned by the caller.
   *
   * @param name - a valid secret name
   * @param value - at most 64 KiB
   * @param passphrase - the vault passphrase (G6)
   * @returns whether a value was replaced
   * @throws IpcError `INVALID_NAME`, `TOO_LARGE`, `AUTH_FAILED`, `NO_VAULT`.
   */
  async setSecret(name: string, value: SecretBuf, passphrase: SecretBuf): Promise<boolean> {
    const result = await this.importSecrets([{ name, value }], passphrase);
    return result.replaced.length > 0;
  }

  /**
   * Store several secrets in one vault write: all or nothing. Values stay owned by the caller.
   * @param items - names (unique, valid) and values (each at most 64 KiB)
   * @param passphrase - the vault passphrase (G6)
   * @returns which names were added and which replaced
   * @throws IpcError `INVALID_NAME`, `TOO_LARGE`, `BAD_REQUEST` (a name twice), `AUTH_FAILED`, `NO_VAULT`.
   */
  async importSecrets(items: readonly ImportItem[], passphrase: SecretBuf): Promise<ImportResult> {
    const seen = new Set<string>();
    for (const item of items) {
      checkName(item.name);
      if (seen.has(item.name)) throw new IpcError('BAD_REQUEST', `${item.name} is given twice`);
      seen.add(item.name);
      if (item.value.length > MAX_VALUE_BYTES) {
        throw new IpcError(
          'TOO_LARGE',
          `the value of ${item.name} is ${String(item.value.length)} bytes, over the limit of ${String(MAX_VALUE_BYTES)}`,
        );
      }
    }
    return await this.#exclusive(async () => {
      const result: ImportResult = { added: [], replaced: [] };
      await this.#mutate(items.length === 1 ? 'secrets.set' : 'secrets.import', passphrase, (block) => {
        const now = this.#clocks.wall();
        const entries: SecretEntry[] = [...block.entries];
        const index = new Map(entries.map((e, i) => [e.name, i]));
        // Copies, in one region: updateVault wipes what the block holds; the caller keeps its values.
        const values = copyAll(items.map((item) => item.value));
        for (const [i, item] of items.entries()) {
          const at = index.get(item.name) ?? -1;
          const created = at >= 0 ? (entries[at]?.created ?? now) : now;
          const entry = { name: item.name, value: values[i] as SecretBuf, created, updated: now };
          if (at >= 0) {
            result.replaced.push(item.name);
            entries[at] = entry;
          } else {
            result.added.push(item.name);
            index.set(item.name, entries.length);
            entries.push(entry);
          }
        }
        return { ...block, entries };
      });
      return result;
    });
  }

  /**
   * Delete `name` from the vault, then from memory if unlocked.
   * @param name - the secret
   * @param passphrase - the vault passphrase (G6)
   * @param options - `force`: delete it even when tasks use it (the user confirmed)
   * @throws IpcError `NOT_FOUND`, `AUTH_FAILED`, `NO_VAULT`, `INVALID_NAME`; IpcError `IN_USE`
   *   naming the tasks that use it (checked in the decrypted vault, locked or unlocked).
   */
  async deleteSecret(
    name: string,
    passphrase: SecretBuf,
    options: { readonly force?: boolean } = {},
  ): Promise<void> {
    checkName(name);
    await this.#exclusive(async () => {
      await this.#mutate('secrets.delete', passphrase, (block) => {
        if (!block.entries.some((e) => e.name === name)) {
          throw new IpcError('NOT_FOUND', `there is no secret called ${name}`);
        }
        const users = options.force === true ? [] : tasksUsing(policyOf(block.json).policy, name);
        if (users.length > 0) {
          throw new IpcError(
            'IN_USE',
            `${name} is used by ${users.length === 1 ? 'task' : 'tasks'} ${users.join(', ')}, which cannot run without it; to delete it anyway: cr secrets delete ${name} --yes`,
          );
        }
        return { ...block, entries: block.entries.filter((e) => e.name !== name) };
      });
    });
  }

  /**
   * Re-encrypt the vault under `newPassphrase` with a fresh salt and nonce (`passwd`).
   * Memory needs no change: nothing held depends on the passphrase.
   * @param passphrase - the current passphrase
   * @param newPassphrase - the new one (not wiped)
   * @throws IpcError `AUTH_FAILED`, `NO_VAULT`.
   */
  changePassphrase(passphrase: SecretBuf, newPassphrase: SecretBuf): Promise<void> {
    return this.#exclusive(() => this.#mutate('passwd', passphrase, (block) => block, newPassphrase));
  }

  /**
   * Create the vault (`cr init`, the TUI's onboarding): no secret, an empty policy (only the
   * `cr` CLI may call) and a fresh random audit key. Its generation continues the audit log's
   * history, so a vault made again after one was removed is not taken for a rollback.
   *
   * @param passphrase - the new passphrase (not wiped)
   * @param meta - recorded in the JSON section's `meta` (not secret)
   * @returns the new vault's generation
   * @throws IpcError `VAULT_EXISTS`; IpcError `UNLOCKED` while a vault is held, and the file
   *   classes of ./errors.ts.
   */
  init(passphrase: SecretBuf, meta: Readonly<Record<string, string>>): Promise<number> {
    return this.#exclusive(async () => {
      if (this.#unlocked !== null) {
        throw new IpcError('UNLOCKED', 'the service holds an unlocked vault; run cr lock first');
      }
      const history = this.#options.history;
      const generation = history.next(0);
      const auditKey = SecretBuf.random(32);
      const json = new TextEncoder().encode(JSON.stringify({ policy: {}, meta: { ...meta, generation } }));
      const pending: { value: PendingWrite | null } = { value: null };
      try {
        await createVault(this.#options.vaultPath, { entries: [], auditKey, json }, passphrase, {
          beforeWrite: async ({ next }) => {
            pending.value = await history.begin('init', null, 0, next, generation, copy(auditKey));
          },
        });
      } catch (error) {
        if (pending.value !== null && (await history.settle(pending.value))) return generation;
        throw this.#refused(error, 'init');
      } finally {
        auditKey.wipe();
      }
      if (pending.value !== null) await history.commit(pending.value);
      return generation;
    });
  }

  /** Lock and stop every timer (service shutdown). */
  dispose(): void {
    this.lock('shutdown');
    this.#stopTimers();
  }

  /** Run `fn` after every earlier unlock / mutation settled. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Map AUTH_FAILED / VAULT_NOT_FOUND to wire errors; wrong passphrases cost an escalating delay. */
  async #authenticated<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      this.#failures = 0;
      return result;
    } catch (error) {
      if (isCryptoFormatError(error, 'AUTH_FAILED')) {
        this.#failures += 1;
        const base = this.#options.authDelayBaseMs ?? 250;
        const delay = Math.min(MAX_AUTH_DELAY_MS, base * 2 ** Math.min(this.#failures - 1, 16));
        await new Promise((resolve) => setTimeout(resolve, delay));
        const waited = `${String(Math.round(delay / 100) / 10)} s`;
        throw new IpcError(
          'AUTH_FAILED',
          `wrong passphrase (or the vault file was changed); wrong try ${String(this.#failures)} in a row, ` +
            `so the service waited ${waited} before answering (each further wrong try waits twice as long, up to ${String(MAX_AUTH_DELAY_MS / 1000)} s)`,
          { cause: error },
        );
      }
      if (isCryptoFormatError(error, 'VAULT_NOT_FOUND')) {
        throw new IpcError('NO_VAULT', `there is no vault at ${this.#options.vaultPath}; run cr init`, {
          cause: error,
        });
      }
      throw this.#refused(error, 'vault');
    }
  }

  /** Map an error to its class and log what broke (never a value). */
  #refused(error: unknown, op: string): Error {
    const mapped = serviceError(error, op);
    const line = describeForLog(mapped, op);
    if (line !== null) this.#options.report?.(line);
    return mapped;
  }

  /**
   * One vault write, in the order that leaves no inconsistent crash point (vault-history.ts):
   * read and authenticate → check the budget → seal → the file must be the one the log vouches
   * for → intent record (fsynced) → rename → commit record. When unlocked, memory is rebuilt
   * from exactly what was written (copies made inside `change`, since updateVault wipes the
   * block) and swapped in once the new file is in place — also when an error came after the
   * rename, so vault, memory and log always agree.
   */
  async #mutate(
    op: VaultOp,
    passphrase: SecretBuf,
    change: (block: SecretsBlock) => SecretsBlock,
    newPassphrase?: SecretBuf,
  ): Promise<void> {
    const history = this.#options.history;
    // Holders, not `let`s: the callbacks assign them and TypeScript's narrowing cannot see that.
    const built: { value: Unlocked | null } = { value: null };
    const plan: { fileGeneration: number; generation: number; key: SecretBuf | null } = {
      fileGeneration: 0,
      generation: 0,
      key: null,
    };
    const pending: { value: PendingWrite | null } = { value: null };
    try {
      await this.#authenticated(() =>
        updateVault(
          this.#options.vaultPath,
          passphrase,
          (block) => {
            plan.fileGeneration = generationOf(block.json);
            plan.generation = history.next(plan.fileGeneration);
            const changed = change(block);
            const next: SecretsBlock = { ...changed, json: withGeneration(changed.json, plan.generation) };
            checkBudget(next.entries);
            // Every write record is MACed: with this copy whenever the log has no key (locked,
            // or locked by a timer while this write waited for the KDF).
            plan.key = copy(next.auditKey);
            if (this.#unlocked !== null) built.value = this.#rebuild(next);
            return next;
          },
          {
            keepPrevious: false,
            ...(newPassphrase === undefined ? {} : { newPassphrase }),
            beforeWrite: async ({ current, next }) => {
              const key = plan.key;
              plan.key = null; // the pending write owns it now
              pending.value = await history.begin(
                op,
                current,
                plan.fileGeneration,
                next,
                plan.generation,
                key,
              );
            },
          },
        ),
      );
    } catch (error) {
      plan.key?.wipe();
      if (pending.value !== null && (await history.settle(pending.value))) {
        this.#swapIn(built.value);
        const mapped = serviceError(error, op); // already logged by #authenticated
        throw mapped instanceof IpcError
          ? new IpcError(mapped.code, `${mapped.message} (the change itself is in place)`, {
              cause: mapped.cause,
            })
          : mapped;
      }
      discard(built.value);
      throw serviceError(error, op);
    }
    this.#swapIn(built.value);
    if (pending.value !== null) await history.commit(pending.value);
  }

  /** A new in-memory copy of a block about to be written (updateVault wipes the block itself). */
  #rebuild(next: SecretsBlock): Unlocked {
    // One region for every copy: a region per value would cost each secret its own mapping and
    // guard pages, and with the decoded block alive too the process runs out of mappings
    // (vm.max_map_count) near 7,500 secrets, under the 10,000 cap.
    const values = copyAll([...next.entries.map((e) => e.value), next.auditKey]);
    const copied: SecretsBlock = {
      entries: next.entries.map((e, i) => ({ ...e, value: values[i] as SecretBuf })),
      auditKey: values[next.entries.length] as SecretBuf,
      json: Uint8Array.from(next.json),
    };
    try {
      return this.#load(copied, false);
    } catch (error) {
      wipeSecretsBlock(copied);
      throw error;
    }
  }

  /** Replace the unlocked memory with `next` (the file now in place). */
  #swapIn(next: Unlocked | null): void {
    const old = this.#unlocked;
    if (old === null || next === null) {
      discard(next); // locked meanwhile (signal, lifetime): keep it locked
      return;
    }
    this.#unlocked = {
      ...next,
      unlockedAtWall: old.unlockedAtWall,
      lifetimeDeadlineWall: old.lifetimeDeadlineWall,
    };
    old.store.wipeAll();
    old.auditKey.wipe();
    old.json.fill(0);
  }

  /** Move a decoded block into a new MemStore (the block's SecretBufs become the store's). */
  #load(block: SecretsBlock, fresh: boolean): Unlocked {
    const store = new MemStore();
    try {
      for (const entry of block.entries) {
        store.set(entry.name, entry.value, { created: entry.created, updated: entry.updated });
      }
    } catch (error) {
      store.wipeAll();
      throw error;
    }
    const now = this.#clocks.wall();
    const { policy, policyError } = policyOf(block.json);
    return {
      store,
      auditKey: block.auditKey,
      json: block.json,
      policy,
      policyError,
      unlockedAtWall: now,
      lifetimeDeadlineWall: fresh && this.#lifetimeMs > 0 ? now + this.#lifetimeMs : null,
    };
  }

  #startTimers(): void {
    this.touch();
    this.#tickWall = this.#clocks.wall();
    this.#tickMono = this.#clocks.mono();
    if (this.#idleMs > 0) this.#armIdle(this.#idleMs);
    if (this.#lifetimeMs > 0) {
      this.#lifetimeTimer = setTimeout(() => {
        this.lock('lifetime');
      }, this.#lifetimeMs);
    }
    this.#ticker = setInterval(() => {
      this.#tick();
    }, this.#options.tickMs ?? 5000);
  }

  #armIdle(ms: number): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      const idle = this.#clocks.mono() - this.#lastActivityMono;
      if (idle >= this.#idleMs) this.lock('idle');
      else this.#armIdle(Math.max(1, Math.ceil(this.#idleMs - idle)));
    }, ms);
  }

  /**
   * Timers run on the monotonic clock, which stops while the machine sleeps: without this
   * check a laptop suspended for a day would wake up still unlocked. A wall-clock advance much
   * larger than the monotonic one means the machine slept (architecture §9). The lifetime is also
   * checked against the wall clock here for the same reason.
   */
  #tick(): void {
    const wall = this.#clocks.wall();
    const mono = this.#clocks.mono();
    const jump = wall - this.#tickWall - (mono - this.#tickMono);
    this.#tickWall = wall;
    this.#tickMono = mono;
    if (jump > (this.#options.suspendThresholdMs ?? 30_000)) {
      this.lock('suspend');
      return;
    }
    const deadline = this.#unlocked?.lifetimeDeadlineWall ?? null;
    if (deadline !== null && wall >= deadline) this.lock('lifetime');
  }

  #stopTimers(): void {
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#lifetimeTimer);
    clearInterval(this.#ticker);
    this.#idleTimer = undefined;
    this.#lifetimeTimer = undefined;
    this.#ticker = undefined;
  }
}

function copy(buf: SecretBuf): SecretBuf {
  return buf.use((bytes) => SecretBuf.from(bytes));
}

/** Copies of `bufs` in one secure-memory region (see #rebuild). */
function copyAll(bufs: readonly SecretBuf[]): SecretBuf[] {
  return SecretBuf.allocMany(
    bufs.map((buf) => buf.length),
    (views) => {
      bufs.forEach((buf, i) => {
        buf.use((bytes) => views[i]?.set(bytes));
      });
    },
  );
}

function discard(u: Unlocked | null): void {
  if (u === null) return;
  u.store.wipeAll();
  u.auditKey.wipe();
}

function checkName(name: string): void {
  if (!isValidSecretName(name)) {
    throw new IpcError('INVALID_NAME', 'a secret name must match [A-Za-z_][A-Za-z0-9_]* (at most 128 bytes)');
  }
}
