// SPDX-License-Identifier: AGPL-3.0-only
import { createHash } from 'node:crypto';

/** Token-bucket settings (architecture §5: per-caller token-bucket rate limits). */
export interface RateLimit {
  /** Bucket size: the burst a caller may send at once. */
  readonly capacity: number;
  /** Tokens added per second. */
  readonly refillPerSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Most buckets kept: callers come and go (one key per executable), the map must not grow with them. */
export const MAX_BUCKETS = 1024;
/** Longer keys (an executable's path can be 4 KiB) are kept as their hash. */
const MAX_KEY_CHARS = 128;

/**
 * Buckets by caller key, least recently used first. A full bucket carries no state and is
 * forgotten first; past {@link MAX_BUCKETS} the least recently used one goes too (its caller
 * would start again from a full bucket, which bounds memory at the price of a burst).
 */
export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit) {
    this.#limit = limit;
  }

  /** Buckets currently held. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Take one token for `key`; false when the bucket is empty. */
  take(key: string, now: number = performance.now()): boolean {
    const k = key.length > MAX_KEY_CHARS ? `#${createHash('sha256').update(key).digest('base64')}` : key;
    let bucket = this.#buckets.get(k);
    if (bucket === undefined) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#makeRoom(now);
      bucket = { tokens: this.#limit.capacity, at: now };
    } else {
      // Re-inserted so the map's order stays least recently used first.
      this.#buckets.delete(k);
    }
    this.#buckets.set(k, bucket);
    this.#refill(bucket, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #refill(bucket: Bucket, now: number): void {
    const elapsed = Math.max(0, now - bucket.at) / 1000;
    bucket.tokens = Math.min(this.#limit.capacity, bucket.tokens + elapsed * this.#limit.refillPerSecond);
    bucket.at = now;
  }

  /** Drop every full bucket; if none was full, the least recently used one. */
  #makeRoom(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      this.#refill(bucket, now);
      if (bucket.tokens >= this.#limit.capacity) this.#buckets.delete(key);
    }
    if (this.#buckets.size >= MAX_BUCKETS) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done !== true) this.#buckets.delete(oldest.value);
    }
  }
}
