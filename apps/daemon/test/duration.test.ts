// SPDX-License-Identifier: AGPL-3.0-only
// Duration options (`--idle-timeout`, `--lifetime`) read the policy's grammar, so `1h30m` means
// the same on the command line and in a task's approval window.
import { describe, expect, it } from 'vitest';
import { isCrError } from '../src/shared/errors.ts';
import { parseDuration } from '../src/shared/duration.ts';

describe('parseDuration (CLI options)', () => {
  it('should read the policy grammar, bare seconds and 0', () => {
    expect(parseDuration('1h30m', '--x')).toBe(5_400_000);
    expect(parseDuration('1.5h', '--x')).toBe(5_400_000);
    expect(parseDuration(' 15m ', '--x')).toBe(900_000);
    expect(parseDuration('90', '--x')).toBe(90_000);
    expect(parseDuration('0', '--x')).toBe(0);
    expect(parseDuration('24d', '--x')).toBe(24 * 86_400_000);
  });

  it('should refuse past 24 days and anything else with USAGE, naming the option', () => {
    for (const bad of ['25d', '30m1h', 'soon', '', '-5', '1.5']) {
      try {
        parseDuration(bad, '--idle-timeout');
        expect.unreachable(bad);
      } catch (error) {
        expect(isCrError(error) && error.code === 'USAGE').toBe(true);
        expect((error as Error).message).toContain('--idle-timeout');
      }
    }
  });
});
