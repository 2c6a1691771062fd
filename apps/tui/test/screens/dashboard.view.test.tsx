// SPDX-License-Identifier: AGPL-3.0-only
// The dashboard as the user meets it: the state drawn, unlock and lock sent, masked input.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { StatusResult } from '@cora/ipc';
import { Dashboard } from '../../src/internal/screens/dashboard/view.tsx';
import type { TuiService } from '../../src/types.ts';
import {
  catchSubmits,
  ENTER,
  escape,
  fakeBackend,
  PASS,
  renderScreen,
  status,
  textOf,
  tick,
} from '../harness.tsx';

afterEach(() => {
  cleanup();
});

/** A service that is locked until unlocked with `PASS`, recording what it is sent. */
function lockable(extra: Partial<TuiService> = {}) {
  let state: 'locked' | 'unlocked' = 'locked';
  const sent: string[] = [];
  const service: Partial<TuiService> = {
    status: () =>
      Promise.resolve(
        status(state, {
          secrets: 3,
          pid: 99,
          idleDeadline: state === 'locked' ? null : new Date(Date.now() + 65_000).toISOString(),
        }),
      ),
    unlock: (p) => {
      sent.push(`unlock:${textOf(p)}`);
      if (textOf(p) !== PASS) {
        return Promise.reject(Object.assign(new Error('wrong passphrase'), { code: 'AUTH_FAILED' }));
      }
      state = 'unlocked';
      return Promise.resolve({ state: 'unlocked', secrets: 3 });
    },
    lock: () => {
      sent.push('lock');
      state = 'locked';
      return Promise.resolve();
    },
    ...extra,
  };
  return { service, sent };
}

describe('Dashboard view', () => {
  it('should show the state and paths, and unlock with a masked passphrase', async () => {
    const { service, sent } = lockable();
    const screen = renderScreen(<Dashboard />, fakeBackend({}, service));
    await tick(30);
    expect(screen.frame()).toContain('○ locked');
    expect(screen.frame()).toContain('/home/u/.cora/vault.cora');
    expect(screen.frame()).toContain('/run/user/1/cora/cora.sock');
    expect(screen.frame()).toMatch(/service pid\s+99/u);
    expect(screen.frame()).toContain('u unlocks');
    await screen.keys('u');
    expect(screen.frame()).toContain('Passphrase to unlock:');
    await screen.keys(PASS);
    expect(screen.frame()).toContain('•'.repeat(PASS.length));
    await screen.keys(ENTER);
    await tick(30);
    expect(screen.frame()).toContain('● unlocked');
    expect(screen.frame()).toContain('unlocked: 3 secrets');
    expect(screen.frame()).toMatch(/idle lock in\s+01:0\d/u);
    expect(screen.frame()).toMatch(/secrets\s+3/u);
    expect(screen.frame()).toContain('l locks now');
    expect(sent).toEqual([`unlock:${PASS}`]);
    expect(screen.seen()).not.toContain(PASS);
  });

  it('should wipe the passphrase once the unlock settled, right or wrong', async () => {
    const { service } = lockable();
    const screen = renderScreen(<Dashboard />, fakeBackend({}, service));
    const submitted = catchSubmits(screen.router);
    await tick(30);
    await screen.keys('u');
    await screen.keys(`not it${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('wrong passphrase (AUTH_FAILED)');
    expect(screen.frame()).toContain('○ locked');
    await screen.keys('u');
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(submitted).toHaveLength(2);
    expect(submitted.every((b) => b.wiped)).toBe(true);
  });

  it('should ask before locking, and lock on y', async () => {
    const { service, sent } = lockable();
    const screen = renderScreen(<Dashboard />, fakeBackend({}, service));
    await tick(30);
    await screen.keys('u');
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    await screen.keys('l');
    expect(screen.frame()).toContain("Lock now? Every secret is wiped from the service's memory. [y/n]");
    await screen.keys('n');
    expect(screen.frame()).not.toContain('Lock now?');
    expect(sent).toEqual([`unlock:${PASS}`]);
    await screen.keys('l');
    await screen.keys('y');
    await tick(30);
    expect(sent).toEqual([`unlock:${PASS}`, 'lock']);
    expect(screen.frame()).toContain('○ locked');
    expect(screen.frame()).toMatch(/^locked$/mu);
  });

  it('should not offer lock while locked, nor unlock while unlocked', async () => {
    const screen = renderScreen(
      <Dashboard />,
      fakeBackend({}, { status: () => Promise.resolve(status('unlocked')) }),
    );
    await tick(30);
    await screen.keys('u');
    expect(screen.frame()).not.toContain('Passphrase to unlock:');
    const locked = renderScreen(
      <Dashboard />,
      fakeBackend({}, { status: () => Promise.resolve(status('locked')) }),
    );
    await tick(30);
    await locked.keys('l');
    expect(locked.frame()).not.toContain('Lock now?');
  });

  it('should say when the unlock prompt is left or overflows', async () => {
    const { service, sent } = lockable();
    const screen = renderScreen(<Dashboard />, fakeBackend({ maxPassphraseBytes: 4 }, service));
    await tick(30);
    await screen.keys('u');
    await escape(screen);
    expect(screen.frame()).toContain('cancelled');
    await screen.keys('u');
    await screen.keys(`12345${ENTER}`);
    expect(screen.frame()).toContain('the passphrase is too long');
    expect(sent).toEqual([]);
  });

  it('should ask again on r and show what the service says when it cannot answer', async () => {
    let calls = 0;
    const screen = renderScreen(
      <Dashboard />,
      fakeBackend(
        {},
        {
          status: (): Promise<StatusResult> => {
            calls += 1;
            return calls === 1
              ? Promise.resolve(status('locked'))
              : Promise.reject(Object.assign(new Error('the service is busy'), { code: 'BUSY' }));
          },
        },
      ),
    );
    await tick(30);
    await screen.keys('r');
    await tick(30);
    expect(calls).toBe(2);
    expect(screen.frame()).toContain('the service is busy (BUSY)');
    expect(screen.frame()).toContain('○ locked'); // the last status stays
  });

  it('should show the connection error when the service cannot be reached', async () => {
    const screen = renderScreen(
      <Dashboard />,
      fakeBackend({ connect: () => Promise.reject(new Error('the service did not start')) }),
    );
    await tick(30);
    expect(screen.frame()).toContain('the service did not start');
    expect(screen.frame()).toMatch(/state\s+…/u);
  });

  it('should narrow its labels in the compact layout', async () => {
    const screen = renderScreen(
      <Dashboard />,
      fakeBackend({}, { status: () => Promise.resolve(status('locked')) }),
      {
        columns: 60,
        rows: 18,
      },
    );
    await tick(30);
    expect(screen.frame()).toMatch(/^idle lock in {1}—/mu);
  });
});
