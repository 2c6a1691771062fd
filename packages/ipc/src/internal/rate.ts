// SPDX-License-Identifier: AGPL-3.0-only

/** Token-bucket settings (DESIGN §5: per-caller token-bucket rate limits). */
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

/** Buckets by caller key; full buckets are forgotten when the map grows (they carry no state). */
export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit) {
    this.#limit = limit;
  }

  /** Take one token for `key`; false when the bucket is empty. */
  take(key: string, now: number = performance.now()): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= 4096) this.#prune(now);
      bucket = { tokens: this.#limit.capacity, at: now };
      this.#buckets.set(key, bucket);
    }
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

  #prune(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      this.#refill(bucket, now);
      if (bucket.tokens >= this.#limit.capacity) this.#buckets.delete(key);
    }
  }
}
