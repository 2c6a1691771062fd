// SPDX-License-Identifier: AGPL-3.0-only
// The approval queue as the user meets it: the passphrase proved masked, requests drawn with
// a bell, decisions sent, the session's end told.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { ApprovalInfo } from '@cora/ipc';
import { Approvals } from '../../src/internal/screens/approvals/view.tsx';
import {
  approverSession as session,
  catchSubmits,
  DOWN,
  ENTER,
  escape,
  fakeBackend,
  PASS,
  renderScreen,
  tick,
} from '../harness.tsx';

afterEach(() => {
  cleanup();
});

const INFO: ApprovalInfo = {
  id: 7,
  task: 'deploy',
  target: '/usr/bin/curl',
  argv: ['curl', 'https://x'],
  argvMore: [0, 0],
  argvOmitted: 0,
  cwd: '/home/u/p',
  cwdMore: 0,
  secrets: ['K'],
  caller: { pid: 10, exe: '/usr/bin/node', script: '/home/u/agent.js' },
  ancestry: [{ pid: 9, exe: '/usr/bin/claude' }],
  window: null,
  expiresAt: new Date(Date.now() + 60_000).toISOString(),
  env: [{ name: 'HOME', value: '/home/u', more: 0 }],
  envOmitted: 0,
  files: [{ where: 'home', path: '.curlrc', modified: new Date(Date.now() - 180_000).toISOString() }],
};

/** Start approving with `PASS`, and be ready. */
async function start(s: ReturnType<typeof session>) {
  const screen = renderScreen(<Approvals />, s.backend);
  await screen.keys(ENTER);
  await screen.keys(`${PASS}${ENTER}`);
  await tick(30);
  s.handlers().onReady?.();
  await tick();
  return screen;
}

