// SPDX-License-Identifier: AGPL-3.0-only
// `cr status` says why the vault locked and when it will lock next: the built CLI against a
// real service (idle timeout, `cr lock`, lifetime, a stopped service read from the audit log),
// and the human lines as a pure function in a fixed time zone.
import { describe, expect, it } from 'vitest';
import { statusLines, type StatusReport } from '../src/cli/commands/status.ts';
import { killAndWait, useCoraHomes, type CoraHome } from './e2e-helpers.ts';

const PASS = 'status test passphrase, long enough';
const newHome = useCoraHomes(PASS);

interface StatusOut {
  readonly state: string;
  readonly running: boolean;
  readonly pid: number | null;
  readonly idleDeadline: string | null;
  readonly lifetimeDeadline: string | null;
  readonly unlockedAt: string | null;
  readonly lastLock: { readonly reason: string; readonly at: string } | null;
  readonly stopped?: { readonly reason: string; readonly at: string } | null;
}

async function statusOf(home: CoraHome): Promise<StatusOut> {
  const result = await home.cr(['status', '--json']);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as StatusOut;
}

async function unlocked(home: CoraHome, extra: readonly string[] = []): Promise<void> {
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile, ...extra]);
  expect(unlock.code).toBe(0);
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/u;
/** A local clock time, with its date when it is not today (a deadline past midnight). */
const CLOCK = String.raw`(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d`;

describe('cr status: why it locked and when it will (e2e)', () => {
  it('should say it locked because of the idle timeout, and when, in ISO UTC with --json', async () => {
    const home = await newHome();
    await unlocked(home, ['--idle-timeout', '3s', '--lifetime', '2h']);
    const open = await statusOf(home);
    expect(open).toMatchObject({ state: 'unlocked', lastLock: null });
    expect(open.lifetimeDeadline).toMatch(ISO_UTC);
    expect(open.unlockedAt).toMatch(ISO_UTC);
    const lifetimeLeft = Date.parse(open.lifetimeDeadline ?? '') - Date.now();
    expect(lifetimeLeft).toBeGreaterThan(7_100_000);
    expect(lifetimeLeft).toBeLessThanOrEqual(7_200_000);
    const human = await home.cr(['status']);
    expect(human.stdout).toMatch(
      new RegExp(`^idle: {5}locks in \\d+ s \\(idle\\), at ${CLOCK} unless`, 'mu'),
    );
    expect(human.stdout).toMatch(
      new RegExp(`^lifetime: ends ${CLOCK} \\(in (1 h 59 min|2 h 0 min|120 min)\\)`, 'mu'),
    );

    await new Promise((r) => setTimeout(r, 4500));
    const locked = await statusOf(home);
    expect(locked).toMatchObject({ state: 'locked', running: true, lastLock: { reason: 'idle' } });
    expect(locked.lastLock?.at).toMatch(ISO_UTC);
    expect(Date.now() - Date.parse(locked.lastLock?.at ?? '')).toBeLessThan(4000);
    expect(locked.lifetimeDeadline).toBeNull();
    expect((await home.cr(['status'])).stdout).toMatch(
      new RegExp(`^locked: {3}idle timeout, ${CLOCK} \\(\\d+ s ago\\)$`, 'mu'),
    );
  }, 60_000);

  it('should say it was locked by request after cr lock, and read the stop from the audit log once the service is gone', async () => {
    const home = await newHome();
    const fresh = await home.cr(['status']);
    expect(fresh.stdout).toContain('vault:    ');
    expect(fresh.stdout).toContain('(none yet: run cr init)');
    await unlocked(home);
    expect((await home.cr(['lock'])).code).toBe(0);
    expect(await statusOf(home)).toMatchObject({ state: 'locked', lastLock: { reason: 'request' } });
    expect((await home.cr(['status'])).stdout).toMatch(/^locked: {3}by request \(cr lock\), /mu);

    // Unlocked again, then the service is stopped by a signal: the reason died with it, the log keeps it.
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    const { pid } = await statusOf(home);
    await killAndWait(pid ?? 0, 'SIGTERM');
    const gone = await statusOf(home);
    expect(gone).toMatchObject({
      state: 'locked',
      running: false,
      stopped: { reason: 'signal' },
      lastLock: { reason: 'shutdown' },
    });
    const text = (await home.cr(['status'])).stdout;
    expect(text).toMatch(new RegExp(`^stopped: {2}by a signal, ${CLOCK} \\(\\d+ s ago\\)$`, 'mu'));
    expect(text).toMatch(/^locked: {3}the service stopped, .* \(from the audit log\)$/mu);

    // A service killed outright writes nothing more: status says it does not know how it ended.
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    await killAndWait((await statusOf(home)).pid ?? 0, 'SIGKILL');
    expect(await statusOf(home)).toMatchObject({
      running: false,
      stopped: { reason: 'unknown' },
      lastLock: null,
    });
    expect((await home.cr(['status'])).stdout).toContain('stopped:  no record of how; it started');
  }, 90_000);
});

