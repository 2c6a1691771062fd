// SPDX-License-Identifier: AGPL-3.0-only
// The platform-free decisions: ancestry walk (over a strict table of fake processes, since
// the real walk reads macOS's proc_pidinfo), pin comparison, peer cross-check, errno mapping.
import { describe, expect, it } from 'vitest';
import { combinePeer } from '../src/internal/credentials.ts';
import {
  DarwinErrno,
  MAX_ANCESTORS,
  pinMismatch,
  procErrorCode,
  walkAncestry,
  type ProcessFacts,
} from '../src/internal/walk.ts';

function table(entries: Record<number, ProcessFacts>): (pid: number) => ProcessFacts | null {
  return (pid) => entries[pid] ?? null;
}

function facts(ppid: number, uid: number, startTime: bigint, exe = `/bin/p${ppid}`): ProcessFacts {
  return { ppid, uid, startTime, exe, argv0: exe, script: null };
}

describe('walkAncestry', () => {
  it('should list parents first and stop after the first process of another uid', () => {
    const lookup = table({
      100: facts(90, 501, 300n, '/bin/zsh'),
      90: facts(1, 0, 200n, '/usr/bin/login'),
      1: facts(0, 0, 100n, '/sbin/launchd'),
    });
    const chain = walkAncestry(100, 400n, 501, lookup);
    expect(chain.map((a) => [a.pid, a.uid, a.exe])).toEqual([
      [100, 501, '/bin/zsh'],
      [90, 0, '/usr/bin/login'],
    ]);
  });

  it('should stop at a "parent" younger than its child (a recycled pid)', () => {
    const lookup = table({ 100: facts(90, 501, 300n), 90: facts(1, 501, 350n) });
    expect(walkAncestry(100, 400n, 501, lookup).map((a) => a.pid)).toEqual([100]);
    // The very first parent too: the child started before it.
    expect(walkAncestry(100, 250n, 501, lookup)).toEqual([]);
  });

  it('should keep a parent started in the same microsecond as its child', () => {
    const lookup = table({ 100: facts(0, 501, 400n) });
    expect(walkAncestry(100, 400n, 501, lookup).map((a) => a.pid)).toEqual([100]);
  });

  it('should stop at a vanished process, a cycle, and after 8 entries', () => {
    expect(walkAncestry(100, 400n, 501, table({}))).toEqual([]);
    const cycle = table({ 10: facts(11, 501, 5n), 11: facts(10, 501, 5n) });
    expect(walkAncestry(10, 9n, 501, cycle).map((a) => a.pid)).toEqual([10, 11]);
    const long: Record<number, ProcessFacts> = {};
    for (let pid = 20; pid > 1; pid--) long[pid] = facts(pid - 1, 501, BigInt(pid));
    expect(walkAncestry(20, 100n, 501, table(long))).toHaveLength(MAX_ANCESTORS);
  });

  it('should record an empty argv0 as null and a script only when found', () => {
    const lookup = table({
      100: { ppid: 0, uid: 501, startTime: 1n, exe: null, argv0: '', script: '/a.js' },
    });
    expect(walkAncestry(100, 2n, 501, lookup)).toEqual([
      { pid: 100, uid: 501, exe: null, argv0: null, startTime: 1n, script: '/a.js' },
    ]);
  });
});

describe('pinMismatch', () => {
  const pin = { startTime: 1000n, pidversion: 7 };
  it('should call another start time PID_REUSED and another pid version PEER_CHANGED', () => {
    expect(pinMismatch(pin, { startTime: 1000n, pidversion: 7 })).toBeNull();
    expect(pinMismatch(pin, { startTime: 1001n, pidversion: 7 })).toBe('PID_REUSED');
    expect(pinMismatch(pin, { startTime: 1001n, pidversion: 8 })).toBe('PID_REUSED');
    expect(pinMismatch(pin, { startTime: 1000n, pidversion: 8 })).toBe('PEER_CHANGED');
  });

  it('should compare start times alone when a pid version is unknown', () => {
    expect(
      pinMismatch({ startTime: 1000n, pidversion: null }, { startTime: 1000n, pidversion: 9 }),
    ).toBeNull();
    expect(pinMismatch(pin, { startTime: 1000n, pidversion: null })).toBeNull();
  });
});

describe('combinePeer', () => {
  const token = { euid: 501, egid: 20, pid: 4242, pidversion: 3 };
  it('should take pid and pid version from the token, uid and gid from xucred', () => {
    expect(combinePeer(token, { uid: 501, gid: 20 }, 4242)).toEqual({
      pid: 4242,
      uid: 501,
      gid: 20,
      pidversion: 3,
    });
  });

  it('should refuse missing answers and any disagreement between them', () => {
    expect(combinePeer(null, { uid: 501, gid: 20 }, 4242)).toMatch(/LOCAL_PEERTOKEN/);
    expect(combinePeer(token, null, 4242)).toMatch(/LOCAL_PEERCRED/);
    expect(combinePeer({ ...token, pid: 0 }, { uid: 501, gid: 20 }, 0)).toMatch(/no pid/);
    expect(combinePeer(token, { uid: 501, gid: 20 }, 4243)).toMatch(/pid .* differ/);
    expect(combinePeer(token, { uid: 0, gid: 0 }, 4242)).toMatch(/uid .* differ/);
  });
});

describe('procErrorCode', () => {
  it('should map ESRCH to PEER_GONE and everything else to PROC_UNREADABLE', () => {
    expect(procErrorCode(DarwinErrno.ESRCH)).toBe('PEER_GONE');
    expect(procErrorCode(DarwinErrno.EPERM)).toBe('PROC_UNREADABLE');
    expect(procErrorCode(DarwinErrno.EACCES)).toBe('PROC_UNREADABLE');
    expect(procErrorCode(-1)).toBe('PROC_UNREADABLE');
  });
});
