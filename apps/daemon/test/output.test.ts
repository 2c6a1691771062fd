// SPDX-License-Identifier: AGPL-3.0-only
// Times for people: local clock and how far away, so "locks in 14 min" needs no arithmetic.
import { describe, expect, it } from 'vitest';
import { localTime, span } from '../src/cli/output.ts';

describe('span and localTime', () => {
  it('should round a span to what matters at its size', () => {
    expect([
      span(40_000),
      span(-40_000),
      span(14 * 60_000),
      span(125 * 60_000),
      span(3 * 86_400_000),
    ]).toEqual(['40 s', '40 s', '14 min', '2 h 5 min', '3 days']);
  });

  it('should give the local clock and the distance, with the date only on another day', () => {
    const now = new Date(2026, 11, 4, 10, 0, 0).getTime();
    const later = new Date(2026, 11, 4, 10, 14, 0).toISOString();
    const earlier = new Date(2026, 11, 3, 9, 10, 0).toISOString();
    expect(localTime(later, now)).toBe('10:14:00 (in 14 min)');
    expect(localTime(earlier, now)).toBe('2026-12-03 09:10:00 (24 h 50 min ago)');
    expect(localTime('not a time', now)).toBe('not a time');
  });
});
