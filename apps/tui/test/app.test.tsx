// SPDX-License-Identifier: AGPL-3.0-only
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { SecretBuf } from '@cora/memstore';
import type { ApprovalInfo, ApproveResult } from '@cora/ipc';
import type { ApprovalHandlers, AuditRecordLike, TuiService } from '../src/types.ts';
import { matchesFilter } from '../src/internal/screens/audit.tsx';
import { DOWN, ENTER, ESC, fakeBackend, renderApp, textOf, tick } from './harness.tsx';

const CANARY = 'CORACANARY_tui_0123456789';
const PASS = 'correct horse battery staple';

afterEach(() => {
  cleanup();
});

const unlocked = {
  status: () =>
    Promise.resolve({
      state: 'unlocked' as const,
      secrets: 2,
      pid: 4242,
      socket: '/s',
      idleDeadline: new Date(Date.now() + 600_000).toISOString(),
      version: '0.1.0',
    }),
};

describe('App: onboarding', () => {
  it('should create the vault from two masked entries, store a secret and end with the cr exec line', async () => {
    const calls: string[] = [];
    let vault = false;
    const backend = fakeBackend(
      {
        vaultExists: () => vault,
        passphraseWarnings: (p: SecretBuf) => (p.length < 12 ? ['short', 'few kinds'] : []),
        createVault: (p: SecretBuf) => {
          calls.push(`create:${textOf(p)}`);
          vault = true;
          return Promise.resolve();
        },
        findAgents: () => Promise.resolve([{ name: 'claude', path: '/usr/bin/claude' }]),
        resolveCommand: (c: string) => (c === 'curl' ? '/usr/bin/curl' : null),
      },
      {
        unlock: (p) => {
          calls.push(`unlock:${textOf(p)}`);
          return Promise.resolve({ state: 'unlocked', secrets: 0 });
        },
        setSecret: (name, value, p) => {
          calls.push(`set:${name}:${textOf(value)}:${textOf(p)}`);
          return Promise.resolve({ name, replaced: false });
        },
        getPolicy: () => Promise.resolve({ version: 1, callers: [], tasks: {} }),
        setPolicy: (policy, p) => {
          calls.push(`policy:${JSON.stringify(policy)}:${textOf(p)}`);
          return Promise.resolve();
        },
      },
    );
    const app = renderApp(backend);
    await tick();
    expect(app.lastFrame()).toContain('There is no vault');
    await app.keys(ENTER);
    await app.keys('short');
    expect(app.lastFrame()).toContain('•••••');
    expect(app.lastFrame()).toContain('strength: weak');
    await app.keys(`${'\u007f'.repeat(5)}${PASS}`);
    expect(app.lastFrame()).toContain('strength: strong');
    await app.keys(ENTER);
    await app.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(app.lastFrame()).toContain('unlocked');
    await app.keys('a');
    await app.keys(`API_KEY${ENTER}`);
    await app.keys(`${CANARY}${ENTER}`);
    await tick(30);
    expect(app.lastFrame()).toContain('API_KEY');
    await app.keys('n');
    await tick(30);
    expect(app.lastFrame()).toContain('claude');
    await app.keys(ENTER);
    await app.keys(ENTER); // task name "deploy"
    await app.keys(`curl${ENTER}`);
    await tick(30);
    expect(app.lastFrame()).toContain('cr exec deploy -- curl');
    expect(calls).toEqual([
      `create:${PASS}`,
      `unlock:${PASS}`,
      `set:API_KEY:${CANARY}:${PASS}`,
      expect.stringMatching(/^policy:.*"deploy".*"\/usr\/bin\/curl".*"\/usr\/bin\/claude".*correct horse/u),
    ]);
    // Neither a value nor the passphrase ever reached Ink or a frame.
    expect(app.seen()).not.toContain(CANARY);
    expect(app.seen()).not.toContain(PASS);
    await app.keys(ENTER);
    expect(app.lastFrame()).toContain('Dashboard');
  });

  it('should start over when the two passphrases differ', async () => {
    const backend = fakeBackend({ vaultExists: () => false, passphraseWarnings: () => [] });
    const app = renderApp(backend);
    await app.keys(ENTER);
    await app.keys(`one-passphrase${ENTER}`);
    await app.keys(`another-passphrase${ENTER}`);
    expect(app.lastFrame()).toContain('the two passphrases differ');
    expect(app.lastFrame()).toContain('New passphrase:');
    expect(app.seen()).not.toContain('passphrase-');
  });
});

