// SPDX-License-Identifier: AGPL-3.0-only
// The small pure helpers the screens share.
import { describe, expect, it } from 'vitest';
import { arrowDelta, moveSelection } from '../src/internal/keys.ts';
import { canImport, countdown, day, fit, lastUsed, messageOf, splitArgv } from '../src/internal/util.ts';
import type { AuditRecordLike } from '../src/types.ts';
import { auditOf, KEY } from './harness.tsx';

describe('messageOf', () => {
  it("should show an error's message with its code, when it has one", () => {
    expect(messageOf(Object.assign(new Error('wrong passphrase'), { code: 'AUTH_FAILED' }))).toBe(
      'wrong passphrase (AUTH_FAILED)',
    );
    expect(messageOf(new Error('plain'))).toBe('plain');
    expect(messageOf(Object.assign(new Error('n'), { code: 5 }))).toBe('n');
    expect(messageOf('a string')).toBe('a string');
  });
});

describe('countdown', () => {
  const now = Date.parse('2026-11-02T10:00:00.000Z');
  it('should count mm:ss, then h:mm:ss, never below zero', () => {
    expect(countdown(null, now)).toBe('—');
    expect(countdown('2026-11-02T10:01:05.000Z', now)).toBe('01:05');
    expect(countdown('2026-11-02T12:00:00.000Z', now)).toBe('2:00:00');
    expect(countdown('2026-11-02T09:00:00.000Z', now)).toBe('00:00');
  });
});

describe('fit, day and splitArgv', () => {
  it('should pad or cut to a width', () => {
    expect(fit('ab', 4)).toBe('ab  ');
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(fit('abc', 1)).toBe('a');
    expect(fit('abc', 0)).toBe('');
  });

  it('should show a time to the minute', () => {
    expect(day('2026-11-02T14:03:59.123Z')).toBe('2026-11-02 14:03');
  });

  it('should split on spaces, no shell quoting', () => {
    expect(splitArgv('  curl  -H "a b"  ')).toEqual(['curl', '-H', '"a', 'b"']);
    expect(splitArgv('')).toEqual([]);
  });
});

describe('canImport', () => {
  it('should take a file with names and no problems only', () => {
    expect(canImport({ names: ['A'], values: [], problems: [] })).toBe(true);
    expect(canImport({ names: [], values: [], problems: [] })).toBe(false);
    expect(canImport({ names: ['A'], values: [], problems: ['line 1'] })).toBe(false);
  });
});

describe('lastUsed', () => {
  it('should keep the newest injection of each secret, from names only', async () => {
    const used = await lastUsed(
      auditOf([
        { seq: 1, time: 't1', type: 'secret-injected', secrets: ['A', 'B'] } as AuditRecordLike,
        { seq: 2, time: 't2', type: 'task-start', secrets: ['A'] } as AuditRecordLike,
        { seq: 3, time: 't3', type: 'secret-injected', secrets: ['A', 7] } as AuditRecordLike,
        { seq: 4, time: 't4', type: 'secret-injected', secrets: 'A' } as AuditRecordLike,
      ])(),
    );
    expect([...used]).toEqual([
      ['A', 't3'],
      ['B', 't1'],
    ]);
  });
});

describe('moveSelection and arrowDelta', () => {
  it('should clamp a selection to the list', () => {
    expect(moveSelection(0, -1, 3)).toBe(0);
    expect(moveSelection(1, 1, 3)).toBe(2);
    expect(moveSelection(2, 5, 3)).toBe(2);
    expect(moveSelection(4, 0, 2)).toBe(1);
    expect(moveSelection(0, 1, 0)).toBe(0);
  });

  it('should read only the arrow keys', () => {
    expect(arrowDelta(KEY.up)).toBe(-1);
    expect(arrowDelta(KEY.down)).toBe(1);
    expect(arrowDelta(KEY.enter)).toBeNull();
  });
});
