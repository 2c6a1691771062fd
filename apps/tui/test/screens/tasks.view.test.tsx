// SPDX-License-Identifier: AGPL-3.0-only
// The tasks screen as the user meets it: the policy drawn, explain sent with the caller asked.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { PolicyExplainResult } from '@cora/ipc';
import { Tasks } from '../../src/internal/screens/tasks/view.tsx';
import type { TuiService } from '../../src/types.ts';
import { DOWN, ENTER, escape, fakeBackend, renderScreen, tick } from '../harness.tsx';

afterEach(() => {
  cleanup();
});

const POLICY = {
  version: 1,
  callers: [{ exe: '/usr/bin/claude' }],
  tasks: {
    deploy: { secrets: ['K'], targets: ['/usr/bin/curl'], approve: 'once', output: 'masked' },
    web: { secrets: ['A', 'B'], targets: [], via: ['/opt/agent'], home: 'clean', connect: [443] },
  },
};

/** The screen over a policy; explain answers from `explain` and records who asked. */
function setup(explain?: TuiService['explain'], resolve: (c: string) => string | null = () => null) {
  const asked: string[] = [];
  const screen = renderScreen(
    <Tasks />,
    fakeBackend(
      { resolveCommand: resolve },
      {
        getPolicy: () => Promise.resolve(POLICY),
        explain:
          explain ??
          ((task, argv, as): Promise<PolicyExplainResult> => {
            const caller = as?.caller;
            asked.push(`${task}|${argv.join(' ')}|${caller ?? 'cr'}`);
            return Promise.resolve({
              steps: [
                { step: 'caller', ok: true, detail: `caller ${caller ?? 'cr'}` },
                { step: 'target', ok: false, detail: `${argv[0] ?? ''} is not a target of ${task}` },
              ],
              outcome: 'deny',
              reason: 'TARGET_NOT_ALLOWED',
            });
          }),
      },
    ),
  );
  return { screen, asked };
}

