// SPDX-License-Identifier: AGPL-3.0-only
// The grants screen's reducer and keys, as pure functions.
import { describe, expect, it } from 'vitest';
import type { GrantInfo } from '@cora/ipc';
import {
  grantEnds,
  grantsKey,
  initialGrants,
  reduceGrants,
  revokeRequest,
  type GrantsState,
} from '../../src/internal/screens/grants/state.ts';
import { KEY } from '../harness.tsx';

const NOW = Date.parse('2026-11-23T10:00:00.000Z');
const A: GrantInfo = {
  id: '0a1b2c3d',
  task: 'deploy',
  caller: '/usr/bin/node',
  parentPid: 4000,
  scope: 'window',
  grantedAt: '2026-11-23T09:59:00.000Z',
  expiresAt: '2026-11-23T10:04:00.000Z',
  approval: 7,
  approver: null,
};
const B: GrantInfo = { ...A, id: 'ffffffff', task: 'web', scope: 'session', expiresAt: null };
const listed = (list: GrantInfo[] = [A, B]): GrantsState =>
  reduceGrants(initialGrants(), { type: 'listed', list });

describe('grantEnds', () => {
  it('should say how long is left, or that it lasts until lock, or that it expired', () => {
    const span = (ms: number): string => `${String(ms / 60_000)} min`;
    expect(grantEnds(A, NOW, span)).toBe('expires in 4 min');
    expect(grantEnds(B, NOW, span)).toBe('until the vault locks');
    expect(grantEnds(A, NOW + 4 * 60_000, span)).toBe('expired');
  });
});

describe('reduceGrants', () => {
  it('should select within the list and keep the selection in range when it shrinks', () => {
    const s = reduceGrants(listed(), { type: 'select', delta: 5 });
    expect(s.selected).toBe(1);
    expect(reduceGrants(s, { type: 'listed', list: [A] }).selected).toBe(0);
  });

  it('should ask before revoking the selected grant, and revoke nothing on no', () => {
    const asked = reduceGrants(reduceGrants(listed(), { type: 'select', delta: 1 }), { type: 'ask-revoke' });
    expect(asked.mode).toEqual({ kind: 'confirm', grant: B });
    expect(revokeRequest(asked.mode)).toBe(B);
    expect(reduceGrants(asked, { type: 'select', delta: -1 })).toBe(asked); // the prompt has the keys
    const no = reduceGrants(asked, { type: 'answer', yes: false });
    expect(no.mode).toEqual({ kind: 'list' });
    expect(no.note).toBe('nothing revoked');
    const yes = reduceGrants(asked, { type: 'answer', yes: true });
    expect(yes.note).toBe('revoking ffffffff…');
    expect(revokeRequest(yes.mode)).toBeNull();
  });

  it('should not ask with no grant selected', () => {
    const empty = listed([]);
    expect(reduceGrants(empty, { type: 'ask-revoke' })).toBe(empty);
    expect(reduceGrants(initialGrants(), { type: 'ask-revoke' }).mode).toEqual({ kind: 'list' });
  });

  it('should drop what was revoked from the list and name it', () => {
    const s = reduceGrants(listed(), { type: 'revoked', revoked: [A] });
    expect(s.list).toEqual([B]);
    expect(s.note).toBe('revoked 0a1b2c3d (deploy): the next request asks again');
    expect(reduceGrants(s, { type: 'revoked', revoked: [] }).note).toBe('nothing revoked');
  });

  it('should close a confirmation whose grant is gone from a new list', () => {
    const asked = reduceGrants(listed(), { type: 'ask-revoke' });
    expect(reduceGrants(asked, { type: 'listed', list: [A, B] }).mode.kind).toBe('confirm');
    expect(reduceGrants(asked, { type: 'listed', list: [B] }).mode).toEqual({ kind: 'list' });
  });

  it('should keep the message of a failure', () => {
    expect(reduceGrants(listed(), { type: 'failed', message: 'gone (NOT_FOUND)' }).note).toBe(
      'gone (NOT_FOUND)',
    );
    const un = reduceGrants(listed(), { type: 'unlisted', message: 'not running' });
    expect(un.list).toBeNull();
    expect(un.note).toBe('not running');
  });
});

describe('grantsKey', () => {
  it('should map arrows, x and r, and ignore the rest', () => {
    expect(grantsKey('', KEY.down)).toEqual({ type: 'select', delta: 1 });
    expect(grantsKey('', KEY.up)).toEqual({ type: 'select', delta: -1 });
    expect(grantsKey('x', {})).toEqual({ type: 'ask-revoke' });
    expect(grantsKey('r', {})).toEqual({ type: 'refresh' });
    expect(grantsKey('x', { ctrl: true })).toBeNull();
    expect(grantsKey('d', {})).toBeNull();
  });
});
