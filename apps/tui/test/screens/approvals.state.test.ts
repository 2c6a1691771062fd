// SPDX-License-Identifier: AGPL-3.0-only
// The approval queue's reducer, keys and text, as pure functions.
import { describe, expect, it } from 'vitest';
import type { ApprovalInfo } from '@cora/ipc';
import {
  APPROVALS,
  approvalsKey,
  decisionOf,
  endNote,
  initialApprovals,
  reduceApprovals,
  type ApprovalsAction,
  type ApprovalsState,
} from '../../src/internal/screens/approvals/state.ts';
import { KEY, wipedAfterEach } from '../harness.tsx';

/** Test SecretBufs, wiped after each test. */
const buf = wipedAfterEach();

function info(id: number, window: string | null = null): ApprovalInfo {
  return {
    id,
    task: `t${String(id)}`,
    target: '/usr/bin/curl',
    argv: ['curl', 'https://x'],
    argvMore: [0, 0],
    argvOmitted: 0,
    cwd: '/home/u/p',
    cwdMore: 0,
    secrets: ['K'],
    caller: { pid: 10, exe: '/usr/bin/node', script: null },
    ancestry: [
      { pid: 9, exe: '/usr/bin/claude' },
      { pid: 1, exe: '/sbin/init' },
    ],
    window,
    expiresAt: '2026-11-02T10:01:00.000Z',
    env: [],
    envOmitted: 0,
    files: [],
  };
}

function run(state: ApprovalsState, ...actions: ApprovalsAction[]): ApprovalsState {
  return actions.reduce(reduceApprovals, state);
}

/** A ready session with `pending` waiting. */
function ready(...pending: ApprovalInfo[]): ApprovalsState {
  return run(
    initialApprovals(),
    { type: 'open' },
    { type: 'start', passphrase: buf('p') },
    { type: 'ready' },
    ...pending.map((i) => ({ type: 'pending', info: i }) as const),
  );
}

describe('reduceApprovals: the session', () => {
  it('should ask for the passphrase, hold it while starting, and let go once the request is built', () => {
    const p = buf('pass');
    let state = run(initialApprovals(), { type: 'open' });
    expect(state.phase).toBe('passphrase');
    state = run(state, { type: 'start', passphrase: p });
    expect(state).toMatchObject({ phase: 'starting', note: 'checking the passphrase…', passphrase: p });
    expect(APPROVALS.held(state)).toEqual([p]);
    state = run(state, { type: 'sent' });
    expect(APPROVALS.held(state)).toEqual([]);
    state = run(state, { type: 'ready' });
    expect(state).toMatchObject({
      phase: 'ready',
      note: 'approver ready: requests appear here as they arrive',
    });
  });

  it('should go back to idle when the passphrase prompt is left', () => {
    const state = run(initialApprovals(), { type: 'open' }, { type: 'cancel' });
    expect(state.phase).toBe('idle');
    const ready0 = ready();
    expect(run(ready0, { type: 'cancel' })).toBe(ready0);
  });

  it('should take a passphrase only at its prompt, and be ready only after starting', () => {
    const idle = initialApprovals();
    expect(run(idle, { type: 'start', passphrase: buf('p') })).toBe(idle);
    expect(run(idle, { type: 'ready' })).toBe(idle);
    expect(run(ready(), { type: 'open' }).phase).toBe('ready');
  });

  it('should end with a note, forgetting what was pending, and start again from there', () => {
    const ended = run(ready(info(1)), { type: 'ended', note: 'approvals ended: replaced' });
    expect(ended).toMatchObject({ phase: 'ended', pending: [], note: 'approvals ended: replaced' });
    expect(run(ended, { type: 'open' }).phase).toBe('passphrase');
    const failed = run(
      initialApprovals(),
      { type: 'open' },
      { type: 'start', passphrase: buf('p') },
      { type: 'ended', note: 'x' },
    );
    expect(failed.passphrase).toBeNull();
  });

  it('should hand over the passphrase typed', () => {
    const p = buf('p');
    expect(APPROVALS.carried({ type: 'start', passphrase: p })).toEqual([p]);
    expect(APPROVALS.carried({ type: 'open' })).toEqual([]);
  });
});