describe('statusLines', () => {
  // Local times depend on TZ: the suite's config fixes none, so build expectations from Date.
  const now = new Date(2026, 11, 4, 19, 25, 0).getTime();
  const at = (h: number, m: number, s = 0): string => new Date(2026, 11, 4, h, m, s).toISOString();
  const base: StatusReport = {
    state: 'unlocked',
    secrets: 3,
    pid: 42,
    socket: '/run/cora.sock',
    idleDeadline: at(19, 39, 0),
    version: '0.1.0',
    lifetimeDeadline: at(21, 30, 0),
    unlockedAt: at(19, 20, 0),
    lastLock: null,
    running: true,
    vault: '/h/.cora/vault.cora',
    vaultExists: true,
  };

  it('should give the idle lock and the lifetime as local times with how far they are', () => {
    expect(statusLines(base, now)).toEqual([
      'state:    unlocked',
      'secrets:  3',
      'since:    19:20:00 (5 min ago)',
      'idle:     locks in 14 min (idle), at 19:39:00 unless a request comes first',
      'lifetime: ends 21:30:00 (in 2 h 5 min), busy or not',
      'pid:      42',
      'socket:   /run/cora.sock',
      'vault:    /h/.cora/vault.cora',
      'version:  0.1.0',
    ]);
  });

  it('should say when no idle timeout or lifetime is set', () => {
    const lines = statusLines({ ...base, idleDeadline: null, lifetimeDeadline: null }, now);
    expect(lines).toContain('idle:     never locks when idle (idle timeout 0)');
    expect(lines).toContain('lifetime: none (unlock --lifetime sets one)');
  });

  it('should say why and when it locked, and that nothing is known on a fresh service', () => {
    const locked = { ...base, state: 'locked' as const, idleDeadline: null, lifetimeDeadline: null };
    expect(statusLines({ ...locked, lastLock: { reason: 'idle', at: at(19, 22, 0) } }, now)).toContain(
      'locked:   idle timeout, 19:22:00 (3 min ago)',
    );
    expect(statusLines({ ...locked, lastLock: { reason: 'lifetime', at: at(19, 24, 0) } }, now)).toContain(
      'locked:   its lifetime ended, 19:24:00 (60 s ago)',
    );
    const fresh = statusLines(locked, now);
    expect(fresh).toContain('locked:   not unlocked since the service started');
    expect(fresh.some((line) => line.startsWith('secrets:') || line.startsWith('idle:'))).toBe(false);
  });

  it('should say how a stopped service ended, from the audit log, and show the date on another day', () => {
    const gone: StatusReport = {
      ...base,
      state: 'locked',
      pid: null,
      idleDeadline: null,
      lifetimeDeadline: null,
      running: false,
      stopped: { reason: 'shutdown', at: new Date(2026, 11, 3, 9, 10, 0).toISOString() },
      lastLock: { reason: 'shutdown', at: new Date(2026, 11, 3, 9, 10, 0).toISOString() },
      vaultExists: false,
    };
    const lines = statusLines(gone, now);
    expect(lines[0]).toBe('state:    locked (service not running)');
    expect(lines).toContain('stopped:  by cr stop, 2026-12-03 09:10:00 (34 h 15 min ago)');
    expect(lines).toContain(
      'locked:   the service stopped, 2026-12-03 09:10:00 (34 h 15 min ago) (from the audit log)',
    );
    expect(lines).toContain('vault:    /h/.cora/vault.cora (none yet: run cr init)');
    expect(lines.some((line) => line.startsWith('pid:'))).toBe(false);
  });
});
