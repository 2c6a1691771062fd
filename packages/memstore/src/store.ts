// SPDX-License-Identifier: AGPL-3.0-only
import type { SecretEntry } from './codec.ts';
import { MAX_VALUE_BYTES } from './codec.ts';
import { MemstoreError } from './errors.ts';
import { checkName } from './internal/names.ts';
import { SecretBuf } from './secret-buf.ts';

/** Caps of a {@link MemStore}; each refusal has its own `LIMIT_*` code. */
export interface MemStoreLimits {
  /** Most secrets held at once. Default 10 000. */
  readonly maxEntries: number;
  /** Largest single value in bytes. Default and ceiling 65 536 (the block format's cap). */
  readonly maxValueBytes: number;
  /** Sum of all value lengths in bytes. Default 64 MiB. */
  readonly maxTotalBytes: number;
}

/** What may be shown about a secret: everything except its value. */
export interface SecretInfo {
  readonly name: string;
  /** Value length in bytes. */
  readonly length: number;
  /** Milliseconds since the Unix epoch. */
  readonly created: number;
  /** Milliseconds since the Unix epoch. */
  readonly updated: number;
}

/** Defaults for {@link MemStoreLimits}. */
export const DEFAULT_LIMITS: MemStoreLimits = Object.freeze({
  maxEntries: 10_000,
  maxValueBytes: MAX_VALUE_BYTES,
  maxTotalBytes: 64 * 1024 * 1024,
});

/**
 * Whether `name` is a valid secret name (architecture §4): `[A-Za-z_][A-Za-z0-9_]*`, 1 to 128 bytes.
 *
 * @param name - candidate name
 * @returns true when the store and the block format accept it
 * @example
 * ```ts
 * isValidSecretName('OPENAI_API_KEY'); // true
 * isValidSecretName('9lives');         // false
 * ```
 */
export function isValidSecretName(name: string): boolean {
  return checkName(name);
}

interface Slot {
  value: SecretBuf;
  created: number;
  updated: number;
}

/**
 * Secrets in memory, by name: each value a {@link SecretBuf} the store owns and wipes.
 * Nothing here returns a value; {@link MemStore.use} lends the bytes to a synchronous callback.
 *
 * @example
 * ```ts
 * const store = new MemStore();
 * store.set('GITHUB_TOKEN', SecretBuf.fromAndWipe(bytes));
 * store.use('GITHUB_TOKEN', (token) => sign(token));
 * store.wipeAll();
 * ```
 */
export class MemStore {
  readonly #limits: MemStoreLimits;
  readonly #slots = new Map<string, Slot>();
  /** Every SecretBuf the store owns, so one buffer is never owned twice. */
  readonly #owned = new WeakSet<SecretBuf>();
  #totalBytes = 0;

