// SPDX-License-Identifier: AGPL-3.0-only
// The approval queue and its grants (architecture §7), with identities written out by hand: the
// class is pure bookkeeping (the e2e suite in approve.test.ts drives it through real processes).
import { describe, expect, it } from 'vitest';
import type { AncestorInfo, CallerIdentity } from '@cora/identity';
import {
  APPROVAL_LIMITS,
  DEFAULT_MAX_FRAME_BYTES,
  EXEC_LIMITS,
  encodeFrame,
  type ApprovalInfo,
  type ApprovalResolved,
} from '@cora/ipc';
import {
  Approvals,
  grantInfo,
  type ApprovalRequest,
  type ApproverSession,
} from '../src/service/approvals.ts';
import { recordedCommand } from '../src/service/command-record.ts';

function ancestor(pid: number, startTime: bigint | null, exe = '/usr/bin/agent'): AncestorInfo {
  return { pid, uid: 1000, exe, argv0: exe, startTime };
}

function identity(pid: number, ancestry: AncestorInfo[]): CallerIdentity {
  return {
    uid: 1000,
    gid: 1000,
    pid,
    exe: '/usr/bin/node',
    argv: ['node', 'cli.js'],
    startTime: BigInt(pid) * 10n,
    ancestry,
    pinned: true,
  };
}

const AGENT = ancestor(500, 5000n);
const requesterId = identity(600, [AGENT, ancestor(1, 1n, '/sbin/init')]);

function request(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    task: 'deploy',
    target: '/usr/bin/curl',
    command: {
      argv: ['curl', 'https://example.invalid'],
      argvMore: [0, 0],
      argvOmitted: 0,
      cwd: '/tmp',
      cwdMore: 0,
    },
    secrets: ['TOKEN'],
    caller: requesterId,
    windowMs: 60_000,
    windowLabel: '1m',
    ...overrides,
  };
}

/** An approver from another terminal: its own shell, under init. */
function session(id = identity(900, [ancestor(800, 8000n, '/usr/bin/bash'), ancestor(1, 1n, '/sbin/init')])) {
  const seen: (ApprovalInfo | ApprovalResolved)[] = [];
  const ended: string[] = [];
  const s: ApproverSession = {
    identity: id,
    send: (_event: 'pending' | 'resolved', data: ApprovalInfo | ApprovalResolved) => {
      seen.push(data);
    },
    end: (reason) => {
      ended.push(reason);
    },
  };
  return { s, seen, ended };
}

const grantQuery = { task: 'deploy', callerExe: '/usr/bin/node', parentPid: 500, parentStartTime: 5000n };

