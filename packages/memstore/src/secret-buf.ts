// SPDX-License-Identifier: AGPL-3.0-only
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import type Sodium from 'sodium-native';
import { MemstoreError } from './errors.ts';
import { liveSecretBufs } from './internal/live.ts';

/** What every string conversion of a {@link SecretBuf} yields: never the bytes. */
export const REDACTED = '[SecretBuf redacted]' as const;

type SecureBuffer = ReturnType<typeof Sodium.sodium_malloc>;

let loaded: typeof Sodium | undefined;
/**
 * libsodium, loaded at the first SecretBuf: a process that never holds a secret (`cr status`,
 * `cr exec`) does not pay for loading the native addon.
 */
function sodium(): typeof Sodium {
  return (loaded ??= createRequire(import.meta.url)('sodium-native') as typeof Sodium);
}

/** sodium-native 5 has `sodium_free` (detach now, unmap at finalization); @types lags behind. */
function sodiumFree(buf: SecureBuffer): void {
  (sodium() as unknown as { sodium_free: (buf: SecureBuffer) => void }).sodium_free(buf);
}

/** Largest single secret allocation (architecture §4 caps values at 64 KiB; blocks are bigger). */
const MAX_ALLOC = 256 * 1024 * 1024;

/**
 * Bytes held in libsodium secure memory (`sodium_malloc`: guard pages, canary, mlock where the
 * RLIMIT_MEMLOCK budget allows). The pages are `mprotect`ed no-access except inside
 * {@link SecretBuf.use}, so a stray read crashes instead of leaking. There is deliberately no
 * accessor that returns the bytes: every route to a string yields {@link REDACTED}.
 *
 * @example
 * ```ts
 * import { randomFillSync } from 'node:crypto';
 * const key = SecretBuf.alloc(32);
 * key.use((bytes) => randomFillSync(bytes));
 * key.wipe();
 * ```
 */
export class SecretBuf {
  // ES private fields are invisible to util.inspect, JSON.stringify and Object.keys.
  #region: Region | null;
  #offset: number;
  #length: number;

  private constructor(region: Region, offset: number, length: number) {
    this.#region = region;
    this.#offset = offset;
    this.#length = length;
    region.live += 1;
    liveSecretBufs.count += 1;
  }

  /**
   * Allocate `length` zeroed bytes of secure memory.
   * @throws RangeError when `length` is not an integer in [0, 256 MiB].
   */
  static alloc(length: number): SecretBuf {
    checkLength(length, 'length');
    const [buf] = SecretBuf.allocMany([length]);
    return buf as SecretBuf;
  }

  /**
   * Allocate several zeroed SecretBufs in one secure region, optionally filling them while the
   * region is open once. One `sodium_malloc` instead of one per secret: opening a vault with
   * 1,000 secrets would otherwise spend more time in mmap/mlock/mprotect than in Argon2id
   * (architecture §12), and each allocation would pin at least two pages of RLIMIT_MEMLOCK.
   * The buffers share protection: while one is inside `use()`, its neighbours' pages are
   * readable too. Each can be wiped on its own; the region is freed when the last one is.
   * If `init` throws, every buffer is wiped and the error rethrown.
   * @param lengths - the byte length of each buffer
   * @param init - optional; receives one writable view per buffer, valid only during the call
   * @throws RangeError when a length, or their sum, is not an integer in [0, 256 MiB].
   * @example
   * ```ts
   * const [a, b] = SecretBuf.allocMany([16, 32], (views) => views.forEach((view, i) => view.fill(i + 1)));
   * ```
   */
  static allocMany(lengths: readonly number[], init?: (views: Uint8Array[]) => void): SecretBuf[] {
    let total = 0;
    lengths.forEach((length, i) => {
      checkLength(length, `lengths[${i}]`);
      total += length;
    });
    checkLength(total, 'sum of lengths');
    // sodium_malloc(0) is legal in libsodium but gives nothing to protect; keep one byte.
    const region: Region = { mem: sodium().sodium_malloc(Math.max(total, 1)), depth: 0, live: 0 };
    // New libsodium memory is filled with 0xdb; callers expect zeros.
    sodium().sodium_memzero(region.mem);
    const bufs: SecretBuf[] = [];
    let offset = 0;
    for (const length of lengths) {
      bufs.push(new SecretBuf(region, offset, length));
      offset += length;
    }
    if (init !== undefined) {
      try {
        let at = 0;
        init(
          lengths.map((length) => {
            const view = region.mem.subarray(at, at + length);
            at += length;
            return view;
          }),
        );
      } catch (error) {
        for (const buf of bufs) buf.wipe();
        throw error;
      }
    }
    if (region.live > 0) sodium().sodium_mprotect_noaccess(region.mem);
    return bufs;
  }

