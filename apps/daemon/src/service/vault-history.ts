// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The vault's write history, as the audit log vouches for it. Every write is a generation:
 * an `intent` record (fsynced, with the hash of the new file) before the rename, a `commit`
 * after it. At start a write a crash left half done is resolved from the file on disk; at
 * unlock and before every write the file on disk must be one the log vouches for, so an older
 * file copied into place (a rollback) or a file this service did not write is refused unless
 * the user accepts it explicitly (audited).
 *
 * What the log is trusted for: its newest vault record that carries a MAC, checked with the
 * vault's audit key the first time the key is at hand. Records without a MAC (written while
 * locked: start-up recovery, rotation carries) are used only until then, or when the log has
 * no MACed vault record at all (weaker: a same-user process could have written them).
 */
import { createHash } from 'node:crypto';
import {
  findLastRecords,
  type AuditRecord,
  type FoundRecord,
  type VaultOp,
  type VaultStateEvent,
  type VaultWriteEvent,
} from '@cora/audit';
import { isCryptoFormatError, readVaultFile } from '@cora/crypto-format';
import { IpcError } from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import type { ServiceAudit } from './audit.ts';

const TYPES = ['vault-write', 'vault-state'] as const;

/** Lower-case hex SHA-256 of a vault file (ciphertext: public). */
function fileHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The file states the log vouches for. */
interface Vouch {
  /** The newest generation it names. */
  readonly generation: number;
  /** File hash → generation, for every file it accepts (an open intent accepts old and new). */
  readonly files: ReadonlyMap<string, number>;
}

/** A write between its intent and its commit. */
export interface PendingWrite {
  readonly op: VaultOp;
  readonly generation: number;
  readonly sha256: string;
  readonly previous: string | null;
  /** The vault's audit key while the service is locked (the log has none then); wiped at the end. */
  readonly key: SecretBuf | null;
}

/** How an unlock found the vault file. */
export type OpenVerdict = 'vouched' | 'first-use' | 'adopted';

function vouchOf(record: AuditRecord): Vouch | null {
  if (record.type === 'vault-state') {
    return { generation: record.generation, files: new Map([[record.sha256, record.generation]]) };
  }
  if (record.type !== 'vault-write') return null;
  const before = Math.max(0, record.generation - 1);
  if (record.phase === 'commit') {
    return { generation: record.generation, files: new Map([[record.sha256, record.generation]]) };
  }
  const files = new Map<string, number>();
  if (record.previous !== null) files.set(record.previous, before);
  if (record.phase === 'intent') files.set(record.sha256, record.generation);
  return { generation: record.phase === 'intent' ? record.generation : before, files };
}

/** The service's view of the write history (one instance per service, after the owner lock). */
export class VaultHistory {
  readonly #audit: ServiceAudit;
  readonly #dir: string;
  readonly #vaultPath: string;
  #vouch: Vouch | null;
  /** Seq of the newest MACed vault record found at start, until its MAC was checked. */
  #unverifiedSeq: number | null;
  /** Whether the newest MACed vault record still chains to the end of its file (no replay). */
  readonly #sealedChained: boolean;
  /**
   * The vouched state rests on records without a MAC (a start-up recovery, a narrowing, or a
   * log with no MACed vault record): the next time the key is at hand it is restated, MACed.
   */
  #needsSeal: boolean;

