// SPDX-License-Identifier: AGPL-3.0-only
// The grants screen as the user meets it: live grants drawn, one revoked after a y/n, the
// list read again; hostile caller paths drawn visible.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { GrantInfo, GrantsRevokeResult } from '@cora/ipc';
import { Grants } from '../../src/internal/screens/grants/view.tsx';
import type { TuiService } from '../../src/types.ts';
import { DOWN, escape, fakeBackend, frameWith, renderScreen, tick } from '../harness.tsx';

afterEach(() => {
  cleanup();
});

function grant(id: string, overrides: Partial<GrantInfo> = {}): GrantInfo {
  return {
    id,
    task: 'deploy',
    caller: '/usr/bin/node',
    parentPid: 4000,
    scope: 'window',
    grantedAt: new Date(Date.now() - 60_000).toISOString(),
    expiresAt: new Date(Date.now() + 4 * 60_000 + 10_000).toISOString(),
    approval: 7,
    approver: { pid: 900, exe: '/usr/bin/node' },
    ...overrides,
  };
}

/** A service holding `live` grants: list shows them, revoke removes them and records the id. */
function service(live: GrantInfo[], revoke?: TuiService['revokeGrants']) {
  const revoked: string[] = [];
  const impl: Partial<TuiService> = {
    listGrants: () => Promise.resolve([...live]),
    revokeGrants:
      revoke ??
      ((which): Promise<GrantsRevokeResult> => {
        const id = 'grant' in which ? which.grant : 'all';
        revoked.push(id);
        const gone = live.filter((g) => id === 'all' || g.id === id);
        live.splice(0, live.length, ...live.filter((g) => !gone.includes(g)));
        return Promise.resolve({ revoked: gone });
      }),
  };
  return { impl, revoked };
}

describe('Grants view', () => {
  it('should list every live grant with its task, caller, parent and when it ends', async () => {
    const { impl } = service([
      grant('0a1b2c3d'),
      grant('ffffffff', { task: 'web', scope: 'session', expiresAt: null }),
    ]);
    const screen = renderScreen(<Grants />, fakeBackend({}, impl));
    const frame = await frameWith(screen, 'ffffffff');
    expect(frame).toContain('0a1b2c3d deploy expires in 4 min');
    expect(frame).toContain('/usr/bin/node under parent pid 4000 · window · granted');
    expect(frame).toContain('ffffffff web until the vault locks');
    expect(frame).toContain('session');
  });

  it('should revoke the selected grant after a yes, and say the next request asks again', async () => {
    const { impl, revoked } = service([grant('0a1b2c3d'), grant('ffffffff', { task: 'web' })]);
    const screen = renderScreen(<Grants />, fakeBackend({}, impl));
    await frameWith(screen, 'ffffffff');
    await screen.keys(DOWN);
    await screen.keys('x');
    expect(screen.frame()).toContain(
      'Revoke ffffffff (web for /usr/bin/node)? The next request asks again. [y/n]',
    );
    expect(revoked).toEqual([]); // nothing before the answer
    await screen.keys('y');
    const frame = await frameWith(screen, 'revoked ffffffff');
    expect(revoked).toEqual(['ffffffff']);
    expect(frame).toContain('revoked ffffffff (web): the next request asks again');
    expect(frame).not.toContain('ffffffff web');
    expect(frame).toContain('0a1b2c3d deploy');
  });

  it('should revoke nothing on no or Esc', async () => {
    const { impl, revoked } = service([grant('0a1b2c3d')]);
    const screen = renderScreen(<Grants />, fakeBackend({}, impl));
    await frameWith(screen, '0a1b2c3d');
    await screen.keys('x');
    await screen.keys('n');
    expect(screen.frame()).toContain('nothing revoked');
    await screen.keys('x');
    await escape(screen);
    await tick(30);
    expect(revoked).toEqual([]);
    expect(screen.frame()).toContain('0a1b2c3d deploy');
  });

  it('should show the service error of a revoke and read the list again', async () => {
    let lists = 0;
    const screen = renderScreen(
      <Grants />,
      fakeBackend(
        {},
        {
          listGrants: () => {
            lists += 1;
            return Promise.resolve(lists === 1 ? [grant('0a1b2c3d')] : []);
          },
          revokeGrants: () =>
            Promise.reject(
              Object.assign(new Error('no live grant has the id 0a1b2c3d'), { code: 'NOT_FOUND' }),
            ),
        },
      ),
    );
    await frameWith(screen, '0a1b2c3d');
    await screen.keys('x');
    await screen.keys('y');
    const frame = await frameWith(screen, 'none: an approver');
    expect(frame).toContain('no live grant has the id 0a1b2c3d (NOT_FOUND)');
    expect(lists).toBe(2);
  });

  it('should say there are none, and read the list again on r', async () => {
    const live: GrantInfo[] = [];
    const { impl } = service(live);
    const screen = renderScreen(<Grants />, fakeBackend({}, impl));
    await frameWith(screen, 'none: an approver');
    await screen.keys('x'); // nothing to revoke: no prompt
    expect(screen.frame()).not.toContain('[y/n]');
    live.push(grant('0a1b2c3d'));
    await screen.keys('r');
    expect(await frameWith(screen, '0a1b2c3d deploy')).toContain('0a1b2c3d deploy');
  });

  it('should draw a hostile caller path visibly, never as terminal control', async () => {
    const { impl } = service([grant('0a1b2c3d', { caller: '/tmp/\u001b[2Jevil\u202e' })]);
    const screen = renderScreen(<Grants />, fakeBackend({}, impl));
    await frameWith(screen, '0a1b2c3d');
    await screen.keys('x');
    expect(screen.seen()).not.toContain('\u001b[2J');
    expect(screen.seen()).not.toContain('\u202e');
    expect(screen.frame()).toContain('/tmp/\\e[2Jevil');
  });

  it('should drop the detail line when compact', async () => {
    const { impl } = service([grant('0a1b2c3d')]);
    const screen = renderScreen(<Grants />, fakeBackend({}, impl), { columns: 60, rows: 18 });
    await frameWith(screen, '0a1b2c3d');
    expect(screen.frame()).not.toContain('under parent pid');
  });
});