  /**
   * Copy `source` into new secure memory. The caller still owns `source` and must wipe it
   * (see {@link wipeBytes}); prefer {@link SecretBuf.fromAndWipe} when the source is transient.
   * @throws TypeError when `source` is not a Uint8Array.
   */
  static from(source: Uint8Array): SecretBuf {
    if (!(source instanceof Uint8Array)) {
      throw new TypeError('source must be a Uint8Array');
    }
    const [buf] = SecretBuf.allocMany([source.byteLength], ([view]) => {
      view?.set(source);
    });
    return buf as SecretBuf;
  }

  /**
   * Allocate `length` bytes of secure memory filled from libsodium's CSPRNG (`randombytes_buf`),
   * so a fresh key never exists outside secure memory.
   * @throws RangeError when `length` is not an integer in [0, 256 MiB].
   * @example
   * ```ts
   * const auditKey = SecretBuf.random(32);
   * ```
   */
  static random(length: number): SecretBuf {
    checkLength(length, 'length');
    const [buf] = SecretBuf.allocMany([length], ([view]) => {
      if (view !== undefined) sodium().randombytes_buf(toBuffer(view));
    });
    return buf as SecretBuf;
  }

  /**
   * Copy `source` into secure memory, then zero `source` (also when the copy throws).
   * @throws TypeError when `source` is not a Uint8Array.
   */
  static fromAndWipe(source: Uint8Array): SecretBuf {
    try {
      return SecretBuf.from(source);
    } finally {
      wipeBytes(source);
    }
  }

  /** Number of secret bytes. Not secret. */
  get length(): number {
    return this.#length;
  }

  /** True once {@link SecretBuf.wipe} ran; a wiped buffer cannot be used again. */
  get wiped(): boolean {
    return this.#region === null;
  }