describe('App: dashboard', () => {
  it('should show the state and unlock with a masked passphrase', async () => {
    let state: 'locked' | 'unlocked' = 'locked';
    const got: string[] = [];
    const app = renderApp(
      fakeBackend(
        {},
        {
          status: () =>
            Promise.resolve({
              state,
              secrets: 3,
              pid: 99,
              socket: '/s',
              idleDeadline: state === 'locked' ? null : new Date(Date.now() + 65_000).toISOString(),
              version: '0.1.0',
            }),
          unlock: (p) => {
            got.push(textOf(p));
            state = 'unlocked';
            return Promise.resolve({ state: 'unlocked', secrets: 3 });
          },
          lock: () => {
            state = 'locked';
            got.push('lock');
            return Promise.resolve();
          },
        },
      ),
    );
    await tick(30);
    expect(app.lastFrame()).toContain('○ locked');
    expect(app.lastFrame()).toContain('/home/u/.cora/vault.cora');
    await app.keys('u');
    await app.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(app.lastFrame()).toContain('● unlocked');
    expect(app.lastFrame()).toMatch(/idle lock in\s+01:0\d/u);
    await app.keys('l');
    expect(app.lastFrame()).toContain('Lock now?');
    await app.keys('y');
    await tick(30);
    expect(got).toEqual([PASS, 'lock']);
    expect(app.seen()).not.toContain(PASS);
  });

  it('should show help on ? and switch views with number keys and quit on q', async () => {
    const app = renderApp(fakeBackend({}, unlocked));
    await tick();
    await app.keys('?');
    expect(app.lastFrame()).toContain('Keys — Dashboard');
    await app.keys('x');
    await app.keys('q');
    expect(app.exits).toEqual([0]);
  });

  it('should draw a compact layout below 72×20 and no colour codes under NO_COLOR', async () => {
    const app = renderApp(fakeBackend({}, unlocked), { columns: 60, rows: 18, color: false });
    await tick(30);
    expect(app.lastFrame()).toContain('1 Dash');
    expect(app.lastFrame()).not.toContain('Dashboard');
    expect(app.frames.join('')).not.toMatch(new RegExp(`${ESC}\\[3\\dm`, 'u'));
  });
});

/** An audit log holding one injection of GH_TOKEN (for the last-used column). */
async function* injections(): AsyncIterable<AuditRecordLike> {
  await Promise.resolve();
  yield { seq: 1, time: '2026-11-03T09:30:00.000Z', type: 'task-start', task: 'gh' };
  yield {
    seq: 2,
    time: '2026-11-03T09:31:00.000Z',
    type: 'secret-injected',
    task: 'gh',
    secrets: ['GH_TOKEN'],
  } as AuditRecordLike;
}

describe('App: secrets', () => {
  it('should add a secret asking the value and the passphrase masked, and delete one', async () => {
    const got: string[] = [];
    const app = renderApp(
      fakeBackend(
        { readAudit: () => injections() },
        {
          listSecrets: () =>
            Promise.resolve([
              { name: 'GH_TOKEN', created: '2026-11-01T10:00:00.000Z', updated: '2026-11-02T10:00:00.000Z' },
            ]),
          setSecret: (name, value, p) => {
            got.push(`${name}=${textOf(value)}/${textOf(p)}`);
            return Promise.resolve({ name, replaced: false });
          },
          deleteSecret: (name, p) => {
            got.push(`rm ${name}/${textOf(p)}`);
            return Promise.resolve();
          },
          ...unlocked,
        },
      ),
    );
    await app.keys('2');
    await tick(30);
    expect(app.lastFrame()).toContain('GH_TOKEN');
    // Last used comes from the audit log's secret-injected records.
    expect(app.lastFrame()).toMatch(/GH_TOKEN .*2026-11-03 09:31/);
    await app.keys('a');
    await app.keys(`NEW_ONE${ENTER}`);
    await app.keys(`${CANARY}${ENTER}`);
    expect(app.lastFrame()).toContain('Passphrase to store NEW_ONE');
    await app.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(app.lastFrame()).toContain('Stored NEW_ONE.');
    await app.keys('d');
    await app.keys('y');
    await app.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(got).toEqual([`NEW_ONE=${CANARY}/${PASS}`, `rm GH_TOKEN/${PASS}`]);
    expect(app.seen()).not.toContain(CANARY);
    expect(app.seen()).not.toContain(PASS);
  });

  it('should wipe a typed value when its passphrase prompt is cancelled', async () => {
    const values: SecretBuf[] = [];
    const app = renderApp(
      fakeBackend({ readAudit: () => injections() }, { listSecrets: () => Promise.resolve([]), ...unlocked }),
    );
    await app.keys('2');
    // Catch the SecretBuf the field hands over by observing the router.
    const capture = app.router.capture.bind(app.router);
    app.router.capture = (max, handlers) =>
      capture(max, {
        ...handlers,
        onSubmit: (v) => {
          values.push(v);
          handlers.onSubmit(v);
        },
      });
    await app.keys('a');
    await app.keys(`X${ENTER}`);
    await app.keys(`${CANARY}${ENTER}`);
    await app.keys(ESC);
    expect(values[0]?.wiped).toBe(true);
    expect(app.lastFrame()).toContain('cancelled');
  });
});