describe('Tasks view', () => {
  it('should list the callers and every task with its secrets, targets and via', async () => {
    const { screen } = setup();
    await tick(30);
    expect(screen.frame()).toContain('/usr/bin/claude');
    expect(screen.frame()).toContain('deploy approve: once · output: masked');
    expect(screen.frame()).toContain('secrets: K · targets: /usr/bin/curl');
    expect(screen.frame()).toContain('web approve: never · output: masked');
    expect(screen.frame()).toContain('secrets: A, B · targets: — (refuses all) · via: /opt/agent');
  });

  it('should show a task’s child confinement, and none for a task without', async () => {
    const { screen } = setup();
    await tick(30);
    const frame = screen.frame();
    expect(frame).toContain('confined: clean HOME');
    expect(frame).toContain('confined: connects only to TCP ports 443');
    // Only web is confined: its two lines, nothing under deploy.
    expect(frame.split('confined:')).toHaveLength(3);
    expect(frame.indexOf('confined:')).toBeGreaterThan(frame.indexOf('web approve'));
  });

  it('should explain a command line step by step', async () => {
    const { screen, asked } = setup();
    await tick(30);
    await screen.keys('e');
    expect(screen.frame()).toContain('Explain deploy: command line:');
    await screen.keys(`wget x${ENTER}`);
    expect(screen.frame()).toContain('As caller (a path or a name on PATH; empty = this cr):');
    await screen.keys(`/usr/bin/claude${ENTER}`);
    await tick(30);
    expect(asked).toEqual(['deploy|wget x|/usr/bin/claude']);
    expect(screen.frame()).toContain('deploy -- wget x: deny (TARGET_NOT_ALLOWED)');
    expect(screen.frame()).toContain('✓ caller: caller /usr/bin/claude');
    expect(screen.frame()).toContain('✗ target: wget is not a target of deploy');
  });

  it('should explain for this cr when the caller is left empty, for the selected task', async () => {
    const { screen, asked } = setup();
    await tick(30);
    await screen.keys(DOWN);
    await screen.keys('e');
    expect(screen.frame()).toContain('Explain web: command line:');
    await screen.keys(`curl${ENTER}`);
    await screen.keys(ENTER);
    await tick(30);
    expect(asked).toEqual(['web|curl|cr']);
  });

  it('should look a bare caller name up on PATH, and refuse an unknown one without asking the service', async () => {
    const { screen, asked } = setup(undefined, (c) => (c === 'claude' ? '/opt/claude/bin/claude' : null));
    await tick(30);
    await screen.keys('e');
    await screen.keys(`curl x${ENTER}`);
    await screen.keys(`nosuchagent${ENTER}`);
    expect(screen.frame()).toContain('nosuchagent: no executable by that name on PATH');
    expect(asked).toEqual([]);
    await escape(screen);
    await screen.keys('e');
    await screen.keys(`curl x${ENTER}`);
    await screen.keys(`claude${ENTER}`);
    await tick(30);
    expect(asked).toEqual(['deploy|curl x|/opt/claude/bin/claude']);
  });

  it('should ask for a command when the line is empty', async () => {
    const { screen, asked } = setup();
    await tick(30);
    await screen.keys('e');
    await screen.keys(ENTER);
    expect(screen.frame()).toContain('type the command to check');
    expect(screen.frame()).toContain('Explain deploy: command line:');
    expect(asked).toEqual([]);
  });

  it('should show the service error of an explain', async () => {
    const { screen } = setup(() =>
      Promise.reject(Object.assign(new Error('no such task'), { code: 'NOT_FOUND' })),
    );
    await tick(30);
    await screen.keys('e');
    await screen.keys(`curl${ENTER}`);
    await screen.keys(ENTER);
    await tick(30);
    expect(screen.frame()).toContain('no such task (NOT_FOUND)');
  });

  it('should show an allowed command as allowed', async () => {
    const allow = (): Promise<PolicyExplainResult> =>
      Promise.resolve({
        steps: [{ step: 'target', ok: true, detail: '/usr/bin/curl' }],
        outcome: 'allow',
        reason: 'allowed',
      });
    const { screen } = setup(allow);
    await tick(30);
    await screen.keys('e');
    await screen.keys(`curl${ENTER}`);
    await screen.keys(ENTER);
    await tick(30);
    expect(screen.frame()).toContain('deploy -- curl: allow (allowed)');
    expect(screen.frame()).toContain('✓ target: /usr/bin/curl');
  });

  it('should say the policy is locked away while locked, and read it again on r', async () => {
    let calls = 0;
    const screen = renderScreen(
      <Tasks />,
      fakeBackend(
        {},
        {
          getPolicy: () => {
            calls += 1;
            return calls === 1
              ? Promise.reject(Object.assign(new Error('the service is locked'), { code: 'LOCKED' }))
              : Promise.resolve(POLICY);
          },
        },
      ),
    );
    await tick(30);
    expect(screen.frame()).toContain('The policy is inside the vault: unlock to see it (Dashboard: u).');
    expect(screen.frame()).toContain('the service is locked (LOCKED)');
    await screen.keys('r');
    await tick(30);
    expect(screen.frame()).toContain('deploy');
    expect(screen.frame()).not.toContain('LOCKED');
  });

  it('should say when there are no callers and no tasks', async () => {
    const screen = renderScreen(
      <Tasks />,
      fakeBackend({}, { getPolicy: () => Promise.resolve({ version: 1, callers: [], tasks: {} }) }),
    );
    await tick(30);
    expect(screen.frame()).toContain('Callers (none: only cr itself)');
    expect(screen.frame()).toContain('none yet (cr policy task add …)');
    await screen.keys('e');
    expect(screen.frame()).not.toContain('Explain');
  });

  it('should drop the detail line of each task when compact', async () => {
    const screen = renderScreen(<Tasks />, fakeBackend({}, { getPolicy: () => Promise.resolve(POLICY) }), {
      columns: 60,
      rows: 18,
    });
    await tick(30);
    expect(screen.frame()).toContain('deploy');
    expect(screen.frame()).not.toContain('secrets: K');
  });
});
