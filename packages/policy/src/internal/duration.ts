// SPDX-License-Identifier: AGPL-3.0-only

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** One positive integer and a unit: `500ms`, `30s`, `15m`, `8h`, `7d`. */
const DURATION = /^([1-9][0-9]{0,9})(ms|s|m|h|d)$/;

/** At most one year: a longer ttl or approval window is a policy mistake, not a need. */
const MAX_DURATION_MS = 366 * 86_400_000;

/** Milliseconds of a duration string, or `null` when it is not one (or is over a year). */
export function durationMs(text: string): number | null {
  const match = DURATION.exec(text);
  if (match === null) return null;
  const unit = match[2] as keyof typeof UNIT_MS;
  const ms = Number(match[1]) * UNIT_MS[unit];
  return ms <= MAX_DURATION_MS ? ms : null;
}