describe('Approvals', () => {
  it('should grant once without remembering anything', async () => {
    const approvals = new Approvals();
    const { s, seen } = session();
    approvals.attach(s);
    const asked = approvals.ask(request(), new AbortController().signal);
    expect(seen[0]).toMatchObject({ id: asked.id, task: 'deploy', window: '1m', secrets: ['TOKEN'] });
    expect(approvals.decide(s, asked.id, 'allow-once')).toBe(true);
    await expect(asked.outcome).resolves.toMatchObject({ kind: 'granted', scope: 'once' });
    expect(approvals.hasGrant(grantQuery)).toBe(false);
    expect(approvals.decide(s, asked.id, 'allow-once')).toBe(false); // already settled
  });

  it('should remember a window grant per parent pid and start time, until it expires', async () => {
    let now = 1_000_000;
    const approvals = new Approvals({ now: () => now });
    const { s } = session();
    approvals.attach(s);
    const asked = approvals.ask(request(), new AbortController().signal);
    approvals.decide(s, asked.id, 'allow-window');
    await expect(asked.outcome).resolves.toMatchObject({
      kind: 'granted',
      scope: 'window',
      until: now + 60_000,
    });
    expect(approvals.hasGrant(grantQuery)).toBe(true);
    // A recycled parent pid (same pid, another start time) inherits nothing.
    expect(approvals.hasGrant({ ...grantQuery, parentStartTime: 5001n })).toBe(false);
    expect(approvals.hasGrant({ ...grantQuery, task: 'other' })).toBe(false);
    expect(approvals.hasGrant({ ...grantQuery, callerExe: '/usr/bin/python3' })).toBe(false);
    now += 60_000;
    expect(approvals.hasGrant(grantQuery)).toBe(false);
  });

  it('should settle every request waiting under the same key with one window grant', async () => {
    const approvals = new Approvals();
    const { s } = session();
    approvals.attach(s);
    const a = approvals.ask(request(), new AbortController().signal);
    const b = approvals.ask(request(), new AbortController().signal);
    const other = approvals.ask(
      request({ caller: identity(601, [ancestor(501, 5010n)]) }),
      new AbortController().signal,
    );
    approvals.decide(s, a.id, 'allow-window');
    await expect(b.outcome).resolves.toMatchObject({ kind: 'granted', scope: 'window' });
    expect(approvals.pendingCount).toBe(1);
    approvals.decide(s, other.id, 'deny');
    await expect(other.outcome).resolves.toMatchObject({ kind: 'denied', reason: 'DENIED' });
  });

  it('should treat allow-window as once for approve: once, and keep session grants until clear()', async () => {
    const approvals = new Approvals();
    const { s, ended } = session();
    approvals.attach(s);
    const once = approvals.ask(request({ windowMs: null, windowLabel: null }), new AbortController().signal);
    approvals.decide(s, once.id, 'allow-window');
    await expect(once.outcome).resolves.toMatchObject({ scope: 'once' });
    expect(approvals.hasGrant(grantQuery)).toBe(false);
    const sess = approvals.ask(
      request({ windowMs: Infinity, windowLabel: 'session' }),
      new AbortController().signal,
    );
    approvals.decide(s, sess.id, 'allow-window');
    await expect(sess.outcome).resolves.toMatchObject({ scope: 'session', until: null });
    expect(approvals.hasGrant(grantQuery)).toBe(true);
    const waiting = approvals.ask(request(), new AbortController().signal);
    approvals.clear();
    expect(approvals.hasGrant(grantQuery)).toBe(false);
    await expect(waiting.outcome).resolves.toEqual({ kind: 'cancelled' });
    expect(ended).toEqual(['locked']);
  });

  it('should list live grants with stable ids, drop expired ones, and revoke by id or all', () => {
    let now = 1_000_000;
    const approvals = new Approvals({ now: () => now });
    const { s } = session();
    approvals.attach(s);
    expect(approvals.grants()).toEqual([]);
    const a = approvals.ask(request(), new AbortController().signal);
    approvals.decide(s, a.id, 'allow-window');
    const b = approvals.ask(
      request({ caller: identity(601, [ancestor(501, 5010n)]), windowMs: Infinity, windowLabel: 'session' }),
      new AbortController().signal,
    );
    approvals.decide(s, b.id, 'allow-window');
    const listed = approvals.grants();
    for (const g of listed) expect(g.id).toMatch(/^[0-9a-f]{8}$/);
    expect(listed.map((g) => grantInfo(g))).toEqual([
      {
        id: listed[0]?.id,
        task: 'deploy',
        caller: '/usr/bin/node',
        parentPid: 500,
        scope: 'window',
        grantedAt: new Date(now).toISOString(),
        expiresAt: new Date(now + 60_000).toISOString(),
        approval: a.id,
        approver: { pid: 900, exe: '/usr/bin/node' },
      },
      expect.objectContaining({ parentPid: 501, scope: 'session', expiresAt: null, approval: b.id }),
    ]);
    const [first, second] = listed;
    if (first === undefined || second === undefined) throw new Error('two grants expected');
    expect(first.id).not.toBe(second.id);
    expect(approvals.grants().map((g) => g.id)).toEqual([first.id, second.id]); // stable
    // Unknown id: nothing happens.
    expect(approvals.revoke({ id: '00000000' })).toEqual([]);
    expect(approvals.revoke({ id: first.id })).toEqual([first]);
    expect(approvals.hasGrant(grantQuery)).toBe(false);
    expect(approvals.revoke({ id: first.id })).toEqual([]); // gone
    // A new window grant for the same key gets a new id; expiry drops it from the list.
    const c = approvals.ask(request(), new AbortController().signal);
    approvals.decide(s, c.id, 'allow-window');
    const renewed = approvals.grants().find((g) => g.parentPid === 500);
    expect(renewed?.id).not.toBe(first.id);
    now += 60_000;
    expect(approvals.grants()).toEqual([second]);
    expect(approvals.revoke('all')).toEqual([second]);
    expect(approvals.grants()).toEqual([]);
    expect(approvals.revoke('all')).toEqual([]);
  });

  it('should forget every grant at clear() (lock)', async () => {
    const approvals = new Approvals();
    const { s } = session();
    approvals.attach(s);
    const a = approvals.ask(request(), new AbortController().signal);
    approvals.decide(s, a.id, 'allow-window');
    expect(approvals.grants()).toHaveLength(1);
    approvals.clear();
    expect(approvals.grants()).toEqual([]);
    await expect(a.outcome).resolves.toMatchObject({ kind: 'granted' });
  });

  it('should deny when the requester or its parent is the approver or among its ancestors', async () => {
    for (const approverId of [
      requesterId,
      identity(901, [ancestor(600, 6000n)]),
      identity(902, [ancestor(700, 7000n), ancestor(500, 5000n)]),
    ]) {
      const approvals = new Approvals();
      const { s } = session(approverId);
      approvals.attach(s);
      const asked = approvals.ask(request(), new AbortController().signal);
      approvals.decide(s, asked.id, 'allow-once');
      await expect(asked.outcome).resolves.toMatchObject({ kind: 'denied', reason: 'SELF_APPROVAL' });
    }
    // The same pid with another start time is another process: not self-approval.
    const approvals = new Approvals();
    const { s } = session(identity(903, [ancestor(500, 4999n)]));
    approvals.attach(s);
    const asked = approvals.ask(request(), new AbortController().signal);
    approvals.decide(s, asked.id, 'allow-once');
    await expect(asked.outcome).resolves.toMatchObject({ kind: 'granted' });
  });

  it('should expire after the time-out, cancel when the caller leaves, and ignore a replaced approver', async () => {
    const approvals = new Approvals({ timeoutMs: 30 });
    const first = session();
    approvals.attach(first.s);
    const expired = approvals.ask(request(), new AbortController().signal);
    await expect(expired.outcome).resolves.toEqual({ kind: 'expired' });
    expect(first.seen.at(-1)).toEqual({ id: expired.id, outcome: 'expired' });

    const leaving = new AbortController();
    const left = approvals.ask(request(), leaving.signal);
    leaving.abort();
    await expect(left.outcome).resolves.toEqual({ kind: 'cancelled' });

    const second = session();
    const pending = approvals.ask(request(), new AbortController().signal);
    approvals.attach(second.s);
    expect(first.ended).toEqual(['replaced']);
    expect(second.seen[0]).toMatchObject({ id: pending.id }); // shown what was already waiting
    expect(approvals.decide(first.s, pending.id, 'allow-once')).toBe(false);
    expect(approvals.decide(second.s, pending.id, 'deny')).toBe(true);
    await expect(pending.outcome).resolves.toMatchObject({ kind: 'denied' });
  });

  it('should send a pending event that fits one frame whatever each field holds at its limit', () => {
    // Every string an agent chooses, at its limit, made of control characters: each byte is six
    // as JSON (`\u0001`), the worst a string can grow on the wire.
    const hostile = (bytes: number): string => `/${'\x01'.repeat(bytes - 1)}`;
    const path = hostile(4096);
    const command = recordedCommand({ secretsFor: () => [], missingSecret: () => null }, [], {
      argv: Array.from({ length: EXEC_LIMITS.maxArgs }, () => hostile(EXEC_LIMITS.maxArgBytes)),
      cwd: path,
    });
    const deep = Array.from({ length: 64 }, (_, i) => ({
      pid: 1000 + i,
      uid: 1000,
      exe: i === 0 ? null : path,
      argv0: hostile(128 * 1024), // stands in for an unreadable exe
      startTime: BigInt(i + 1),
    }));
    const caller: CallerIdentity = {
      ...identity(600, deep),
      exe: path,
      script: { interpreter: 'node', path, weak: true },
    };
    const { s, seen } = session();
    const approvals = new Approvals();
    approvals.attach(s);
    approvals.ask(
      request({
        target: path,
        command,
        caller,
        secrets: Array.from({ length: 256 }, (_, i) => `S${String(i).padStart(127, '_')}`),
        windowLabel: 'x'.repeat(32),
        context: {
          env: Array.from({ length: APPROVAL_LIMITS.maxEnv }, (_, i) => ({
            name: `${String(i)}${'\x01'.repeat(EXEC_LIMITS.maxEnvNameBytes - 3)}`,
            value: hostile(APPROVAL_LIMITS.maxEnvValueBytes),
            more: 1,
          })),
          envOmitted: 1,
          files: Array.from({ length: APPROVAL_LIMITS.maxFiles }, () => ({
            where: 'home' as const,
            path: hostile(APPROVAL_LIMITS.maxFilePathBytes),
            modified: new Date().toISOString(),
          })),
          confine: Array.from({ length: 8 }, () => hostile(APPROVAL_LIMITS.maxConfineBytes)),
          output: 'passthrough',
        },
      }),
      new AbortController().signal,
    );
    const info = seen[0] as ApprovalInfo;
    const frame = encodeFrame({ id: 1, event: 'pending', data: info }, null, DEFAULT_MAX_FRAME_BYTES);
    expect(frame.length).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    expect(info.ancestry).toHaveLength(APPROVAL_LIMITS.maxAncestors);
    for (const a of info.ancestry) expect(Buffer.byteLength(a.exe)).toBeLessThanOrEqual(4096);
    expect(info.argv.reduce((sum, a) => sum + Buffer.byteLength(a), 0)).toBe(APPROVAL_LIMITS.maxArgvBytes);
    expect(info.argvMore).toHaveLength(info.argv.length);
    expect(info.argvOmitted).toBe(EXEC_LIMITS.maxArgs - info.argv.length);
    expect(info.output).toBe('passthrough');
  });
});
