// SPDX-License-Identifier: AGPL-3.0-only
// The audit viewer's reducer, window, keys and text, as pure functions.
import { describe, expect, it } from 'vitest';
import type { AuditVerifyResult } from '@cora/ipc';
import {
  auditKey,
  auditWindow,
  detailLines,
  initialAudit,
  matchesFilter,
  MAX_AUDIT_RECORDS,
  pageHeight,
  recordLine,
  reduceAudit,
  verifyBadge,
  type AuditState,
} from '../../src/internal/screens/audit/state.ts';
import type { AuditRecordLike } from '../../src/types.ts';
import { KEY } from '../harness.tsx';

/** `n` records, seq 1…n, every third a task-start of `deploy`. */
function records(n: number): AuditRecordLike[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: i + 1,
    time: `2026-11-02T10:${String(i % 60).padStart(2, '0')}:00.000Z`,
    type: i % 3 === 0 ? 'task-start' : 'connect',
    ...(i % 3 === 0 ? { task: 'deploy' } : {}),
    caller: { pid: i, exe: '/usr/bin/claude' },
  }));
}

function withRecords(n: number, extra: Partial<AuditState> = {}): AuditState {
  return { ...reduceAudit(initialAudit(), { type: 'records', records: records(n) }), ...extra };
}

const OK: AuditVerifyResult = {
  ok: true,
  records: 12,
  files: ['audit.jsonl'],
  head: null,
  macChecked: true,
  lastSealedSeq: 12,
  unsealed: 0,
  torn: null,
  firstProblem: null,
};

describe('matchesFilter', () => {
  const record = {
    seq: 4,
    time: '2026-11-02T10:00:00.000Z',
    type: 'task-start',
    task: 'deploy',
    caller: { pid: 3, exe: '/usr/bin/claude' },
  };
  it('should match typed terms on their field only, and bare words on type, task or caller', () => {
    expect(matchesFilter(record, '')).toBe(true);
    expect(matchesFilter(record, 'type:task')).toBe(true);
    expect(matchesFilter(record, 'type:deploy')).toBe(false);
    expect(matchesFilter(record, 'task:DEP caller:claude')).toBe(true);
    expect(matchesFilter(record, 'task:dep caller:node')).toBe(false);
    expect(matchesFilter(record, 'claude')).toBe(true);
    expect(matchesFilter(record, 'nothing')).toBe(false);
    expect(matchesFilter({ seq: 1, time: record.time, type: 'lock' }, 'caller:x')).toBe(false);
  });

  it("should match an unknown field's value as a bare word, and a leading colon literally", () => {
    expect(matchesFilter(record, 'pid:deploy')).toBe(true);
    expect(matchesFilter(record, 'pid:nothing')).toBe(false);
    expect(matchesFilter(record, ':deploy')).toBe(false);
  });
});

describe('reduceAudit', () => {
  it('should start following, unfiltered, at the newest record', () => {
    const state = initialAudit();
    expect(state).toMatchObject({ follow: true, filter: '', cursor: null, detail: false, verify: null });
  });

  it('should keep only the newest records past the cap', () => {
    const state = reduceAudit(withRecords(MAX_AUDIT_RECORDS), { type: 'records', records: records(3) });
    expect(state.records).toHaveLength(MAX_AUDIT_RECORDS);
    expect(state.records.at(-1)?.seq).toBe(3);
    expect(reduceAudit(state, { type: 'reset' }).records).toEqual([]);
  });

  it('should move the cursor up from the newest and stick to the newest again at the bottom', () => {
    let state = reduceAudit(withRecords(10), { type: 'move', delta: -1 });
    expect(state.cursor).toBe(8);
    state = reduceAudit(state, { type: 'move', delta: -100 });
    expect(state.cursor).toBe(0);
    state = reduceAudit(state, { type: 'move', delta: 100 });
    expect(state.cursor).toBeNull();
  });

  it('should move within the filtered records', () => {
    const state = reduceAudit(withRecords(9, { filter: 'type:task' }), { type: 'move', delta: -1 });
    expect(state.cursor).toBe(1); // three task-start records: 0, 1, 2
  });

  it('should open and close the detail pane, and follow or pause', () => {
    const state = reduceAudit(initialAudit(), { type: 'detail' });
    expect(state.detail).toBe(true);
    expect(reduceAudit(state, { type: 'detail' }).detail).toBe(false);
    expect(reduceAudit(state, { type: 'follow' }).follow).toBe(false);
  });

  it('should set a trimmed filter and go back to the newest, or leave it when cancelled', () => {
    const editing = reduceAudit(withRecords(5, { cursor: 1, filter: 'old' }), { type: 'edit' });
    expect(editing.editing).toBe(true);
    const set = reduceAudit(editing, { type: 'filter', filter: '  type:lock ' });
    expect(set).toMatchObject({ filter: 'type:lock', cursor: null, editing: false });
    const left = reduceAudit(editing, { type: 'filter', filter: null });
    expect(left).toMatchObject({ filter: 'old', cursor: 1, editing: false });
  });

  it('should show verify running, then its result; a failure keeps the old badge and says why', () => {
    const running = reduceAudit(initialAudit(), { type: 'verify' });
    expect(running.verify).toBe('running');
    expect(reduceAudit(running, { type: 'verified', result: OK }).verify).toBe(OK);
    const failed = reduceAudit(running, { type: 'failed', message: 'LOCKED' });
    expect(failed.verify).toBeNull();
    expect(failed.note).toBe('LOCKED');
    const readFailed = reduceAudit({ ...initialAudit(), verify: OK }, { type: 'failed', message: 'EACCES' });
    expect(readFailed.verify).toBe(OK);
  });
});