  private constructor(audit: ServiceAudit, dir: string, vaultPath: string, found: readonly FoundRecord[]) {
    this.#audit = audit;
    this.#dir = dir;
    this.#vaultPath = vaultPath;
    const last = found.at(-1);
    const sealed = last !== undefined && last.record.mac !== null ? last : undefined;
    // Trust flows from the newest MACed record (checked with the key at the first unlock).
    // Newer records without a MAC may only narrow what it vouches for, never widen it: a
    // forged one can then cost a refusal, never a rollback.
    const base = sealed ?? found[0];
    let vouch = base === undefined ? null : vouchOf(base.record);
    let narrowed = false;
    const intent =
      sealed?.record.type === 'vault-write' && sealed.record.phase === 'intent' ? sealed.record : null;
    if (intent !== null && vouch !== null) {
      const settled = found
        .slice(0, -1)
        .find(
          (item) =>
            item.chained &&
            item.record.type === 'vault-write' &&
            item.record.phase !== 'intent' &&
            item.record.generation === intent.generation &&
            item.record.sha256 === intent.sha256,
        )?.record;
      const only =
        settled?.type === 'vault-write'
          ? settled.phase === 'commit'
            ? settled.sha256
            : settled.previous
          : null;
      const generation = only === null ? undefined : vouch.files.get(only);
      if (only !== null && generation !== undefined) {
        vouch = { generation, files: new Map([[only, generation]]) };
        narrowed = true;
      }
    }
    this.#vouch = vouch;
    this.#unverifiedSeq = sealed === undefined ? null : sealed.record.seq;
    this.#sealedChained = sealed?.chained ?? true;
    this.#needsSeal = narrowed || (sealed === undefined && base !== undefined);
  }

  /**
   * Read the history from the log and resolve a write that a crash left between its intent
   * and its commit: the file on disk says which way it went, and that is recorded.
   *
   * @param audit - the service's audit log
   * @param dir - the log's directory
   * @param vaultPath - the vault file
   * @returns the history
   */
  static async open(audit: ServiceAudit, dir: string, vaultPath: string): Promise<VaultHistory> {
    const found = await findLastRecords(dir, TYPES);
    const history = new VaultHistory(audit, dir, vaultPath, found);
    const newest = found[0];
    // Only a MACed intent that is still the newest record is acted on: an intent without a
    // MAC is not one this service writes (it always MACs its write records).
    if (
      newest?.record.type === 'vault-write' &&
      newest.record.phase === 'intent' &&
      newest.record.mac !== null &&
      newest.chained
    ) {
      await history.#recover(newest.record);
    }
    return history;
  }

  /** The generation the log vouches for (null when it names no vault). */
  get generation(): number | null {
    return this.#vouch?.generation ?? null;
  }