describe('App: tasks', () => {
  it('should list tasks and explain a command line', async () => {
    const app = renderApp(
      fakeBackend(
        {},
        {
          ...unlocked,
          getPolicy: () =>
            Promise.resolve({
              version: 1,
              callers: [{ exe: '/usr/bin/claude' }],
              tasks: {
                deploy: { secrets: ['K'], targets: ['/usr/bin/curl'], approve: 'once', output: 'masked' },
              },
            }),
          explain: (task, argv, caller) =>
            Promise.resolve({
              steps: [
                { step: 'caller', ok: true, detail: `caller ${caller ?? 'cr'}` },
                { step: 'target', ok: false, detail: `${argv[0] ?? ''} is not a target of ${task}` },
              ],
              outcome: 'deny' as const,
              reason: 'TARGET_NOT_ALLOWED',
            }),
        },
      ),
    );
    await app.keys('3');
    await tick(30);
    expect(app.lastFrame()).toContain('deploy');
    expect(app.lastFrame()).toContain('/usr/bin/claude');
    await app.keys('e');
    await app.keys(`wget x${ENTER}`);
    await app.keys(`/usr/bin/claude${ENTER}`);
    await tick(30);
    expect(app.lastFrame()).toContain('deny');
    expect(app.lastFrame()).toContain('✗ target: wget is not a target of deploy');
  });

  it('should look a bare caller name up on PATH, and refuse an unknown one without asking the service', async () => {
    const asked: (string | undefined)[] = [];
    const app = renderApp(
      fakeBackend(
        { resolveCommand: (c: string) => (c === 'claude' ? '/opt/claude/bin/claude' : null) },
        {
          ...unlocked,
          getPolicy: () =>
            Promise.resolve({
              version: 1,
              callers: [],
              tasks: { deploy: { secrets: ['K'], targets: ['/usr/bin/curl'] } },
            }),
          explain: (_task, _argv, caller) => {
            asked.push(caller);
            return Promise.resolve({
              steps: [{ step: 'caller', ok: true, detail: `caller ${caller ?? 'cr'}` }],
              outcome: 'allow' as const,
              reason: 'allowed',
            });
          },
        },
      ),
    );
    await app.keys('3');
    await tick(30);
    await app.keys('e');
    await app.keys(`curl x${ENTER}`);
    await app.keys(`nosuchagent${ENTER}`);
    expect(app.lastFrame()).toContain('nosuchagent: no executable by that name on PATH');
    expect(asked).toEqual([]);
    await app.keys(ESC);
    await tick(100); // Ink waits briefly after a lone ESC before it reports Escape
    await app.keys('e');
    await app.keys(`curl x${ENTER}`);
    await app.keys(`claude${ENTER}`);
    await tick(30);
    expect(asked).toEqual(['/opt/claude/bin/claude']);
    expect(app.lastFrame()).toContain('caller /opt/claude/bin/claude');
  });
});

