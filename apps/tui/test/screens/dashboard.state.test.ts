// SPDX-License-Identifier: AGPL-3.0-only
// The dashboard's reducer, rows and keys, as pure functions.
import { describe, expect, it } from 'vitest';
import {
  DASHBOARD,
  dashboardKey,
  dashboardRows,
  initialDashboard,
  reduceDashboard,
  type DashboardState,
} from '../../src/internal/screens/dashboard/state.ts';
import { KEY, status, wipedAfterEach } from '../harness.tsx';

/** Test SecretBufs, wiped after each test. */
const buf = wipedAfterEach();

const PATHS = { socketPath: '/run/cora.sock', vaultPath: '/home/u/.cora/vault.cora' };

function withStatus(state: 'locked' | 'unlocked'): DashboardState {
  return reduceDashboard(initialDashboard(), { type: 'status', status: status(state) });
}

describe('reduceDashboard', () => {
  it('should start without a status, prompt or note', () => {
    expect(initialDashboard()).toEqual({ status: null, mode: 'view', note: '', unlocking: null });
  });

  it('should keep the last status and note', () => {
    const state = reduceDashboard(withStatus('locked'), { type: 'note', note: 'LOCKED' });
    expect(state.status?.state).toBe('locked');
    expect(state.note).toBe('LOCKED');
  });

  it('should open one prompt at a time', () => {
    const asking = reduceDashboard(withStatus('locked'), { type: 'ask', mode: 'unlock' });
    expect(asking.mode).toBe('unlock');
    expect(reduceDashboard(asking, { type: 'ask', mode: 'lock' })).toBe(asking);
  });

  it('should say why a prompt closed', () => {
    const asking = reduceDashboard(withStatus('locked'), { type: 'ask', mode: 'unlock' });
    expect(reduceDashboard(asking, { type: 'cancel', why: 'cancel' })).toMatchObject({
      mode: 'view',
      note: 'cancelled',
    });
    expect(reduceDashboard(asking, { type: 'cancel', why: 'too-long' }).note).toBe(
      'the passphrase is too long',
    );
  });

  it('should hold the passphrase while the unlock runs, and let go when it settles', () => {
    const p = buf('pass');
    const asking = reduceDashboard(withStatus('locked'), { type: 'ask', mode: 'unlock' });
    const running = reduceDashboard(asking, { type: 'unlock', passphrase: p });
    expect(running).toMatchObject({
      mode: 'view',
      note: 'unlocking (Argon2id takes a moment)…',
      unlocking: p,
    });
    expect(DASHBOARD.held(running)).toEqual([p]);
    const done = reduceDashboard(running, { type: 'unlocked', secrets: 3 });
    expect(done).toMatchObject({ note: 'unlocked: 3 secrets', unlocking: null });
    expect(DASHBOARD.held(done)).toEqual([]);
    const failed = reduceDashboard(running, { type: 'settled', note: 'wrong passphrase (AUTH_FAILED)' });
    expect(failed).toMatchObject({ note: 'wrong passphrase (AUTH_FAILED)', unlocking: null });
  });

  it('should not take a passphrase when no unlock prompt is open', () => {
    const state = withStatus('locked');
    expect(reduceDashboard(state, { type: 'unlock', passphrase: buf('p') })).toBe(state);
  });

  it('should close the lock question either way', () => {
    const asking = reduceDashboard(withStatus('unlocked'), { type: 'ask', mode: 'lock' });
    expect(reduceDashboard(asking, { type: 'lock', yes: true }).mode).toBe('view');
    expect(reduceDashboard(asking, { type: 'lock', yes: false }).mode).toBe('view');
  });

  it('should say the passphrase typed is handed over', () => {
    const p = buf('p');
    expect(DASHBOARD.carried({ type: 'unlock', passphrase: p })).toEqual([p]);
    expect(DASHBOARD.carried({ type: 'lock', yes: true })).toEqual([]);
  });
});