  /**
   * The generation of the next write.
   * @param fileGeneration - the generation stored in the file being replaced
   * @returns one more than the highest generation either names
   */
  next(fileGeneration: number): number {
    return Math.max(this.#vouch?.generation ?? 0, fileGeneration) + 1;
  }

  /**
   * Check the file an unlock opened. A file the log vouches for passes. A first vault (no
   * record, generation 0) is adopted and recorded. Anything else is refused, unless `accept`:
   * then it is adopted and the adoption recorded with the generation it replaces.
   *
   * @param file - the vault bytes that were opened
   * @param generation - the generation stored inside them
   * @param key - the vault's audit key (to check the log's MAC, and to MAC the record)
   * @param accept - the user's explicit acceptance (`cr unlock --accept-vault`)
   * @returns how the file was found
   * @throws IpcError `VAULT_ROLLBACK`, `AUDIT_INVALID`, `AUDIT_UNAVAILABLE`.
   */
  async checkOpened(
    file: Uint8Array,
    generation: number,
    key: SecretBuf,
    accept: boolean,
  ): Promise<OpenVerdict> {
    await this.#verifySealed(key);
    const sha256 = fileHash(file);
    const vouch = this.#vouch;
    if (vouch?.files.has(sha256) === true) {
      if (this.#needsSeal || vouch.files.size > 1) {
        // Restate exactly the file found, MACed, so no other file stays vouched for.
        const known = vouch.files.get(sha256) ?? generation;
        const event: VaultStateEvent = {
          type: 'vault-state',
          reason: 'carry',
          generation: known,
          sha256,
          vouched: null,
        };
        await this.#withKey(key, () => this.#audit.record(event));
        this.#settle(
          { generation: Math.max(known, vouch.generation), files: new Map([[sha256, known]]) },
          event,
        );
        this.#needsSeal = false;
      }
      return 'vouched';
    }
    const firstUse = vouch === null && generation === 0;
    if (!firstUse && !accept) throw this.#refusal(generation);
    const event: VaultStateEvent = {
      type: 'vault-state',
      reason: firstUse ? 'first-use' : 'adopted',
      generation,
      sha256,
      vouched: vouch?.generation ?? null,
    };
    await this.#withKey(key, () => this.#audit.record(event));
    this.#settle(
      { generation: Math.max(generation, vouch?.generation ?? 0), files: new Map([[sha256, generation]]) },
      event,
    );
    this.#needsSeal = false;
    return firstUse ? 'first-use' : 'adopted';
  }

  /**
   * Start a write: the file being replaced must be one the log vouches for, then the intent is
   * recorded (fsynced) before the caller renames the new file into place.
   *
   * @param op - the operation
   * @param current - the file being replaced (null for `init`)
   * @param currentGeneration - its stored generation (0 for `init`)
   * @param next - the sealed new file
   * @param generation - the new file's generation ({@link VaultHistory.next})
   * @param key - a copy of the vault's audit key (owned from here on): it MACs the write's
   *   records whenever the log has no key
   * @returns the pending write, for {@link VaultHistory.commit} or {@link VaultHistory.settle}
   * @throws IpcError `VAULT_ROLLBACK`, `AUDIT_INVALID`, `AUDIT_UNAVAILABLE` (nothing written).
   */
  async begin(
    op: VaultOp,
    current: Uint8Array | null,
    currentGeneration: number,
    next: Uint8Array,
    generation: number,
    key: SecretBuf | null,
  ): Promise<PendingWrite> {
    const previous = current === null ? null : fileHash(current);
    const pending: PendingWrite = { op, generation, sha256: fileHash(next), previous, key };
    try {
      // A new vault (init) has a new key that cannot check the old records: nothing on disk
      // is being replaced, so there is nothing to check them for.
      if (key !== null && current !== null) await this.#verifySealed(key);
      if (previous !== null && this.#vouch !== null && !this.#vouch.files.has(previous)) {
        throw this.#refusal(currentGeneration);
      }
      if (previous !== null && this.#vouch === null && currentGeneration > 0) {
        throw this.#refusal(currentGeneration);
      }
      await this.#withKey(key, () => this.#audit.record(this.#event(pending, 'intent', false)));
    } catch (error) {
      key?.wipe();
      throw error;
    }
    return pending;
  }

  /**
   * The new file is in place: record the commit and vouch for it from now on.
   * @param pending - from {@link VaultHistory.begin}
   * @throws IpcError `AUDIT_UNAVAILABLE` (the file is in place; the next start recovers the commit).
   */
  async commit(pending: PendingWrite): Promise<void> {
    // In memory first: the file is in place whether or not the record can be written. From
    // here on the history is this service's own: older records no longer need checking.
    const event = this.#event(pending, 'commit', false);
    this.#unverifiedSeq = null;
    this.#settle(
      { generation: pending.generation, files: new Map([[pending.sha256, pending.generation]]) },
      event,
    );
    try {
      await this.#withKey(pending.key, () => this.#audit.record(event));
    } catch (error) {
      throw new IpcError(
        'AUDIT_UNAVAILABLE',
        'the audit log cannot be written (disk full, I/O error or permissions), so the commit is not recorded yet (the change itself is in place; the next service start records it)',
        { cause: error },
      );
    } finally {
      pending.key?.wipe();
    }
  }

  /**
   * A write failed after its intent: look at the disk to learn whether the new file is in
   * place (a failed directory fsync comes after the rename) and record the commit or abort.
   * @param pending - from {@link VaultHistory.begin}
   * @returns true when the new file is in place (memory must follow it)
   */
  async settle(pending: PendingWrite): Promise<boolean> {
    let onDisk: string | null = null;
    try {
      onDisk = fileHash(await readVaultFile(this.#vaultPath));
    } catch {
      // Unreadable now: the write did not land as far as anyone can tell.
    }
    if (onDisk === pending.sha256) {
      await this.commit(pending).catch(() => undefined);
      return true;
    }
    try {
      await this.#withKey(pending.key, () => this.#audit.record(this.#event(pending, 'abort', false)));
    } catch {
      // The abort is re-derived at the next start from the intent and the file.
    } finally {
      pending.key?.wipe();
    }
    return false;
  }

  #event(pending: PendingWrite, phase: VaultWriteEvent['phase'], recovered: boolean): VaultWriteEvent {
    return {
      type: 'vault-write',
      phase,
      op: pending.op,
      generation: pending.generation,
      sha256: pending.sha256,
      previous: pending.previous,
      recovered,
    };
  }

  /** Vouch for `vouch` from now on, and carry it into every new log file. */
  #settle(vouch: Vouch, event: VaultWriteEvent | VaultStateEvent): void {
    this.#vouch = vouch;
    const sha256 = event.type === 'vault-write' && event.phase === 'abort' ? event.previous : event.sha256;
    if (sha256 === null) return;
    this.#audit.log.setCarry({
      type: 'vault-state',
      reason: 'carry',
      generation: vouch.files.get(sha256) ?? vouch.generation,
      sha256,
      vouched: null,
    });
  }

  /** Resolve an intent without commit or abort (a crash between them). */
  async #recover(intent: AuditRecord & VaultWriteEvent): Promise<void> {
    let onDisk: string | null = null;
    try {
      onDisk = fileHash(await readVaultFile(this.#vaultPath));
    } catch (error) {
      if (!isCryptoFormatError(error, 'VAULT_NOT_FOUND')) return;
    }
    this.#needsSeal = true; // recorded without a MAC: restated, MACed, at the next unlock
    const pending: PendingWrite = { ...intent, key: null };
    if (onDisk === intent.sha256) {
      const event = this.#event(pending, 'commit', true);
      await this.#audit.record(event);
      this.#settle(
        { generation: intent.generation, files: new Map([[intent.sha256, intent.generation]]) },
        event,
      );
    } else if (onDisk === intent.previous) {
      const event = this.#event(pending, 'abort', true);
      await this.#audit.record(event);
      const before = Math.max(0, intent.generation - 1);
      this.#settle({ generation: before, files: new Map([[onDisk ?? '', before]]) }, event);
    }
    // Anything else: neither file of the write. The next unlock refuses it by name.
  }

  /** Check, once, the MAC of the newest sealed vault record found at start. */
  async #verifySealed(key: SecretBuf): Promise<void> {
    const seq = this.#unverifiedSeq;
    if (seq === null) return;
    if (!this.#sealedChained) {
      throw new IpcError(
        'AUDIT_INVALID',
        `the audit log was edited after its vault record (seq ${String(seq)}): the lines after it do not chain; run cr audit verify`,
      );
    }
    const found = await findLastRecords(this.#dir, TYPES, { key });
    const bad = found.find((item) => item.macValid === false);
    if (bad !== undefined) {
      throw new IpcError(
        'AUDIT_INVALID',
        `the audit log's vault record (seq ${String(bad.record.seq)}) does not verify with this vault's key: the log was edited or belongs to another vault; run cr audit verify`,
      );
    }
    this.#unverifiedSeq = null;
  }

  /** Run `fn` with `key` set on the log (MACed records while locked), then take it off. */
  async #withKey<T>(key: SecretBuf | null, fn: () => Promise<T>): Promise<T> {
    // Unlocked, the log holds the same key already: leave it. The check and the append happen
    // in one tick (append MACs synchronously), so a lock cannot slip between them.
    if (key === null || this.#audit.log.keyed) return fn();
    this.#audit.log.setKey(key);
    try {
      return await fn();
    } finally {
      this.#audit.log.setKey(null);
    }
  }

  #refusal(generation: number): IpcError {
    const vouched = this.#vouch?.generation ?? null;
    const backup = `If you restored it on purpose: cr lock, then cr unlock --accept-vault (audited)`;
    if (vouched === null) {
      return new IpcError(
        'VAULT_ROLLBACK',
        `the audit log holds no record of ${this.#vaultPath}, which is at generation ${String(generation)}: the log was removed or replaced. ${backup}`,
      );
    }
    const what =
      generation < vouched
        ? `is generation ${String(generation)}, older than generation ${String(vouched)} that the audit log vouches for (a rollback: an old copy put in its place)`
        : `(generation ${String(generation)}) is not the file the audit log vouches for (generation ${String(vouched)}): it was written by something other than this service`;
    return new IpcError('VAULT_ROLLBACK', `${this.#vaultPath} ${what}. ${backup}`);
  }
}
