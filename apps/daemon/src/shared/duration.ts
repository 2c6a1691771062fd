// SPDX-License-Identifier: AGPL-3.0-only
import { CrError } from './errors.ts';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longest duration accepted: 24 days (setTimeout cannot wait longer than ~24.8 days). */
const MAX_MS = 24 * 86_400_000;

/**
 * Parse a duration like `15m`, `90s`, `1h`, `500ms`, `2d`; a bare number is seconds; `0`
 * means "never".
 * @param text - the option's value
 * @param option - the option's name, for the message
 * @returns milliseconds
 * @throws CrError `USAGE` for anything else.
 */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim());
  const unit = match?.[2] ?? 's';
  const ms = match === null ? Number.NaN : Number(match[1]) * (UNITS[unit] ?? Number.NaN);
  if (!Number.isSafeInteger(ms) || ms > MAX_MS) {
    throw new CrError(
      'USAGE',
      `${option} must be a duration like 15m, 90s, 1h or 0 (at most 24d), got '${text}'`,
    );
  }
  return ms;
}

/** The idle timeout of an unlock when none is given: 15 minutes from the last request. */
export const DEFAULT_IDLE_TIMEOUT_MS = 15 * 60 * 1000;
