// SPDX-License-Identifier: AGPL-3.0-only
// Status polling must not flood the log: one record per caller and window, bounded callers.
import type { AuditEvent, CallerSummary } from '@cora/audit';
import { describe, expect, it } from 'vitest';
import { StatusPolls } from '../src/service/status-polls.ts';

const caller = (exe: string, pid = 10): CallerSummary => ({ pid, uid: 1000, exe, cli: false });

function setup(options: { windowMs?: number; maxCallers?: number } = {}) {
  let now = Date.parse('2026-12-04T10:00:00.000Z');
  const written: AuditEvent[] = [];
  const polls = new StatusPolls((event) => written.push(event), { ...options, now: () => now });
  return { polls, written, advance: (ms: number) => (now += ms) };
}

describe('StatusPolls', () => {
  it('should write one record per caller per window, with the count, the last poller and the start', () => {
    const { polls, written, advance } = setup({ windowMs: 60_000 });
    for (let i = 0; i < 59; i++) {
      polls.poll(caller('/usr/bin/bar', 100 + i));
      advance(1000);
    }
    expect(written).toHaveLength(0);
    advance(1000);
    polls.poll(caller('/usr/bin/bar', 999)); // the window is over: it is written, a new one starts
    expect(written).toEqual([
      {
        type: 'status-polls',
        caller: caller('/usr/bin/bar', 158),
        count: 59,
        since: '2026-12-04T10:00:00.000Z',
      },
    ]);
    polls.flush();
    expect(written[1]).toMatchObject({ count: 1, caller: { pid: 999 } });
  });

  it('should keep callers apart and write a quiet caller’s window when another polls later', () => {
    const { polls, written, advance } = setup({ windowMs: 60_000 });
    polls.poll(caller('/a'));
    polls.poll(caller('/b'));
    polls.poll(caller('/b'));
    advance(61_000);
    polls.poll(caller('/b'));
    expect(
      written.map((e) => [(e as { caller: CallerSummary }).caller.exe, (e as { count: number }).count]),
    ).toEqual([
      ['/a', 1],
      ['/b', 2],
    ]);
  });

  it('should bound the table: a new caller past maxCallers writes the open windows first', () => {
    const { polls, written } = setup({ maxCallers: 3 });
    for (const exe of ['/1', '/2', '/3']) polls.poll(caller(exe));
    expect(written).toHaveLength(0);
    polls.poll(caller('/4'));
    expect(written).toHaveLength(3);
    // Many copies of one executable cost at most one record per connection, never more.
    for (let i = 0; i < 100; i++) polls.poll(caller(`/copy${String(i)}`));
    expect(written.length).toBeLessThanOrEqual(3 + 100);
  });

  it('should write nothing on flush when nobody polled', () => {
    const { polls, written } = setup();
    polls.flush();
    expect(written).toEqual([]);
  });
});
