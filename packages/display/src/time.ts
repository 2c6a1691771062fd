// SPDX-License-Identifier: AGPL-3.0-only
/** Moments and lock reasons for people: the CLI's `cr status` and the TUI's dashboard say them alike. */

/**
 * A moment's local clock, with the date when it is not the same local day as `now`: "14:32:05",
 * "2026-12-03 09:10:00". Text that is not a time comes back as it is.
 *
 * @param iso - an ISO 8601 time
 * @param now - ms since the epoch (default: the current time)
 * @returns the local time
 * @example
 * ```ts
 * localClock('2026-12-04T09:14:00.000Z'); // '10:14:00' in Europe/Paris, on that day
 * ```
 */
export function localClock(iso: string, now: number = Date.now()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const pad = (n: number): string => String(n).padStart(2, '0');
  const clock = `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
  const today = new Date(now);
  const sameDay =
    at.getFullYear() === today.getFullYear() &&
    at.getMonth() === today.getMonth() &&
    at.getDate() === today.getDate();
  return sameDay
    ? clock
    : `${String(at.getFullYear())}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${clock}`;
}

const LOCK_REASONS: Readonly<Record<string, string>> = {
  request: 'by request (cr lock)',
  stop: 'by cr stop',
  idle: 'idle timeout',
  lifetime: 'its lifetime ended',
  suspend: 'the machine slept',
  signal: 'a signal stopped the service',
  shutdown: 'the service stopped',
  error: 'an error in the service',
};

/**
 * Why the service locked, in words: `idle` → "idle timeout", `request` → "by request (cr lock)".
 * An unknown reason (from a newer service) is returned as given.
 *
 * @param reason - a lock reason of `status` (`@cora/ipc` `StatusLockReason`) or of a `lock` record
 * @returns the reason for people
 */
export function lockReasonText(reason: string): string {
  return Object.hasOwn(LOCK_REASONS, reason) ? (LOCK_REASONS[reason] ?? reason) : reason;
}