describe('auditWindow and pageHeight', () => {
  it('should fit the terminal less the frame, less the detail pane when open', () => {
    expect(pageHeight(30, false)).toBe(22);
    expect(pageHeight(30, true)).toBe(14);
    expect(pageHeight(5, true)).toBe(3);
  });

  it('should show the newest records, the cursor on the last', () => {
    const w = auditWindow(withRecords(40), 30);
    expect(w.shown).toHaveLength(40);
    expect(w.at).toBe(39);
    expect(w.start).toBe(18);
    expect(w.height).toBe(22);
  });

  it('should scroll up to a cursor above the window', () => {
    const w = auditWindow(withRecords(40, { cursor: 3 }), 30);
    expect(w.start).toBe(0);
    expect(w.at).toBe(3);
  });

  it('should clamp a cursor past a shrunk list, and be empty for no match', () => {
    expect(auditWindow(withRecords(5, { cursor: 50 }), 30).at).toBe(4);
    const none = auditWindow(withRecords(5, { filter: 'type:nothing' }), 30);
    expect(none.shown).toEqual([]);
    expect(none.at).toBe(-1);
  });
});

describe('auditKey', () => {
  it('should move by one and by a page (a window less a line)', () => {
    expect(auditKey('', KEY.up, 10)).toEqual({ type: 'move', delta: -1 });
    expect(auditKey('', KEY.down, 10)).toEqual({ type: 'move', delta: 1 });
    expect(auditKey('', KEY.pageUp, 10)).toEqual({ type: 'move', delta: -9 });
    expect(auditKey('', KEY.pageDown, 10)).toEqual({ type: 'move', delta: 9 });
    expect(auditKey('', KEY.pageDown, 1)).toEqual({ type: 'move', delta: 1 });
  });

  it('should map Enter, /, f and v, and nothing else', () => {
    expect(auditKey('', KEY.enter, 10)).toEqual({ type: 'detail' });
    expect(auditKey('/', KEY.none, 10)).toEqual({ type: 'edit' });
    expect(auditKey('f', KEY.none, 10)).toEqual({ type: 'follow' });
    expect(auditKey('v', KEY.none, 10)).toEqual({ type: 'verify' });
    expect(auditKey('x', KEY.none, 10)).toBeNull();
    expect(auditKey('v', KEY.ctrl, 10)).toBeNull();
  });
});

describe('verifyBadge', () => {
  it('should say not verified, verifying, and ok with what was checked', () => {
    expect(verifyBadge(null)).toEqual({ text: 'chain: not verified (v)', tone: 'none' });
    expect(verifyBadge('running')).toEqual({ text: 'chain: verifying…', tone: 'none' });
    expect(verifyBadge(OK)).toEqual({ text: 'chain ok: 12 records, MAC checked', tone: 'ok' });
    expect(verifyBadge({ ...OK, macChecked: false, unsealed: 2 }).text).toBe(
      'chain ok: 12 records, MAC not checked (locked), 2 unsealed',
    );
  });

  it('should name the first problem of a broken chain', () => {
    const broken: AuditVerifyResult = {
      ...OK,
      ok: false,
      firstProblem: { file: 'audit.jsonl', line: 2, seq: 2, kind: 'HASH_MISMATCH', message: 'edited' },
    };
    expect(verifyBadge(broken)).toEqual({
      text: 'chain BROKEN: HASH_MISMATCH at audit.jsonl:2 (edited)',
      tone: 'broken',
    });
    expect(verifyBadge({ ...broken, firstProblem: null }).text).toBe('chain BROKEN');
  });
});

describe('recordLine and detailLines', () => {
  const record = {
    seq: 12,
    time: '2026-11-02T10:01:02.345Z',
    type: 'task-start',
    task: 'deploy',
    caller: { pid: 2, exe: '/usr/bin/claude' },
  };

  it('should line up seq, time, type, task and caller, without the time when compact', () => {
    expect(recordLine(record, false)).toBe(
      '12     2026-11-02 10:01:02 task-start       deploy       /usr/bin/claude',
    );
    expect(recordLine(record, true)).toBe('12     task-start       deploy       /usr/bin/claude');
    expect(recordLine({ seq: 1, time: record.time, type: 'lock' }, true)).toBe(
      '1      lock                          ',
    );
  });

  it('should list every field, objects as JSON', () => {
    expect(detailLines({ ...record, secrets: ['K'] } as AuditRecordLike)).toEqual([
      ['seq', '12'],
      ['time', '2026-11-02T10:01:02.345Z'],
      ['type', 'task-start'],
      ['task', 'deploy'],
      ['caller', '{"pid":2,"exe":"/usr/bin/claude"}'],
      ['secrets', '["K"]'],
    ]);
  });

  it('should draw no character another process chose that could steer the terminal', () => {
    const hostile: AuditRecordLike = {
      ...record,
      caller: { pid: 2, exe: '/tmp/\x1b[2J\u202eevil' },
      command: {
        argv: ['curl', 'a b', '', 'x\x1b]0;title\x07y', 'k\u200bl', 'cut'],
        argvMore: [0, 0, 0, 0, 0, 700],
        argvOmitted: 12,
        cwd: '/home/u/\u202ep',
        cwdMore: 0,
      },
    };
    const lines = [recordLine(hostile, false), ...detailLines(hostile).flat()];
    for (const line of lines) expect(line).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    expect(recordLine(hostile, true)).toContain('/tmp/\\e[2J\\u202eevil');
    expect(detailLines(hostile)).toEqual(
      expect.arrayContaining([
        ['cwd', "$'/home/u/\\xe2\\x80\\xaep'"],
        [
          'command',
          "curl 'a b' '' $'x\\e]0;title\\x07y' $'k\\xe2\\x80\\x8bl' cut …(700 more bytes) …(12 more arguments)",
        ],
      ]),
    );
  });
});
