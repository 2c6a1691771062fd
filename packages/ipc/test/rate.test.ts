// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import { MAX_BUCKETS, RateLimiter } from '../src/internal/rate.ts';

describe('RateLimiter', () => {
  it('should empty a bucket at its capacity and refill it with time', () => {
    const limiter = new RateLimiter({ capacity: 3, refillPerSecond: 2 });
    expect([0, 0, 0, 0].map((t) => limiter.take('a', t))).toEqual([true, true, true, false]);
    expect(limiter.take('b', 0)).toBe(true); // another caller has its own bucket
    expect(limiter.take('a', 499)).toBe(false);
    expect(limiter.take('a', 500)).toBe(true);
  });

  it('should hold at most MAX_BUCKETS after 10,000 distinct short-lived peers, none of them full', () => {
    const limiter = new RateLimiter({ capacity: 200, refillPerSecond: 100 });
    // Each peer takes its whole burst at once: no bucket is full again, so none is free to drop.
    for (let peer = 0; peer < 10_000; peer++) {
      for (let i = 0; i < 200; i++) limiter.take(`1000:/tmp/agent-${peer}`, 0);
      expect(limiter.size).toBeLessThanOrEqual(MAX_BUCKETS);
    }
    expect(limiter.size).toBe(MAX_BUCKETS);
  });

  it('should drop full buckets first and keep the state of a caller still limited', () => {
    const limiter = new RateLimiter({ capacity: 2, refillPerSecond: 1 });
    expect([limiter.take('busy', 0), limiter.take('busy', 0)]).toEqual([true, true]);
    for (let peer = 1; peer < MAX_BUCKETS; peer++) limiter.take(`peer-${peer}`, 0);
    expect(limiter.size).toBe(MAX_BUCKETS);
    // 1.5 s later every peer's bucket is full again, but not the busy caller's (1.5 of 2).
    limiter.take('newcomer', 1500);
    expect(limiter.size).toBe(2);
    expect(limiter.take('busy', 1500)).toBe(true);
    expect(limiter.take('busy', 1500)).toBe(false); // a fresh bucket would have said true
  });

  it('should keep a 4 KiB key as a short hash, the same bucket each time', () => {
    const limiter = new RateLimiter({ capacity: 1, refillPerSecond: 1 });
    const long = `1000:/${'x'.repeat(4096)}`;
    expect(limiter.take(long, 0)).toBe(true);
    expect(limiter.take(long, 0)).toBe(false);
    expect(limiter.take(`${long}y`, 0)).toBe(true);
    expect(limiter.size).toBe(2);
  });
});
