// SPDX-License-Identifier: AGPL-3.0-only

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
/** Largest unit first: `1h30m` is a duration, `30m1h` and `1h1h` are mistakes. */
const ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];

/** One part: a number (a decimal point allowed) and its unit. `ms` before `m`, or `m` would match. */
const PART = /(\d{1,10}(?:\.\d{1,9})?)(ms|d|h|m|s)/y;

/** At most one year: a longer ttl or approval window is a policy mistake, not a need. */
const MAX_DURATION_MS = 366 * 86_400_000;

/**
 * Milliseconds of a duration string: parts from largest unit to smallest, each a number and a
 * unit (`500ms`, `30s`, `15m`, `1h30m`, `1.5h`, `7d`), summing to a whole number of ms from
 * 1 ms to a year. `null` for anything else.
 */
export function durationMs(text: string): number | null {
  if (text.length === 0 || text.length > 40) return null;
  PART.lastIndex = 0;
  let total = 0;
  let next = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (match === null) return null;
    const unit = match[2] as Unit;
    const rank = ORDER.indexOf(unit);
    if (rank < next) return null;
    next = rank + 1;
    // Decimal parts in integer arithmetic: "1.5" h is 15 × h / 10, exact or refused.
    const [whole = '', fraction = ''] = (match[1] ?? '').split('.');
    const scale = 10 ** fraction.length;
    const scaled = (Number(whole) * scale + Number(fraction || '0')) * UNIT_MS[unit];
    if (scaled % scale !== 0) return null;
    total += scaled / scale;
  }
  return Number.isSafeInteger(total) && total >= 1 && total <= MAX_DURATION_MS ? total : null;
}
