// SPDX-License-Identifier: AGPL-3.0-only
/** How the CLI writes: results to stdout, notes and warnings to stderr (never a secret). */
import { localClock, span } from '@cora/display';

/** A span of time for people ("14 min"): `@cora/display`'s, which the approval lines use too. */
export { localClock, span };

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/**
 * A moment for people: local time (with the date when it is not today) and how far it is,
 * e.g. "14:32:05 (in 14 min)" or "2026-12-03 09:10:00 (1 day ago)". `--json` keeps ISO UTC.
 * @param iso - an ISO 8601 time
 * @param now - ms since the epoch
 */
export function localTime(iso: string, now = Date.now()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const delta = at.getTime() - now;
  return `${localClock(iso, now)} (${delta >= 0 ? `in ${span(delta)}` : `${span(delta)} ago`})`;
}
