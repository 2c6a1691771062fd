// SPDX-License-Identifier: AGPL-3.0-only
// The CLI's one mapping from what the service or the IPC layer says to an exit code
// (src/cli/wire-errors.ts, README "Exit codes"). Every code gives an exit code the README
// documents; "internal error" is left to protocol faults and bugs (a disk, format or lock
// refusal has its own class); and the two meanings of "rate limited" stay apart: the
// connection's token bucket is "busy, retry", a task's max_spawns is exit 11.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IpcError, IpcErrorCode } from '@cora/ipc';
import { describe, expect, it } from 'vitest';
import { fromWire } from '../src/cli/wire-errors.ts';
import { isCrError } from '../src/shared/errors.ts';
import { APP_DIR } from './helpers.ts';

const ALL_CODES = Object.values(IpcErrorCode);

function mapped(code: IpcErrorCode): { exit: number; message: string } {
  const error = fromWire(new IpcError(code, 'what the service said'));
  if (!isCrError(error)) throw new Error(`${code} did not become a CrError`);
  return { exit: error.exitCode, message: error.message };
}

/** The exit codes of the README's "Exit codes" table. */
function documentedExitCodes(): ReadonlySet<number> {
  const readme = readFileSync(join(APP_DIR, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Exit codes');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return new Set([...section.matchAll(/^\|\s*(\d+) \|/gm)].map((m) => Number(m[1])));
}

describe('wire code → exit code (src/cli/wire-errors.ts)', () => {
  it('should give every wire and local code an exit code the README documents', () => {
    const documented = documentedExitCodes();
    expect(documented.size).toBeGreaterThan(20);
    const undocumented = ALL_CODES.filter((code) => !documented.has(mapped(code).exit));
    expect(undocumented).toEqual([]);
  });

  it('should keep the connection’s rate limit (busy, 25) apart from a task’s max_spawns (11)', () => {
    expect(mapped('RATE_LIMITED').exit).toBe(25);
    expect(mapped('RATE_LIMITED').message).toMatch(/retry in a moment/);
    expect(mapped('TASK_RATE_LIMITED').exit).toBe(11);
    expect(mapped('TASK_RATE_LIMITED').message).toBe('what the service said');
    expect(mapped('BUSY').exit).toBe(25);
  });

  it('should say "internal error" (exit 1) only for protocol faults and bugs', () => {
    const internal = ALL_CODES.filter((code) => mapped(code).exit === 1).sort();
    expect(internal).toEqual([
      'BAD_ATTACHMENT',
      'BAD_FRAME',
      'BAD_JSON',
      'HANDSHAKE_REQUIRED',
      'INTERNAL',
      'PROTOCOL_ERROR',
    ]);
    expect(mapped('INTERNAL').message).toMatch(/service\.log/);
  });

  it('should give each vault, disk and lock refusal its own exit code', () => {
    const exits = (
      [
        'VAULT_CORRUPT',
        'VAULT_UNSUPPORTED',
        'KDF_OUT_OF_RANGE',
        'VAULT_ROLLBACK',
        'DISK_FULL',
        'IO_ERROR',
        'READ_ONLY',
        'PERMISSION_DENIED',
        'LOCK_HELD',
        'BUDGET_EXCEEDED',
      ] as const
    ).map((code) => mapped(code).exit);
    expect(exits).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  });

  it('should return anything that is not an IpcError as it was', () => {
    const other = new TypeError('not from the service');
    expect(fromWire(other)).toBe(other);
    expect(fromWire('text')).toBe('text');
  });
});