describe('dashboardKey', () => {
  it('should offer unlock while locked and lock while unlocked', () => {
    expect(dashboardKey(withStatus('locked'), 'u', KEY.none)).toEqual({ type: 'ask', mode: 'unlock' });
    expect(dashboardKey(withStatus('locked'), 'l', KEY.none)).toBeNull();
    expect(dashboardKey(withStatus('unlocked'), 'l', KEY.none)).toEqual({ type: 'ask', mode: 'lock' });
    expect(dashboardKey(withStatus('unlocked'), 'u', KEY.none)).toBeNull();
    // Before the first status: the service may not run yet, unlock starts it.
    expect(dashboardKey(initialDashboard(), 'u', KEY.none)).toEqual({ type: 'ask', mode: 'unlock' });
  });

  it('should refresh on r, and ignore keys while a prompt is open or with Ctrl', () => {
    expect(dashboardKey(withStatus('locked'), 'r', KEY.none)).toEqual({ type: 'refresh' });
    expect(dashboardKey({ ...withStatus('locked'), mode: 'unlock' }, 'r', KEY.none)).toBeNull();
    expect(dashboardKey(withStatus('locked'), 'u', KEY.ctrl)).toBeNull();
    expect(dashboardKey(withStatus('locked'), 'x', KEY.none)).toBeNull();
  });
});

describe('dashboardRows', () => {
  const now = Date.parse('2026-11-02T10:00:00.000Z');

  it('should show the state, countdown, count and pid while unlocked', () => {
    const rows = dashboardRows(
      status('unlocked', { secrets: 7, pid: 99, idleDeadline: '2026-11-02T10:14:59.000Z' }),
      PATHS,
      now,
    );
    expect(rows).toEqual([
      { label: 'state', value: '● unlocked' },
      { label: 'idle lock in', value: '14:59' },
      { label: 'lifetime ends', value: 'no lifetime' },
      { label: 'secrets', value: '7' },
      { label: 'service pid', value: '99' },
      { label: 'socket', value: '/run/cora.sock' },
      { label: 'vault', value: '/home/u/.cora/vault.cora' },
    ]);
  });

  it('should hide the count and countdown while locked', () => {
    const rows = dashboardRows(status('locked', { secrets: 7, pid: 5 }), PATHS, now);
    // A service from before lock reasons: nothing to say about the last lock.
    expect(rows.map((r) => r.value)).toEqual([
      '○ locked',
      '—',
      '—',
      '—',
      '5',
      PATHS.socketPath,
      PATHS.vaultPath,
    ]);
  });

  it('should say why and when it locked, and when the lifetime ends, as cr status does', () => {
    // Local clock times: built from Date so the test holds in any time zone.
    const local = (h: number, m: number): string => new Date(2026, 10, 2, h, m).toISOString();
    const at = new Date(2026, 10, 2, 10, 0).getTime();
    const idle = dashboardRows(
      status('locked', { lastLock: { reason: 'idle', at: local(9, 57) } }),
      PATHS,
      at,
    );
    expect(idle[1]).toEqual({ label: 'locked', value: 'idle timeout, 09:57:00 (3 min ago)' });
    const fresh = dashboardRows(status('locked', { lastLock: null }), PATHS, at);
    expect(fresh[1]?.value).toBe('not unlocked since the service started');
    const life = dashboardRows(
      status('unlocked', { idleDeadline: local(10, 14), lifetimeDeadline: local(12, 5) }),
      PATHS,
      at,
    );
    expect(life[2]).toEqual({ label: 'lifetime ends', value: '12:05:00 (in 2 h 5 min)' });
  });

  it('should show an ellipsis before the first status', () => {
    const rows = dashboardRows(null, PATHS, now);
    expect(rows.map((r) => r.label).slice(0, 4)).toEqual(['state', 'idle lock in', 'secrets', 'service pid']);
    expect(rows.map((r) => r.value).slice(0, 4)).toEqual(['…', '—', '—', '—']);
  });

  it('should count hours past an hour, and never below zero', () => {
    const long = dashboardRows(status('unlocked', { idleDeadline: '2026-11-02T11:30:05.000Z' }), PATHS, now);
    expect(long[1]?.value).toBe('1:30:05');
    const past = dashboardRows(status('unlocked', { idleDeadline: '2026-11-02T09:00:00.000Z' }), PATHS, now);
    expect(past[1]?.value).toBe('00:00');
    const never = dashboardRows(status('unlocked', { idleDeadline: null }), PATHS, now);
    expect(never[1]?.value).toBe('—');
  });
});
