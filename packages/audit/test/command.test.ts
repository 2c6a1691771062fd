// SPDX-License-Identifier: AGPL-3.0-only
// The command a caller sent (argv, cwd) in `task-start` and `approval-requested`: the one free
// text of the log, bounded by the schema and written as printable ASCII (README "Record format").
import { readFile, writeFile } from 'node:fs/promises';
import { makeTempDir } from '@cora/test-utils';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_COMMAND_LIMITS,
  AuditLog,
  isAuditError,
  readRecords,
  validateEvent,
  verifyLog,
  type AuditCommand,
  type AuditRecord,
} from '../src/index.ts';
import { COMMAND, FIXTURES, testKey } from './helpers.ts';

const L = AUDIT_COMMAND_LIMITS;

function startWith(command: unknown): unknown {
  return { ...FIXTURES['task-start'], command };
}

function refusal(input: unknown): string {
  try {
    validateEvent(input);
  } catch (error) {
    if (isAuditError(error, 'INVALID_EVENT')) return error.message;
    throw error;
  }
  throw new Error('accepted');
}

function command(overrides: Partial<AuditCommand>): AuditCommand {
  const argv = overrides.argv ?? COMMAND.argv;
  return { ...COMMAND, argvMore: argv.map(() => 0), ...overrides };
}

/** Every hidden kind @cora/display escapes: C0, ESC, DEL, C1, bidi, zero-width, BOM, astral. */
const HOSTILE = [
  'a\x1b[2Jb',
  'c\x07\r\n\td',
  'e\x7ff',
  'g\u009b31mh',
  'i\u202ej',
  'k\u200bl\u2066m\ufeff',
  'n\u{10fffd}o😀',
  'quote " and \\ backslash',
];

describe('task-start and approval-requested command', () => {
  it('should accept a command at every documented bound', () => {
    const arg = 'a'.repeat(L.maxArgBytes);
    // 16 arguments of 1024 bytes fill the total exactly; empty ones may follow up to 256.
    const full = [
      ...Array.from({ length: 16 }, () => arg),
      ...Array.from({ length: L.maxArgs - 16 }, () => ''),
    ];
    expect(() => validateEvent(startWith(command({ argv: full })))).not.toThrow();
    const cwd = `/${'é'.repeat((L.maxCwdBytes - 2) / 2)}x`; // 4096 UTF-8 bytes
    expect(() => validateEvent(startWith(command({ cwd, cwdMore: 9, argvOmitted: 3 })))).not.toThrow();
    expect(() =>
      validateEvent({ ...FIXTURES['approval-requested'], command: command({ argv: HOSTILE }) }),
    ).not.toThrow();
  });

  it('should refuse a command one byte or one item past each bound', () => {
    const arg = 'a'.repeat(L.maxArgBytes);
    expect(refusal(startWith(command({ argv: [`${arg}b`] })))).toMatch(/^task-start\.command\.argv\.0:/);
    // A multi-byte character counts by its UTF-8 bytes.
    expect(refusal(startWith(command({ argv: [`${arg.slice(1)}é`] })))).toMatch(/\.command\.argv\.0:/);
    const over = Array.from({ length: 17 }, () => arg);
    expect(refusal(startWith(command({ argv: over })))).toMatch(/^task-start\.command\.argv:.*bytes in all/);
    const many = Array.from({ length: L.maxArgs + 1 }, () => '');
    expect(refusal(startWith(command({ argv: many })))).toMatch(/\.command\.argv:/);
    expect(refusal(startWith(command({ cwd: `/${'c'.repeat(L.maxCwdBytes)}` })))).toMatch(/\.command\.cwd:/);
  });

  it('should refuse garbage in every part of the command', () => {
    const wrong: [string, unknown][] = [
      ['argv', 'curl'],
      ['argv', [1]],
      ['argv', [Buffer.from('x')]],
      ['argv', [{ value: 'x' }]],
      ['argv', ['a\0b']],
      ['argvMore', [0, 0]],
      ['argvMore', [-1, 0, 0, 0, 0]],
      ['argvMore', [0.5, 0, 0, 0, 0]],
      ['argvMore', ['0', 0, 0, 0, 0]],
      ['argvOmitted', -1],
      ['argvOmitted', '1'],
      ['cwd', null],
      ['cwd', '/a\0'],
      ['cwd', new Uint8Array(4)],
      ['cwdMore', 2 ** 53],
    ];
    for (const [field, value] of wrong) {
      expect(refusal(startWith({ ...COMMAND, [field]: value }))).toMatch(
        new RegExp(`^task-start\\.command\\.${field}[.:]`),
      );
    }
    expect(refusal(startWith({ ...COMMAND, env: 'X=1' }))).toMatch(/strict_object/);
    const partial = Object.fromEntries(Object.entries(COMMAND).filter(([key]) => key !== 'cwdMore'));
    expect(refusal(startWith(partial))).toMatch(/\.command\.cwdMore:/);
    expect(refusal(startWith(['curl']))).toMatch(/\.command[.:]/);
    expect(refusal(startWith(null))).toMatch(/\.command[.:]/);
  });

  it('should write hidden characters as \\u escapes and read back the exact strings', async () => {
    await using dir = await makeTempDir('cora-audit-');
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    log.setKey(testKey());
    const hostile = command({ argv: HOSTILE, cwd: '/tmp/\u202eevil\x1b]0;t\x07' });
    try {
      await log.append(startWith(hostile) as never);
      await log.append({ ...FIXTURES['approval-requested'], command: hostile });
    } finally {
      await log.close();
    }
    const file = await readFile(`${dir.path}/audit.jsonl`);
    // Printable ASCII and the line ends only: nothing a terminal showing the file acts on.
    for (const byte of file) expect(byte === 0x0a || (byte >= 0x20 && byte <= 0x7e)).toBe(true);
    expect(file.toString()).toContain('"argv":["a\\u001b[2Jb",');
    expect(file.toString()).toContain('"i\\u202ej"');
    const records: AuditRecord[] = [];
    for await (const record of readRecords(dir.path)) records.push(record);
    for (const record of records) {
      expect((record as { command?: AuditCommand }).command).toEqual(hostile);
    }
    expect((await verifyLog(dir.path)).ok).toBe(true);
  });

  it('should refuse a line whose command is spelt another way (a raw bidi override)', async () => {
    await using dir = await makeTempDir('cora-audit-');
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    try {
      await log.append(startWith(command({ argv: ['i\u202ej'] })) as never);
    } finally {
      await log.close();
    }
    const path = `${dir.path}/audit.jsonl`;
    const text = await readFile(path, 'utf8');
    // Same JSON data, raw character instead of the escape: verify re-serialises and compares.
    await writeFile(path, text.replace('\\u202e', '\u202e'));
    const report = await verifyLog(dir.path);
    expect(report.ok).toBe(false);
    expect(report.firstProblem?.kind).toBe('bad-record');
  });
});