describe('App: audit', () => {
  // Records carry more fields than AuditRecordLike names (the detail pane shows them all).
  const records: (AuditRecordLike & Record<string, unknown>)[] = [
    { seq: 1, time: '2026-11-02T10:00:00.000Z', type: 'unlock', caller: { pid: 1, exe: '/usr/bin/node' } },
    {
      seq: 2,
      time: '2026-11-02T10:01:00.000Z',
      type: 'exec',
      task: 'deploy',
      caller: { pid: 2, exe: '/usr/bin/claude' },
      secrets: ['K'],
    },
    { seq: 3, time: '2026-11-02T10:02:00.000Z', type: 'lock' },
  ];
  it('should list, filter, open the detail pane and show the verify status', async () => {
    const app = renderApp(
      fakeBackend(
        {
          readAudit: async function* () {
            await Promise.resolve();
            yield* records;
          },
        },
        {
          ...unlocked,
          verifyAudit: () =>
            Promise.resolve({
              ok: false,
              records: 3,
              files: ['audit.jsonl'],
              head: null,
              macChecked: true,
              lastSealedSeq: 2,
              unsealed: 1,
              torn: null,
              firstProblem: {
                file: 'audit.jsonl',
                line: 2,
                seq: 2,
                kind: 'HASH_MISMATCH',
                message: 'edited',
              },
            }),
        },
      ),
    );
    await app.keys('4');
    await tick(60);
    expect(app.lastFrame()).toContain('3/3 records');
    await app.keys('/');
    await app.keys(`task:deploy${ENTER}`);
    expect(app.lastFrame()).toContain('1/3 records');
    await app.keys(ENTER);
    expect(app.lastFrame()).toMatch(/secrets\s+\["K"\]/u);
    await app.keys('v');
    await tick(30);
    expect(app.lastFrame()).toContain('chain BROKEN: HASH_MISMATCH at audit.jsonl:2');
  });
});

describe('App: approvals', () => {
  it('should prove the passphrase, ring on a request, and decide allow-once', async () => {
    let handlers: ApprovalHandlers = {};
    const decided: string[] = [];
    const passes: string[] = [];
    let end: (r: ApproveResult) => void = () => undefined;
    const service: Partial<TuiService> = {
      ...unlocked,
      approve: (p, h) => {
        passes.push(textOf(p));
        handlers = h;
        return {
          done: new Promise((r) => {
            end = r;
          }),
          decide: (id, d) => {
            decided.push(`${String(id)}:${d}`);
            return Promise.resolve();
          },
        };
      },
    };
    const app = renderApp(fakeBackend({}, service));
    await app.keys('5');
    await app.keys(ENTER);
    await app.keys(`${PASS}${ENTER}`);
    await tick(30);
    handlers.onReady?.();
    const info: ApprovalInfo = {
      id: 7,
      task: 'deploy',
      target: '/usr/bin/curl',
      argv: ['curl', 'https://x'],
      cwd: '/home/u/p',
      secrets: ['K'],
      caller: { pid: 10, exe: '/usr/bin/node', script: '/home/u/agent.js' },
      ancestry: [{ pid: 9, exe: '/usr/bin/claude' }],
      window: null,
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    };
    handlers.onPending?.(info);
    await tick(30);
    expect(app.bells()).toBe(1);
    expect(app.lastFrame()).toContain('#7 deploy');
    expect(app.lastFrame()).toContain('/usr/bin/claude[9]');
    await app.keys('w');
    expect(app.lastFrame()).toContain('offers allow-once only');
    await app.keys('o');
    handlers.onResolved?.({ id: 7, outcome: 'granted' });
    await tick(30);
    expect(decided).toEqual(['7:allow-once']);
    expect(app.lastFrame()).toContain('#7 deploy /usr/bin/curl: granted');
    end({ ended: 'locked' });
    await tick(30);
    expect(app.lastFrame()).toContain('the service locked');
    expect(passes).toEqual([PASS]);
    expect(app.seen()).not.toContain(PASS);
  });
});

describe('App: strict fakes', () => {
  it('should surface a service error as a message, not crash', async () => {
    const app = renderApp(
      fakeBackend({ connect: () => Promise.reject(new Error('the service did not start')) }),
    );
    await tick(30);
    expect(app.lastFrame()).toContain('the service did not start');
    await app.keys(DOWN);
  });
});

describe('matchesFilter', () => {
  const record = {
    seq: 4,
    time: '2026-11-02T10:00:00.000Z',
    type: 'task-start',
    task: 'deploy',
    caller: { pid: 3, exe: '/usr/bin/claude' },
  };
  it('should match typed terms on their field only, and bare words on type, task or caller', () => {
    expect(matchesFilter(record, '')).toBe(true);
    expect(matchesFilter(record, 'type:task')).toBe(true);
    expect(matchesFilter(record, 'type:deploy')).toBe(false);
    expect(matchesFilter(record, 'task:DEP caller:claude')).toBe(true);
    expect(matchesFilter(record, 'task:dep caller:node')).toBe(false);
    expect(matchesFilter(record, 'claude')).toBe(true);
    expect(matchesFilter({ seq: 1, time: record.time, type: 'lock' }, 'caller:x')).toBe(false);
  });
});
