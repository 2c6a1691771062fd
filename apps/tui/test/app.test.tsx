// SPDX-License-Identifier: AGPL-3.0-only
// The app around the screens: tabs, help, quit, layout, and the one connection they share.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render } from 'ink-testing-library';
import { Text } from 'ink';
import type { ReactElement } from 'react';
import { useTui } from '../src/internal/context.tsx';
import type { TuiService } from '../src/types.ts';
import {
  auditOf,
  ENTER,
  ESC,
  fakeBackend,
  fakeService,
  PASS,
  renderApp,
  status,
  textOf,
  tick,
  unlocked,
} from './harness.tsx';

afterEach(() => {
  cleanup();
});

/** A service that answers every screen's first request. */
const everything: Partial<TuiService> = {
  ...unlocked,
  listSecrets: () => Promise.resolve([]),
  listGrants: () => Promise.resolve([]),
  getPolicy: () => Promise.resolve({ version: 1, callers: [], tasks: {} }),
  verifyAudit: () =>
    Promise.resolve({
      ok: true,
      records: 0,
      files: [],
      head: null,
      macChecked: true,
      lastSealedSeq: 0,
      unsealed: 0,
      torn: null,
      firstProblem: null,
    }),
};

describe('App: the frame', () => {
  it('should show the tabs and the keys of the view', async () => {
    const app = renderApp(fakeBackend({}, unlocked));
    await tick(30);
    expect(app.frame()).toContain(
      'Cora 0.1.0 1 Dashboard  2 Secrets  3 Tasks  4 Audit  5 Approvals  6 Grants',
    );
    expect(app.frame()).toContain(
      'u unlock · l lock · r refresh · 1–6 Tab switch view · ? help · q Ctrl-C quit',
    );
  });

  it('should show help on ? and switch views with number keys and quit on q', async () => {
    const app = renderApp(fakeBackend({}, unlocked));
    await tick();
    await app.keys('?');
    expect(app.frame()).toContain('Keys — Dashboard');
    expect(app.frame()).toContain('Everywhere');
    await app.keys('x');
    expect(app.frame()).not.toContain('Keys — Dashboard');
    await app.keys('q');
    expect(app.exits).toEqual([0]);
  });

  it('should switch views with Tab and the number keys', async () => {
    const app = renderApp(fakeBackend({ readAudit: auditOf([]) }, everything));
    await tick(30);
    await app.keys('\t');
    await tick(30);
    expect(app.frame()).toContain('↑↓ select · a add · d delete');
    await app.keys('4');
    await tick(30);
    expect(app.frame()).toContain('chain: not verified (v)');
    await app.keys('5');
    expect(app.frame()).toContain('Enter start approving');
    await app.keys('6');
    await tick(30);
    expect(app.frame()).toContain('↑↓ select · x revoke · r refresh');
    expect(app.frame()).toContain('none: an approver makes one');
    await app.keys('1');
    await tick(30);
    expect(app.frame()).toContain('service pid');
  });

  it('should draw a compact layout below 72×20 and no colour codes under NO_COLOR', async () => {
    const app = renderApp(fakeBackend({}, unlocked), { columns: 60, rows: 18, color: false });
    await tick(30);
    expect(app.frame()).toContain('1 Dash');
    expect(app.frame()).not.toContain('Dashboard');
    expect(app.frame()).toContain('u unlock · l lock · r refresh · ? help · q quit');
    expect(app.frames.join('')).not.toMatch(new RegExp(`${ESC}\\[3\\dm`, 'u'));
  });

  it('should keep the global keys quiet while a field has the keyboard, except Ctrl-C', async () => {
    const app = renderApp(fakeBackend({ readAudit: auditOf([]) }, everything));
    await tick(30);
    await app.keys('2');
    await tick(30);
    await app.keys('a');
    await app.keys('q3?');
    expect(app.exits).toEqual([]);
    expect(app.frame()).toContain('Name of the new secret: q3?');
    await app.keys('\u0003');
    expect(app.exits).toEqual([0]);
  });

  it('should surface a connection that fails as a message, and retry on the next request', async () => {
    let attempts = 0;
    const app = renderApp(
      fakeBackend({
        connect: () => {
          attempts += 1;
          return attempts === 1
            ? Promise.reject(new Error('the service did not start'))
            : Promise.resolve(fakeService(unlocked));
        },
      }),
    );
    await tick(30);
    expect(app.frame()).toContain('the service did not start');
    await app.keys('r');
    await tick(30);
    expect(app.frame()).toContain('● unlocked');
    expect(attempts).toBe(2);
  });

  it('useTui should refuse to run outside the app (a wiring bug)', async () => {
    function Orphan(): ReactElement {
      let message = 'no error';
      try {
        useTui();
      } catch (error) {
        message = (error as Error).message;
      }
      return <Text>{message}</Text>;
    }
    const { lastFrame } = render(<Orphan />);
    await tick();
    expect(lastFrame()).toBe('useTui outside TuiProvider');
  });
});