describe('Approvals view', () => {
  it('should prove the passphrase, ring on a request, and decide allow-once', async () => {
    const s = session();
    const screen = renderScreen(<Approvals />, s.backend);
    expect(screen.frame()).toContain('Approve or deny requests of tasks with approve: once/session/window.');
    await screen.keys(ENTER);
    expect(screen.frame()).toContain('Passphrase to approve:');
    await screen.keys(`${PASS}${ENTER}`);
    expect(screen.frame()).toContain('checking the passphrase…');
    await tick(30);
    s.handlers().onReady?.();
    await tick();
    expect(screen.frame()).toContain('No pending requests.');
    s.handlers().onPending?.(INFO);
    await tick(30);
    expect(screen.bells()).toBe(1);
    expect(screen.frame()).toContain('#7 deploy');
    expect(screen.frame()).toMatch(/expires in 0[01]:\d\d/u);
    // The lines of @cora/display's approvalLines, the same as `cr approve` prints.
    expect(screen.frame()).toContain('command  curl https://x');
    expect(screen.frame()).toContain('target   /usr/bin/curl');
    expect(screen.frame()).toContain('cwd      /home/u/p');
    expect(screen.frame()).toContain(
      'caller   pid 10 /usr/bin/node script /home/u/agent.js (weaker evidence)',
    );
    expect(screen.frame()).toContain('ancestry 9 /usr/bin/claude');
    expect(screen.frame()).toContain('secrets  K');
    expect(screen.frame()).toContain('env      HOME=/home/u');
    expect(screen.frame()).toContain('file     present: ~/.curlrc (modified 3 min ago)');
    expect(screen.frame()).toContain('o allow once · n deny');
    await screen.keys('w');
    expect(screen.frame()).toContain('task deploy offers allow-once only');
    await screen.keys('o');
    await tick();
    expect(screen.frame()).toContain('#7 deploy: allow-once');
    s.handlers().onResolved?.({ id: 7, outcome: 'granted' });
    await tick(30);
    expect(s.decided).toEqual(['7:allow-once']);
    expect(screen.frame()).toContain('#7 deploy /usr/bin/curl: granted');
    s.end({ ended: 'locked' });
    await tick(30);
    expect(screen.frame()).toContain('the service locked: approvals ended (Enter to start again)');
    expect(s.passes).toEqual([PASS]);
    expect(s.service.closes).toBe(0); // the shared connection stays, for the other screens
    expect(screen.seen()).not.toContain(PASS);
  });

  it('should wipe the passphrase as soon as the request holds it', async () => {
    const s = session();
    const screen = renderScreen(<Approvals />, s.backend);
    const submitted = catchSubmits(screen.router);
    await screen.keys(ENTER);
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(s.passes).toEqual([PASS]);
    expect(submitted[0]?.wiped).toBe(true);
  });

  it('should offer the window when the task has one, and deny on n', async () => {
    const s = session();
    const screen = await start(s);
    s.handlers().onPending?.({ ...INFO, id: 8, window: '15m' });
    s.handlers().onPending?.({ ...INFO, id: 9 });
    await tick(30);
    expect(screen.bells()).toBe(2);
    expect(screen.frame()).toContain('o allow once · w allow for 15m · n deny');
    await screen.keys('w');
    await screen.keys(DOWN);
    await screen.keys('n');
    await tick();
    expect(s.decided).toEqual(['8:allow-window', '9:deny']);
  });

  it('should say why a decision could not be sent', async () => {
    const s = session({ decide: () => Promise.reject(new Error('the approver session has ended')) });
    const screen = await start(s);
    s.handlers().onPending?.(INFO);
    await tick(30);
    await screen.keys('o');
    await tick();
    expect(screen.frame()).toContain('the approver session has ended');
  });

  it('should end on a wrong passphrase, saying so, and start again on Enter', async () => {
    const s = session();
    const screen = renderScreen(<Approvals />, s.backend);
    await screen.keys(ENTER);
    await screen.keys(`wrong${ENTER}`);
    await tick(30);
    s.fail(Object.assign(new Error('wrong passphrase'), { code: 'AUTH_FAILED' }));
    await tick(30);
    expect(screen.frame()).toContain('wrong passphrase (AUTH_FAILED) (Enter to try again)');
    expect(s.service.closes).toBe(0); // the shared connection stays, for the other screens
    await screen.keys(ENTER);
    expect(screen.frame()).toContain('Passphrase to approve:');
  });

  it('should say when another approver took over', async () => {
    const s = session();
    const screen = await start(s);
    s.handlers().onPending?.(INFO);
    await tick();
    s.end({ ended: 'replaced' });
    await tick(30);
    expect(screen.frame()).toContain('approvals ended: replaced');
    expect(screen.frame()).not.toContain('#7 deploy');
  });

  it('should go back on Esc without connecting', async () => {
    const s = session();
    const screen = renderScreen(<Approvals />, s.backend);
    await screen.keys(ENTER);
    await screen.keys('\u001b');
    await tick();
    expect(screen.frame()).toContain('Press Enter');
    expect(s.connects()).toBe(0);
  });

  it('should show why it could not connect', async () => {
    const screen = renderScreen(
      <Approvals />,
      fakeBackend({ connect: () => Promise.reject(new Error('the service did not start')) }),
    );
    const submitted = catchSubmits(screen.router);
    await screen.keys(ENTER);
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('the service did not start');
    expect(submitted[0]?.wiped).toBe(true);
  });

  it('should end at once when the session cannot be started', async () => {
    const s = session({
      approve: () => {
        throw new Error('the connection is closed');
      },
    });
    const screen = renderScreen(<Approvals />, s.backend);
    await screen.keys(ENTER);
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('the connection is closed');
    expect(s.service.closes).toBe(0); // the shared connection stays, for the other screens
  });

  it('should draw a hostile argv escaped and quoted, and cut more when compact', async () => {
    const s = session();
    const screen = renderScreen(<Approvals />, s.backend, { columns: 60, rows: 18 });
    await screen.keys(ENTER);
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    s.handlers().onReady?.();
    s.handlers().onPending?.({
      ...INFO,
      argv: ['curl', '\x1b[2J', 'a b', '', 'x\u202ey', 'B'.repeat(4000)],
      ancestry: [1, 2, 3, 4].map((pid) => ({ pid, exe: '/bin/sh' })),
    });
    await tick(30);
    const frames = screen.frames.join('');
    expect(frames).not.toContain('\x1b[2J');
    expect(frames).not.toContain('\u202e');
    const flat = screen.frame().replace(/[│║\s]+/gu, ' ');
    expect(flat).toContain("command curl $'\\e[2J' 'a b' '' $'x\\xe2\\x80\\xaey'");
    expect(flat).toContain('…(3904 more bytes)');
    expect(flat).toContain('ancestry 1 /bin/sh ← 2 /bin/sh ← …(2 more)');
  });

  it('should go back on Esc from the passphrase prompt', async () => {
    const s = session();
    const screen = renderScreen(<Approvals />, s.backend);
    await screen.keys(ENTER);
    await escape(screen);
    expect(screen.frame()).toContain('Press Enter');
  });
});