  /**
   * Run `fn` with read-write access to the bytes, then make them no-access again (also when
   * `fn` throws). `fn` must be synchronous: an async callback would leave the pages open
   * across an await, so a returned promise is refused. Do not keep the view after `fn`
   * returns: touching it later crashes the process by design.
   * @throws MemstoreError `WIPED` after wipe(), `ASYNC_USE` when `fn` returns a promise.
   */
  use<T>(fn: (bytes: Uint8Array) => T): T {
    const region = this.#region;
    if (region === null) throw new MemstoreError('WIPED', 'this SecretBuf was wiped and cannot be used');
    openRegion(region);
    let result: T;
    try {
      result = fn(region.mem.subarray(this.#offset, this.#offset + this.#length));
    } finally {
      closeRegion(region);
    }
    if (isPromiseLike(result)) {
      // The pages are already closed again; whatever the callback does after its first await
      // faults. Observe the promise so its rejection is not reported as unhandled: the caller
      // learns about the misuse from the ASYNC_USE error thrown here.
      Promise.resolve(result).catch(ignore);
      throw new MemstoreError('ASYNC_USE', 'SecretBuf.use callbacks must be synchronous');
    }
    return result;
  }

  /**
   * Constant-time comparison of the contents (libsodium `sodium_memcmp`). Lengths are not
   * secret and are compared first.
   * @throws TypeError when `other` is not a SecretBuf.
   * @throws MemstoreError `WIPED` when either buffer was wiped.
   */
  equals(other: SecretBuf): boolean {
    if (!(other instanceof SecretBuf)) throw new TypeError('other must be a SecretBuf');
    if (this.wiped || other.wiped) {
      throw new MemstoreError('WIPED', 'cannot compare a wiped SecretBuf');
    }
    if (other.length !== this.#length) return false;
    return this.use((a) => other.use((b) => sodium().sodium_memcmp(toBuffer(a), toBuffer(b))));
  }

  /**
   * Zero the bytes and release the memory. Idempotent.
   *
   * When this was the last live buffer of its region, the backing ArrayBuffer is detached at
   * once (any view that escaped a `use` callback then has length 0) and libsodium unmaps the
   * pages, giving back RLIMIT_MEMLOCK budget, when the garbage collector finalizes it.
   */
  wipe(): void {
    const region = this.#region;
    if (region === null) return;
    this.#region = null;
    liveSecretBufs.count -= 1;
    region.live -= 1;
    openRegion(region);
    sodium().sodium_memzero(region.mem.subarray(this.#offset, this.#offset + this.#length));
    this.#length = 0;
    closeRegion(region);
    if (region.live === 0) {
      // Also releases a region whose last buffer is wiped inside its own use() callback.
      region.depth = 0;
      sodium().sodium_mprotect_readwrite(region.mem);
      sodium().sodium_memzero(region.mem);
      // Closed again until libsodium's own sodium_free reopens the pages to check the canary.
      sodium().sodium_mprotect_noaccess(region.mem);
      sodiumFree(region.mem);
    }
  }

  /** Always {@link REDACTED}. */
  toString(): string {
    return REDACTED;
  }

  /** Always {@link REDACTED}. */
  toJSON(): string {
    return REDACTED;
  }

  /** Always {@link REDACTED}. */
  toLocaleString(): string {
    return REDACTED;
  }

  /** Always {@link REDACTED}. */
  valueOf(): string {
    return REDACTED;
  }

  /** Always {@link REDACTED}, whatever the hint (`${buf}`, `buf + ''`, `+buf`). */
  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  get [Symbol.toStringTag](): string {
    return 'SecretBuf';
  }

  /** `util.inspect` and `console.log` print {@link REDACTED}. */
  [inspect.custom](): string {
    return REDACTED;
  }
}

/**
 * Zero a transient byte array (a plain Buffer or Uint8Array that held secret bytes).
 * @param bytes - the array to zero in place
 * @throws TypeError when `bytes` is not a Uint8Array.
 * @example
 * ```ts
 * const tmp = Buffer.alloc(32);
 * try { fs.readSync(fd, tmp); } finally { wipeBytes(tmp); }
 * ```
 */
export function wipeBytes(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  // A plain fill: a JavaScript engine cannot drop a write to buffer memory (it may be shared),
  // which is what sodium_memzero guards against in C; and it needs no native addon.
  bytes.fill(0);
}

/**
 * One `sodium_malloc` allocation shared by one or more SecretBufs. `depth` counts open
 * `use()` scopes (protection is per region), `live` the buffers not yet wiped.
 */
interface Region {
  readonly mem: SecureBuffer;
  depth: number;
  live: number;
}

function openRegion(region: Region): void {
  if (region.depth === 0) sodium().sodium_mprotect_readwrite(region.mem);
  region.depth += 1;
}

function closeRegion(region: Region): void {
  if (region.depth === 0) return; // released while open (see wipe)
  region.depth -= 1;
  if (region.depth === 0) sodium().sodium_mprotect_noaccess(region.mem);
}

function checkLength(length: number, name: string): void {
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_ALLOC) {
    throw new RangeError(`${name} must be an integer from 0 to ${MAX_ALLOC}, got ${String(length)}`);
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function ignore(): void {
  // Deliberately empty: see SecretBuf.use.
}

function isPromiseLike(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
