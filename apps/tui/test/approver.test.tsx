// SPDX-License-Identifier: AGPL-3.0-only
// The approver session held by the app (issue 12): it survives switching views, a waiting
// request shows on every view as a badge, and the bell rings once per new request.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { ApprovalInfo } from '@cora/ipc';
import {
  approverSession,
  ENTER,
  PASS,
  renderApp,
  tick,
  unlocked,
  type ApproverFake,
  type Screen,
} from './harness.tsx';

afterEach(() => {
  cleanup();
});

function info(id: number): ApprovalInfo {
  return {
    id,
    task: 'deploy',
    target: '/usr/bin/curl',
    argv: ['curl', 'https://x'],
    argvMore: [0, 0],
    argvOmitted: 0,
    cwd: '/home/u/p',
    cwdMore: 0,
    secrets: ['K'],
    caller: { pid: 10, exe: '/usr/bin/node', script: null },
    ancestry: [{ pid: 9, exe: '/usr/bin/claude' }],
    window: null,
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    env: [],
    envOmitted: 0,
    files: [],
  };
}

/** The whole app over one strict fake service that also approves. */
function app(): ApproverFake & { readonly screen: Screen } {
  const s = approverSession({}, unlocked);
  return { ...s, screen: renderApp(s.backend) };
}

/** The app on the approvals view with a session started and ready. */
async function approving(): Promise<ReturnType<typeof app>> {
  const a = app();
  await tick(30);
  await a.screen.keys('5');
  await a.screen.keys(ENTER);
  await a.screen.keys(`${PASS}${ENTER}`);
  await tick(30);
  a.handlers().onReady?.();
  await tick();
  return a;
}

describe('App: the approver session', () => {
  it('should keep the session across views, badge waiting requests everywhere, and ring once per request', async () => {
    const a = await approving();
    expect(a.screen.frame()).toContain('approver ready');

    // Away on the dashboard: the session stays, and a request shows in the header.
    await a.screen.keys('1');
    await tick(30);
    expect(a.screen.frame()).not.toContain('waiting');
    a.handlers().onPending?.(info(7));
    await tick(30);
    expect(a.screen.frame()).toContain('⚑ 1 waiting · 5');
    expect(a.screen.bells()).toBe(1);
    // Shown again (say, by the service to a new session): no second bell. A new one rings.
    a.handlers().onPending?.(info(7));
    a.handlers().onPending?.(info(8));
    await tick(30);
    expect(a.screen.frame()).toContain('⚑ 2 waiting · 5');
    expect(a.screen.bells()).toBe(2);

    // Back on the approvals view: the same session, the requests, no new connection.
    await a.screen.keys('5');
    await tick(30);
    expect(a.screen.frame()).toContain('#7 deploy');
    expect(a.screen.frame()).toContain('#8 deploy');
    // A key right after the view showed the request decides nothing: it may have been meant
    // for what was on screen before.
    await a.screen.keys('o');
    await tick();
    expect(a.decided).toEqual([]);
    expect(a.screen.frame()).toContain('#7 deploy just appeared: press again to decide');
    await tick(350);
    await a.screen.keys('o');
    await tick();
    expect(a.decided).toEqual(['7:allow-once']);
    a.handlers().onResolved?.({ id: 7, outcome: 'granted' });
    await tick(30);
    expect(a.screen.frame()).toContain('⚑ 1 waiting');
    expect(a.passes).toEqual([PASS]); // one session, started once
    expect(a.connects()).toBe(1); // one connection for the screens and the approver
    expect(a.service.closes).toBe(0);

    // A lock ends the session: the badge goes with the requests.
    a.end({ ended: 'locked' });
    await tick(30);
    expect(a.screen.frame()).not.toContain('waiting');
    // The passphrase was never drawn.
    expect(a.screen.seen()).not.toContain(PASS);
  });

  it('should close the session with the app (quit closes the shared connection)', async () => {
    const a = await approving();
    await a.screen.keys('2');
    await a.screen.keys('5');
    expect(a.service.closes).toBe(0);
    await a.screen.keys('q');
    expect(a.screen.exits).toEqual([0]);
    expect(a.service.closes).toBe(1);
  });
});
