// SPDX-License-Identifier: AGPL-3.0-only
import { posix, win32 } from 'node:path';

/** Longest path accepted in a policy (Linux PATH_MAX). */
const MAX_PATH = 4096;

/**
 * A normalized absolute path: POSIX (`/usr/bin/curl`) or a Windows drive path
 * (`C:\Tools\x.exe`). Normalized means equal to its own `normalize()` (no `.`/`..`
 * segments, no doubled or trailing separators), because the daemon compares it byte for
 * byte with a realpath (architecture §7: "matched after resolution to an absolute path").
 */
export function isAbsolutePath(value: string): boolean {
  if (value.length === 0 || value.length > MAX_PATH || value.includes('\0')) return false;
  if (value.startsWith('/'))
    return value === '/' || (posix.normalize(value) === value && !value.endsWith('/'));
  if (/^[A-Za-z]:\\/.test(value)) return win32.normalize(value) === value && !value.endsWith('\\');
  return false;
}

/** Environment variable names accepted in `env_pass`: the portable shell rule. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Task names: what `cr exec TASK` can take without quoting (decision, see README). */
export const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Whether `name` is a task name the policy accepts (architecture §7 `tasks.<NAME>`): a letter or
 * digit, then letters, digits, `_`, `.` or `-`, at most 64 characters — what `cr exec TASK`
 * takes without quoting. The schema checks task names with this same rule, so a name that
 * passes here is never refused by {@link parsePolicy} for its spelling.
 *
 * @param name - The candidate task name.
 * @returns `true` when the policy accepts it.
 * @example
 * ```ts
 * isValidTaskName('deploy'); // true
 * isValidTaskName('-rf');    // false: a leading '-' would read as an option
 * ```
 */
export function isValidTaskName(name: string): boolean {
  return TASK_NAME.test(name);
}

/** Lower-case hex SHA-256. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Basenames of interpreters: the exe runs whatever script (or `-e` code) it is handed, so
 * the exe alone says nothing about what runs (architecture §6). Versioned names included
 * (`python3.12`, `ruby3.3`, `perl5.38`, `node22`).
 */
const INTERPRETER = new RegExp(
  '^(?:' +
    [
      'node(?:js)?\\d*',
      'bun',
      'deno',
      'python[\\d.]*',
      'pypy[\\d.]*',
      'perl[\\d.]*',
      'ruby[\\d.]*',
      'php[\\d.]*',
      'lua[\\d.]*',
      'luajit',
      'tclsh[\\d.]*',
      'wish[\\d.]*',
      'osascript',
      'pwsh',
      'rscript',
      'gawk|mawk|awk',
      'sh|bash|dash|zsh|ksh|mksh|pdksh|yash|ash|busybox|fish|csh|tcsh|elvish|nu',
    ].join('|') +
    ')(?:\\.exe)?$',
  'i',
);

/** `true` when `exe` names an interpreter (see README, "Interpreters"). */
export function isInterpreterPath(exe: string): boolean {
  const base = exe.slice(Math.max(exe.lastIndexOf('/'), exe.lastIndexOf('\\')) + 1);
  return INTERPRETER.test(base);
}
