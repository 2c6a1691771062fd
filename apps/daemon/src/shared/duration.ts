// SPDX-License-Identifier: AGPL-3.0-only
import { parseDuration as policyDuration } from '@cora/policy';
import { CrError } from './errors.ts';

/** Longest duration accepted: 24 days (setTimeout cannot wait longer than ~24.8 days). */
const MAX_MS = 24 * 86_400_000;

/**
 * Parse a duration option: the policy's grammar (`15m`, `90s`, `1h30m`, `1.5h`, `500ms`, `2d`),
 * a bare number of seconds, or `0` for "never".
 * @param text - the option's value
 * @param option - the option's name, for the message
 * @returns milliseconds
 * @throws CrError `USAGE` for anything else.
 */
export function parseDuration(text: string, option: string): number {
  const trimmed = text.trim();
  const ms = /^\d{1,9}$/.test(trimmed) ? Number(trimmed) * 1000 : (policyDuration(trimmed) ?? Number.NaN);
  if (!Number.isSafeInteger(ms) || ms > MAX_MS) {
    throw new CrError(
      'USAGE',
      `${option} must be a duration like 15m, 90s, 1h30m, 1.5h or 0 (at most 24d), got '${text}'`,
    );
  }
  return ms;
}

/** The idle timeout of an unlock when none is given: 15 minutes from the last request. */
export const DEFAULT_IDLE_TIMEOUT_MS = 15 * 60 * 1000;