  /**
   * @param limits - caps to override; the rest keep {@link DEFAULT_LIMITS}
   * @throws RangeError when a limit is not a positive safe integer, or `maxValueBytes` is
   *   over 65 536.
   */
  constructor(limits?: Partial<MemStoreLimits>) {
    const merged: MemStoreLimits = { ...DEFAULT_LIMITS, ...dropUndefined(limits) };
    for (const key of ['maxEntries', 'maxValueBytes', 'maxTotalBytes'] as const) {
      const v = merged[key];
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new RangeError(`limits.${key} must be a positive integer, got ${String(v)}`);
      }
    }
    if (merged.maxValueBytes > MAX_VALUE_BYTES) {
      throw new RangeError(
        `limits.maxValueBytes must be at most ${String(MAX_VALUE_BYTES)}, got ${String(merged.maxValueBytes)}`,
      );
    }
    this.#limits = Object.freeze(merged);
  }

  /** The limits in force. */
  get limits(): MemStoreLimits {
    return this.#limits;
  }

  /** Number of secrets held. */
  get size(): number {
    return this.#slots.size;
  }

  /** Sum of the value lengths held, in bytes. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /**
   * Store `value` under `name`, taking ownership of it. A value it replaces is wiped.
   * On replace the old `created` is kept unless `times.created` is given; `updated` defaults
   * to now.
   *
   * Ownership moves only on success: when `set` throws, nothing changed and the caller still
   * owns (and must wipe) `value`.
   *
   * @param name - secret name, see {@link isValidSecretName}
   * @param value - the secret; owned by the store from now on
   * @param times - optional `created` / `updated` in ms since the epoch (e.g. from a block)
   * @throws TypeError when `value` is not a SecretBuf.
   * @throws RangeError when a time is not an integer in [0, Number.MAX_SAFE_INTEGER].
   * @throws MemstoreError `INVALID_NAME`, `WIPED` (value already wiped), `ALREADY_STORED`
   *   (value is held under another name), `LIMIT_VALUE_SIZE`, `LIMIT_COUNT`,
   *   `LIMIT_TOTAL_SIZE`.
   * @example
   * ```ts
   * const value = SecretBuf.fromAndWipe(input);
   * try { store.set('API_KEY', value); } catch (e) { value.wipe(); throw e; }
   * ```
   */
  set(name: string, value: SecretBuf, times?: { created?: number; updated?: number }): void {
    if (!checkName(name)) {
      throw new MemstoreError('INVALID_NAME', 'name must match [A-Za-z_][A-Za-z0-9_]* and be 1 to 128 bytes');
    }
    if (!(value instanceof SecretBuf)) throw new TypeError('value must be a SecretBuf');
    if (value.wiped) throw new MemstoreError('WIPED', `value for ${name} was already wiped`);
    const old = this.#slots.get(name);
    if (old?.value !== value && this.#owned.has(value)) {
      throw new MemstoreError('ALREADY_STORED', `value for ${name} is already held under another name`);
    }
    const now = Date.now();
    const created = times?.created ?? old?.created ?? now;
    const updated = times?.updated ?? now;
    checkTime(created, 'times.created');
    checkTime(updated, 'times.updated');
    if (value.length > this.#limits.maxValueBytes) {
      throw new MemstoreError(
        'LIMIT_VALUE_SIZE',
        `value for ${name} is ${String(value.length)} bytes, over the limit of ${String(this.#limits.maxValueBytes)}`,
      );
    }
    if (old === undefined && this.#slots.size >= this.#limits.maxEntries) {
      throw new MemstoreError('LIMIT_COUNT', `store is full (${String(this.#limits.maxEntries)} secrets)`);
    }
    const total = this.#totalBytes - (old?.value.length ?? 0) + value.length;
    if (total > this.#limits.maxTotalBytes) {
      throw new MemstoreError(
        'LIMIT_TOTAL_SIZE',
        `storing ${name} would hold ${String(total)} bytes, over the limit of ${String(this.#limits.maxTotalBytes)}`,
      );
    }
    // Past every check: from here on the store owns `value`.
    this.#slots.set(name, { value, created, updated });
    this.#owned.add(value);
    this.#totalBytes = total;
    if (old !== undefined && old.value !== value) old.value.wipe();
  }

  /**
   * Whether a secret called `name` is held.
   * @param name - secret name
   * @returns true when present
   */
  has(name: string): boolean {
    return this.#slots.has(name);
  }

  /**
   * Lend the bytes of `name` to a synchronous callback (see {@link SecretBuf.use}).
   *
   * @param name - secret name
   * @param fn - receives the bytes; must not keep them or return a promise
   * @returns what `fn` returns
   * @throws MemstoreError `NOT_FOUND` when no such secret, `ASYNC_USE` when `fn` returns a
   *   promise; whatever `fn` throws.
   * @example
   * ```ts
   * const tag = store.use('HMAC_KEY', (key) => hmac(key, message));
   * ```
   */
  use<T>(name: string, fn: (bytes: Uint8Array) => T): T {
    const slot = this.#slots.get(name);
    if (slot === undefined) throw new MemstoreError('NOT_FOUND', `no secret called ${safeName(name)}`);
    return slot.value.use(fn);
  }

  /**
   * Remove and wipe the secret `name`.
   * @param name - secret name
   * @returns true when something was removed
   */
  delete(name: string): boolean {
    const slot = this.#slots.get(name);
    if (slot === undefined) return false;
    this.#slots.delete(name);
    this.#owned.delete(slot.value);
    this.#totalBytes -= slot.value.length;
    slot.value.wipe();
    return true;
  }

  /**
   * Names of all secrets, sorted.
   * @returns a new array
   */
  names(): string[] {
    return [...this.#slots.keys()].sort(compareNames);
  }

  /**
   * Metadata of all secrets, sorted by name. Never values.
   * @returns a new array of frozen records
   */
  list(): SecretInfo[] {
    return this.names().map((name) => {
      const slot = this.#slot(name);
      return Object.freeze({ name, length: slot.value.length, created: slot.created, updated: slot.updated });
    });
  }

  /**
   * Every secret as a {@link SecretEntry}, sorted by name, for `encodeSecretsBlock`. The values
   * are **borrowed**: the store still owns them, so do not wipe or store them elsewhere.
   * @returns a new array of frozen entries
   */
  entries(): SecretEntry[] {
    return this.names().map((name) => {
      const slot = this.#slot(name);
      return Object.freeze({ name, value: slot.value, created: slot.created, updated: slot.updated });
    });
  }

  /** Wipe and drop every secret (lock, idle timeout, signal, exit). Idempotent. */
  wipeAll(): void {
    for (const slot of this.#slots.values()) {
      this.#owned.delete(slot.value);
      slot.value.wipe();
    }
    this.#slots.clear();
    this.#totalBytes = 0;
  }

  #slot(name: string): Slot {
    const slot = this.#slots.get(name);
    if (slot === undefined) throw new Error(`internal: ${name} vanished`);
    return slot;
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkTime(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `${what} must be an integer from 0 to ${String(Number.MAX_SAFE_INTEGER)}, got ${String(value)}`,
    );
  }
}

/** Names in error messages: the valid ones verbatim, anything else described, not echoed. */
function safeName(name: string): string {
  return checkName(name) ? name : '(invalid name)';
}

function dropUndefined(limits: Partial<MemStoreLimits> | undefined): Partial<MemStoreLimits> {
  const out: { -readonly [K in keyof MemStoreLimits]?: number } = {};
  if (limits === undefined) return out;
  if (limits.maxEntries !== undefined) out.maxEntries = limits.maxEntries;
  if (limits.maxValueBytes !== undefined) out.maxValueBytes = limits.maxValueBytes;
  if (limits.maxTotalBytes !== undefined) out.maxTotalBytes = limits.maxTotalBytes;
  return out;
}
