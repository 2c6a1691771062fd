// SPDX-License-Identifier: AGPL-3.0-only
// The audit viewer as the user meets it: records read and followed, filter, detail, verify.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { AuditVerifyResult } from '@cora/ipc';
import { Audit } from '../../src/internal/screens/audit/view.tsx';
import type { AuditRecordLike, ReadAuditOptions } from '../../src/types.ts';
import { auditOf, ENTER, escape, fakeBackend, frameWith, renderScreen, tick, UP } from '../harness.tsx';

afterEach(() => {
  cleanup();
});

// Records carry more fields than AuditRecordLike names (the detail pane shows them all).
const RECORDS: (AuditRecordLike & Record<string, unknown>)[] = [
  { seq: 1, time: '2026-11-02T10:00:00.000Z', type: 'unlock', caller: { pid: 1, exe: '/usr/bin/node' } },
  {
    seq: 2,
    time: '2026-11-02T10:01:00.000Z',
    type: 'task-start',
    task: 'deploy',
    caller: { pid: 2, exe: '/usr/bin/claude' },
    secrets: ['K'],
  },
  { seq: 3, time: '2026-11-02T10:02:00.000Z', type: 'lock' },
];

const BROKEN: AuditVerifyResult = {
  ok: false,
  records: 3,
  files: ['audit.jsonl'],
  head: null,
  macChecked: true,
  lastSealedSeq: 2,
  unsealed: 1,
  torn: null,
  firstProblem: { file: 'audit.jsonl', line: 2, seq: 2, kind: 'HASH_MISMATCH', message: 'edited' },
};

/** A log reader that yields `RECORDS`, then (when following) whatever is pushed, until aborted. */
function followable() {
  const pushed: AuditRecordLike[] = [];
  const reads: boolean[] = [];
  let wake: () => void = () => undefined;
  async function* read(options: ReadAuditOptions): AsyncIterable<AuditRecordLike> {
    reads.push(options.follow === true);
    await Promise.resolve();
    yield* RECORDS;
    if (options.follow !== true) return;
    let next = 0;
    while (options.signal?.aborted !== true) {
      while (next < pushed.length) yield pushed[next++] as AuditRecordLike;
      await new Promise<void>((resolve) => {
        wake = resolve;
        options.signal?.addEventListener('abort', () => {
          resolve();
        });
      });
    }
  }
  return {
    read,
    reads,
    push: (record: AuditRecordLike) => {
      pushed.push(record);
      wake();
    },
  };
}

describe('Audit view', () => {
  it('should list, filter, open the detail pane and show the verify status', async () => {
    const screen = renderScreen(
      <Audit />,
      fakeBackend({ readAudit: auditOf(RECORDS) }, { verifyAudit: () => Promise.resolve(BROKEN) }),
    );
    await tick(60);
    expect(screen.frame()).toContain('● following · 3/3 records · chain: not verified (v)');
    expect(screen.frame()).toMatch(/2\s+2026-11-02 10:01:00 task-start\s+deploy\s+\/usr\/bin\/claude/u);
    await screen.keys('/');
    expect(screen.typing()).toBe(true);
    await screen.keys(`task:deploy${ENTER}`);
    expect(screen.frame()).toContain('1/3 records · filter: task:deploy');
    await screen.keys(ENTER);
    expect(screen.frame()).toMatch(/secrets\s+\["K"\]/u);
    expect(screen.frame()).toMatch(/caller\s+\{"pid":2,"exe":"\/usr\/bin\/claude"\}/u);
    await screen.keys('v');
    await tick(30);
    expect(screen.frame()).toContain('chain BROKEN: HASH_MISMATCH at audit.jsonl:2');
  });

  it('should say when nothing matches, and keep the old filter when the prompt is left', async () => {
    const screen = renderScreen(<Audit />, fakeBackend({ readAudit: auditOf(RECORDS) }, {}));
    await tick(60);
    await screen.keys('/');
    await screen.keys(`type:nothing${ENTER}`);
    expect(screen.frame()).toContain('No records match the filter.');
    await screen.keys('/');
    expect(screen.frame()).toContain('Filter (type:X task:X caller:X, empty = all): type:nothing');
    await escape(screen);
    expect(screen.frame()).toContain('filter: type:nothing');
  });

  it('should say there are no records yet', async () => {
    const screen = renderScreen(<Audit />, fakeBackend({ readAudit: auditOf([]) }, {}));
    await tick(60);
    expect(screen.frame()).toContain('No records yet.');
  });

  it('should follow new records, and pause on f', async () => {
    const log = followable();
    const screen = renderScreen(<Audit />, fakeBackend({ readAudit: log.read }, {}));
    await frameWith(screen, '3/3 records');
    log.push({ seq: 4, time: '2026-11-02T10:03:00.000Z', type: 'unlock' });
    expect(await frameWith(screen, '4/4 records')).toContain('● following · 4/4 records');
    await screen.keys('f');
    expect(await frameWith(screen, '○ paused · 3/3 records')).toContain('○ paused · 3/3 records');
    expect(log.reads).toEqual([true, false]);
  });

  it('should move the cursor up and the detail pane with it', async () => {
    const screen = renderScreen(<Audit />, fakeBackend({ readAudit: auditOf(RECORDS) }, {}));
    await tick(60);
    await screen.keys(ENTER);
    expect(screen.frame()).toMatch(/type\s+lock/u);
    await screen.keys(UP);
    expect(screen.frame()).toMatch(/type\s+task-start/u);
  });

  it('should show verify results and errors', async () => {
    const ok = renderScreen(
      <Audit />,
      fakeBackend(
        { readAudit: auditOf(RECORDS) },
        {
          verifyAudit: () => Promise.resolve({ ...BROKEN, ok: true, firstProblem: null, macChecked: false }),
        },
      ),
    );
    await tick(60);
    await ok.keys('v');
    await tick(30);
    expect(ok.frame()).toContain('chain ok: 3 records, MAC not checked (locked), 1 unsealed');
    cleanup();
    const failing = renderScreen(
      <Audit />,
      fakeBackend(
        { readAudit: auditOf(RECORDS) },
        {
          verifyAudit: () =>
            Promise.reject(Object.assign(new Error('the log is unreadable'), { code: 'IO_ERROR' })),
        },
      ),
    );
    await tick(60);
    await failing.keys('v');
    await tick(30);
    expect(failing.frame()).toContain('chain: not verified (v)');
    expect(failing.frame()).toContain('the log is unreadable (IO_ERROR)');
  });

  it('should say why the log cannot be read', async () => {
    const screen = renderScreen(
      <Audit />,
      fakeBackend(
        {
          readAudit: () => ({
            [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('audit.jsonl: EACCES')) }),
          }),
        },
        {},
      ),
    );
    await tick(60);
    expect(screen.frame()).toContain('audit.jsonl: EACCES');
  });

  it('should drop the time column when compact', async () => {
    const screen = renderScreen(<Audit />, fakeBackend({ readAudit: auditOf(RECORDS) }, {}), {
      columns: 60,
      rows: 18,
    });
    await tick(60);
    expect(screen.frame()).not.toContain('2026-11-02 10:01');
    expect(screen.frame()).toMatch(/2\s+task-start\s+deploy/u);
  });
});
