// SPDX-License-Identifier: AGPL-3.0-only
/** How the CLI writes: results to stdout, notes and warnings to stderr (never a secret). */

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** "14 min", "2 h 5 min", "40 s": a span for people, rounded to what matters at its size. */
export function span(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return `${String(s)} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `${String(min)} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${String(h)} h ${String(min % 60)} min`;
  return `${String(Math.round(h / 24))} days`;
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
  const pad = (n: number): string => String(n).padStart(2, '0');
  const clock = `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
  const today = new Date(now);
  const sameDay =
    at.getFullYear() === today.getFullYear() &&
    at.getMonth() === today.getMonth() &&
    at.getDate() === today.getDate();
  const day = sameDay ? '' : `${String(at.getFullYear())}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} `;
  const delta = at.getTime() - now;
  return `${day}${clock} (${delta >= 0 ? `in ${span(delta)}` : `${span(delta)} ago`})`;
}
