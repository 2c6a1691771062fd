// SPDX-License-Identifier: AGPL-3.0-only
import { PolicyError } from './errors.ts';
import { durationMs } from './internal/duration.ts';
import { isAbsolutePath, isInterpreterPath, SHA256_HEX } from './internal/names.ts';
import type { CallerRule } from './schema.ts';

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

/**
 * Read the CLI form of a caller, `PATH[@sha256=HEX]` (`cr policy allow PATH --pin` writes
 * it). Upper-case hex is accepted and lower-cased.
 *
 * @param spec - e.g. `/usr/local/bin/agent@sha256=9f86…`.
 * @returns The rule (exe and optional pin).
 * @throws {@link PolicyError} `INVALID_CALLER_SPEC` when the path is not absolute or the pin
 *   is not 64 hex digits.
 */
export function parseCallerSpec(spec: string): CallerRule {
  if (typeof spec !== 'string') throw new TypeError('spec must be a string');
  const at = spec.lastIndexOf('@sha256=');
  const exe = at === -1 ? spec : spec.slice(0, at);
  const hex = at === -1 ? undefined : spec.slice(at + 8).toLowerCase();
  if (!isAbsolutePath(exe)) {
    throw new PolicyError('INVALID_CALLER_SPEC', `caller "${exe}" must be a normalized absolute path`);
  }
  if (hex !== undefined && !SHA256_HEX.test(hex)) {
    throw new PolicyError('INVALID_CALLER_SPEC', `the pin of "${exe}" must be sha256= and 64 hex digits`);
  }
  return hex === undefined ? { exe } : { exe, sha256: hex };
}

/** The CLI form of a rule: `PATH[@sha256=HEX]` (script and uid are not part of it). */
export function formatCallerSpec(rule: CallerRule): string {
  return rule.sha256 === undefined ? rule.exe : `${rule.exe}@sha256=${rule.sha256}`;
}