describe('App: one connection', () => {
  it('should send every screen’s requests over one connection, and close it on quit', async () => {
    let connects = 0;
    const service = fakeService(everything);
    const app = renderApp(
      fakeBackend({
        readAudit: auditOf([]),
        connect: () => {
          connects += 1;
          return Promise.resolve(service);
        },
      }),
    );
    await tick(30);
    for (const view of ['2', '3', '4', '1']) {
      await app.keys(view);
      await tick(30);
    }
    await app.keys('4');
    await tick(30);
    await app.keys('v');
    await tick(30);
    expect(app.frame()).toContain('chain ok: 0 records');
    expect(connects).toBe(1);
    await app.keys('q');
    expect(service.closes).toBe(1);
  });

  it('should connect again after the service closed the connection', async () => {
    const services: (TuiService & { closes: number })[] = [];
    const app = renderApp(
      fakeBackend({
        connect: () => {
          const service = fakeService(unlocked);
          services.push(service);
          return Promise.resolve(service);
        },
      }),
    );
    await tick(30);
    services[0]?.close(); // an idle cut
    await app.keys('r');
    await tick(30);
    expect(services).toHaveLength(2);
    expect(app.frame()).toContain('● unlocked');
  });
});

describe('App: setup', () => {
  it('should start with the setup when there is no vault, and end on the dashboard', async () => {
    let vault = false;
    let connects = 0;
    const sent: string[] = [];
    const app = renderApp(
      fakeBackend({
        vaultExists: () => vault,
        passphraseWarnings: () => [],
        findAgents: () => Promise.resolve([]),
        connect: () => {
          connects += 1;
          return Promise.resolve(
            fakeService({
              init: (p) => {
                sent.push(`init:${textOf(p)}`);
                vault = true;
                return Promise.resolve({ created: true, generation: 1 });
              },
              unlock: (p) => {
                sent.push(`unlock:${textOf(p)}`);
                return Promise.resolve({ state: 'unlocked', secrets: 0 });
              },
              status: () => Promise.resolve(status('unlocked', { secrets: 0 })),
            }),
          );
        },
      }),
    );
    await tick();
    expect(app.frame()).toContain('Cora 0.1.0 · setup');
    expect(app.frame()).toContain('Ctrl-C quits the setup');
    // The global keys wait for the setup: 2 and ? are not views here.
    await app.keys('2');
    await app.keys('?');
    expect(app.frame()).toContain('There is no vault');
    await app.keys(ENTER);
    await app.keys(`${PASS}${ENTER}`);
    await app.keys(`${PASS}${ENTER}`);
    await tick(30);
    await app.keys('n');
    await tick(30);
    await app.keys('s');
    await app.keys(ENTER);
    await tick(30);
    expect(app.frame()).toContain('1 Dashboard');
    expect(app.frame()).toContain('● unlocked');
    // The setup and the dashboard share the connection the setup made.
    expect(connects).toBe(1);
    expect(sent).toEqual([`init:${PASS}`, `unlock:${PASS}`]);
    expect(app.seen()).not.toContain(PASS);
  });

  it('should quit from the setup on q at the intro, or Ctrl-C anywhere', async () => {
    const app = renderApp(fakeBackend({ vaultExists: () => false }));
    await tick();
    await app.keys('q');
    expect(app.exits).toEqual([0]);
    const other = renderApp(fakeBackend({ vaultExists: () => false, passphraseWarnings: () => [] }));
    await tick();
    await other.keys(ENTER);
    await other.keys('\u0003');
    expect(other.exits).toEqual([]); // Ctrl-C in a masked field cancels it
    await other.keys('\u0003');
    expect(other.exits).toEqual([0]);
  });
});
