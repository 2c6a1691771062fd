// SPDX-License-Identifier: AGPL-3.0-only
import { durationMs } from './internal/duration.ts';
import { isInterpreterPath } from './internal/names.ts';

/**
 * `true` when `exe`'s basename is an interpreter (node, python*, bun, deno, sh, bash, perl,
 * ruby…): such a caller is allowed only together with a script (architecture §6).
 *
 * @example
 * ```ts
 * isInterpreter('/usr/bin/python3.12'); // true
 * ```
 */
export function isInterpreter(exe: string): boolean {
  if (typeof exe !== 'string') throw new TypeError('exe must be a string');
  return isInterpreterPath(exe);
}

/**
 * Milliseconds of a policy duration: parts from the largest unit down (`500ms`, `30s`, `15m`,
 * `1h30m`, `1.5h`, `7d`), a whole number of ms from 1 ms to a year.
 *
 * @returns The duration in ms, or `null` when `text` is not one.
 */
export function parseDuration(text: string): number | null {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  return durationMs(text);
}
