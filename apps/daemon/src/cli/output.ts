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