describe('reduceApprovals: requests', () => {
  it('should queue pending requests once each, in arrival order', () => {
    const state = run(ready(info(1), info(2)), { type: 'pending', info: { ...info(1), cwd: '/new' } });
    expect(state.pending.map((i) => i.id)).toEqual([2, 1]);
    expect(state.pending[1]?.cwd).toBe('/new');
  });

  it('should move a resolved request to Recent, newest first, at most five', () => {
    let state = ready(...[1, 2, 3, 4, 5, 6].map((id) => info(id)));
    for (const id of [1, 2, 3, 4, 5, 6]) {
      state = run(state, {
        type: 'resolved',
        resolved: { id, outcome: id % 2 === 0 ? 'granted' : 'denied' },
      });
    }
    expect(state.pending).toEqual([]);
    expect(state.recent).toEqual([
      '#6 t6 /usr/bin/curl: granted',
      '#5 t5 /usr/bin/curl: denied',
      '#4 t4 /usr/bin/curl: granted',
      '#3 t3 /usr/bin/curl: denied',
      '#2 t2 /usr/bin/curl: granted',
    ]);
  });

  it('should ignore a request resolved that it never showed', () => {
    const state = ready(info(1));
    expect(run(state, { type: 'resolved', resolved: { id: 9, outcome: 'expired' } })).toBe(state);
  });

  it('should keep the selection on the list as it shrinks', () => {
    let state = run(ready(info(1), info(2), info(3)), { type: 'select', delta: 5 });
    expect(state.selected).toBe(2);
    state = run(state, { type: 'resolved', resolved: { id: 3, outcome: 'expired' } });
    expect(state.selected).toBe(1);
    expect(run(state, { type: 'select', delta: -4 }).selected).toBe(0);
  });
});

describe('approvalsKey', () => {
  it('should start on Enter when there is no session', () => {
    expect(approvalsKey(initialApprovals(), '', KEY.enter)).toEqual({ type: 'open' });
    expect(approvalsKey({ ...initialApprovals(), phase: 'ended' }, '', KEY.enter)).toEqual({ type: 'open' });
    expect(approvalsKey(initialApprovals(), 'o', KEY.none)).toBeNull();
    expect(approvalsKey({ ...initialApprovals(), phase: 'starting' }, '', KEY.enter)).toBeNull();
  });

  it('should decide the selected request', () => {
    const state = run(ready(info(1), info(2, '15m')), { type: 'select', delta: 1 });
    expect(approvalsKey(state, 'o', KEY.none)).toEqual({
      type: 'decide',
      info: info(2, '15m'),
      decision: 'allow-once',
    });
    expect(approvalsKey(state, 'w', KEY.none)).toEqual({
      type: 'decide',
      info: info(2, '15m'),
      decision: 'allow-window',
    });
    expect(approvalsKey(state, 'n', KEY.none)).toEqual({
      type: 'decide',
      info: info(2, '15m'),
      decision: 'deny',
    });
    expect(approvalsKey(state, '', KEY.up)).toEqual({ type: 'select', delta: -1 });
  });

  it('should refuse a window the task does not offer, naming it', () => {
    expect(approvalsKey(ready(info(1)), 'w', KEY.none)).toEqual({
      type: 'note',
      note: 'task t1 offers allow-once only',
    });
  });

  it('should do nothing with nothing pending, or for another key', () => {
    expect(approvalsKey(ready(), 'o', KEY.none)).toBeNull();
    expect(approvalsKey(ready(info(1)), 'x', KEY.none)).toBeNull();
    expect(approvalsKey(ready(info(1)), 'o', KEY.ctrl)).toBeNull();
  });

  it('should read o and y as once, w as window, n and d as deny', () => {
    expect(['o', 'y', 'w', 'n', 'd', 'q'].map(decisionOf)).toEqual([
      'allow-once',
      'allow-once',
      'allow-window',
      'deny',
      'deny',
      null,
    ]);
  });
});

describe('endNote', () => {
  it('should tell a lock, another approver and an error apart', () => {
    expect(endNote({ result: { ended: 'locked' } })).toBe(
      'the service locked: approvals ended (Enter to start again)',
    );
    expect(endNote({ result: { ended: 'replaced' } })).toBe('approvals ended: replaced');
    expect(endNote({ error: 'wrong passphrase (AUTH_FAILED)' })).toBe(
      'wrong passphrase (AUTH_FAILED) (Enter to try again)',
    );
  });
});
