// SPDX-License-Identifier: AGPL-3.0-only
// Over 500 lines on purpose: the setup is one flow of several steps, each test drives it from the
// start through the same rendered screen and fake backend.
// The setup as the user meets it: what is drawn, what reaches the service, what is wiped.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { SecretBuf } from '@cora/memstore';
import { Onboarding } from '../../src/internal/screens/onboarding/view.tsx';
import type { AgentBinary, DotenvImport, TuiBackend, TuiService } from '../../src/types.ts';
import {
  BACKSPACE,
  CANARY,
  catchSubmits,
  DOWN,
  ENTER,
  escape,
  fakeBackend,
  fakeService,
  PASS,
  renderScreen,
  secret,
  textOf,
  tick,
} from '../harness.tsx';

afterEach(() => {
  cleanup();
});

const CLAUDE: AgentBinary = { name: 'claude', path: '/usr/bin/claude' };

/** What the fake service's explain answers: the task waits for an approval. */
const EXPLAINED = {
  steps: [
    { step: 'via', ok: true, detail: "/usr/bin/claude found in the caller's ancestry" },
    { step: 'decision', ok: true, detail: 'task deploy needs approval' },
  ],
  outcome: 'needs-approval',
  reason: 'APPROVAL_REQUIRED',
} as const;

interface Setup {
  readonly calls: string[];
  readonly connects: () => number;
  readonly done: () => number;
  readonly quits: () => number;
  readonly screen: ReturnType<typeof renderScreen>;
}

/** The setup over a fake service that records every request (passphrase and value bytes included). */
function setup(backend: Partial<TuiBackend> = {}, service: Partial<TuiService> = {}): Setup {
  const calls: string[] = [];
  let connects = 0;
  let done = 0;
  let quits = 0;
  let vault = false;
  const fake = fakeBackend({
    vaultExists: () => vault,
    passphraseWarnings: (p: SecretBuf) => (p.length < 12 ? ['short', 'few kinds'] : []),
    connect: () => {
      connects += 1;
      return Promise.resolve(
        fakeService({
          init: (p, by) => {
            calls.push(`init:${by}:${textOf(p)}`);
            vault = true;
            return Promise.resolve({ created: true, generation: 1 });
          },
          unlock: (p) => {
            calls.push(`unlock:${textOf(p)}`);
            return Promise.resolve({ state: 'unlocked', secrets: 0 });
          },
          setSecret: (name, value, p) => {
            calls.push(`set:${name}:${textOf(value)}:${textOf(p)}`);
            return Promise.resolve({ name, replaced: false });
          },
          importSecrets: (names, values, p) => {
            calls.push(`import:${names.join(',')}:${values.map(textOf).join(',')}:${textOf(p)}`);
            return Promise.resolve({ created: [...names], replaced: [] });
          },
          getPolicy: () => Promise.resolve({ version: 1, callers: [], tasks: {} }),
          setPolicy: (policy, p, options) => {
            calls.push(`policy:${JSON.stringify(policy)}:${JSON.stringify(options)}:${textOf(p)}`);
            return Promise.resolve();
          },
          explain: (task, argv, as) => {
            calls.push(`explain:${task}:${argv.join(' ')}:${JSON.stringify(as)}`);
            return Promise.resolve(EXPLAINED);
          },
          ...service,
        }),
      );
    },
    findAgents: () => Promise.resolve([CLAUDE]),
    resolveCommand: (c: string) => (c === 'curl' || c === 'npm' ? `/usr/bin/${c}` : null),
    checkTarget: (t: string) =>
      t === '/usr/bin/npm'
        ? { runsCallersCode: true, warnings: ['/usr/bin/npm runs whatever code its caller passes'] }
        : { runsCallersCode: false, warnings: [] },
    ...backend,
  });
  const screen = renderScreen(
    <Onboarding
      onDone={() => {
        done += 1;
      }}
      onQuit={() => {
        quits += 1;
      }}
    />,
    fake,
  );
  return { calls, connects: () => connects, done: () => done, quits: () => quits, screen };
}

/** Through the passphrase prompts to the secrets step. */
async function toSecrets(s: Setup): Promise<void> {
  await s.screen.keys(ENTER);
  await s.screen.keys(`${PASS}${ENTER}`);
  await s.screen.keys(`${PASS}${ENTER}`);
  await tick(30);
  expect(s.screen.frame()).toContain('Secrets so far');
}

/** Through a stored secret K and the agent and task name offered, to the command prompt. */
async function toTaskCommand(s: Setup): Promise<void> {
  await toSecrets(s);
  await s.screen.keys('a');
  await s.screen.keys(`K${ENTER}`);
  await s.screen.keys(`${CANARY}${ENTER}`);
  await tick(30);
  await s.screen.keys('n');
  await tick(30);
  await s.screen.keys(ENTER);
  await s.screen.keys(ENTER);
  await s.screen.keys(' ');
  await s.screen.keys(ENTER);
  expect(s.screen.frame()).toContain('Command deploy may run with K:');
}

/** A parsed .env file with these names (values `v-NAME`). */
function dotenv(names: readonly string[], problems: readonly string[] = []): DotenvImport {
  return { names, values: names.map((n) => secret(`v-${n}`)), problems };
}

describe('Onboarding view', () => {
  it('should create the vault from two masked entries, store a secret and end with the cr exec line', async () => {
    const s = setup();
    const app = s.screen;
    await tick();
    expect(app.frame()).toContain('There is no vault at /home/u/.cora/vault.cora yet.');
    expect(app.frame()).toContain('Ctrl-C quits · q quits');
    await app.keys(ENTER);
    await app.keys('short');
    expect(app.frame()).toContain('•••••');
    expect(app.frame()).toContain('strength: weak');
    await app.keys(`${BACKSPACE.repeat(5)}${PASS}`);
    expect(app.frame()).toContain('strength: strong');
    await app.keys(ENTER);
    expect(app.frame()).toContain('Repeat the passphrase:');
    await app.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(app.frame()).toContain('Vault created at /home/u/.cora/vault.cora and unlocked.');
    expect(app.frame()).toContain('Secrets so far: none');
    await app.keys('a');
    await app.keys(`API_KEY${ENTER}`);
    expect(app.frame()).toContain('Value for API_KEY (hidden):');
    await app.keys(`${CANARY}${ENTER}`);
    await tick(30);
    expect(app.frame()).toContain('Stored API_KEY.');
    expect(app.frame()).toContain('Secrets so far: API_KEY');
    await app.keys('n');
    await tick(30);
    expect(app.frame()).toContain('claude /usr/bin/claude');
    await app.keys(ENTER);
    expect(app.frame()).toContain('Name of the task claude will run: deploy');
    await app.keys(ENTER);
    expect(app.frame()).toContain('[ ] API_KEY');
    await app.keys(' ');
    expect(app.frame()).toContain('[x] API_KEY');
    await app.keys(ENTER);
    expect(app.frame()).toContain('Command deploy may run with API_KEY:');
    expect(app.frame()).not.toContain('npm');
    await app.keys(`curl${ENTER}`);
    expect(app.frame()).toContain('When claude runs task deploy, ask you first?');
    await app.keys(ENTER);
    await tick(30);
    expect(app.frame()).toContain('✓ via: /usr/bin/claude found in the caller');
    expect(app.frame()).toContain('→ needs-approval (APPROVAL_REQUIRED): it runs once you approve it');
    expect(app.frame()).toContain('Cora is set up.');
    expect(app.frame()).toContain('Tell your agent to run: cr exec deploy -- curl …');
    expect(s.calls).toEqual([
      `init:tui:${PASS}`,
      `unlock:${PASS}`,
      `set:API_KEY:${CANARY}:${PASS}`,
      expect.stringMatching(
        /^policy:.*"deploy".*"\/usr\/bin\/curl".*"\/usr\/bin\/claude".*"window:15m".*:\{\}:correct horse/u,
      ),
      'explain:deploy:/usr/bin/curl:{"under":"/usr/bin/claude"}',
    ]);
    // Every request went over one connection, made when the vault was created.
    expect(s.connects()).toBe(1);
    expect(app.seen()).not.toContain(CANARY);
    expect(app.seen()).not.toContain(PASS);
    await app.keys(ENTER);
    expect(s.done()).toBe(1);
  });

  it('should wipe the setup passphrase when the setup ends', async () => {
    const s = setup({ findAgents: () => Promise.resolve([]) });
    const submitted = catchSubmits(s.screen.router);
    await toSecrets(s);
    const [first, second] = submitted;
    expect(second?.wiped).toBe(true); // the repeat is compared, never kept
    expect(first?.wiped).toBe(false); // held for the next writes
    await s.screen.keys('n');
    await tick(30);
    await s.screen.keys('s');
    expect(s.screen.frame()).toContain(
      'Add a task later with: cr policy task add NAME --target PATH SECRETS…',
    );
    await s.screen.keys(ENTER);
    expect(first?.wiped).toBe(true);
    expect(s.done()).toBe(1);
  });

  it('should wipe the setup passphrase when the setup is left midway', async () => {
    const s = setup();
    const submitted = catchSubmits(s.screen.router);
    await toSecrets(s);
    s.screen.unmount();
    expect(submitted.every((b) => b.wiped)).toBe(true);
  });

  it('should start over when the two passphrases differ, sending nothing', async () => {
    const s = setup();
    const submitted = catchSubmits(s.screen.router);
    await s.screen.keys(ENTER);
    await s.screen.keys(`one-passphrase${ENTER}`);
    await s.screen.keys(`another-passphrase${ENTER}`);
    expect(s.screen.frame()).toContain('the two passphrases differ; type it again');
    expect(s.screen.frame()).toContain('New passphrase:');
    expect(submitted.map((b) => b.wiped)).toEqual([true, true]);
    expect(s.calls).toEqual([]);
    expect(s.connects()).toBe(0);
    expect(s.screen.seen()).not.toContain('passphrase-');
  });

  it('should refuse an empty passphrase and capture the next one masked', async () => {
    const s = setup();
    await s.screen.keys(ENTER);
    await s.screen.keys(ENTER);
    expect(s.screen.frame()).toContain('the passphrase is empty');
    // The prompt is a new field: what is typed next is captured, not handed to Ink.
    await s.screen.keys(PASS);
    expect(s.screen.frame()).toContain('•'.repeat(PASS.length));
    await s.screen.keys(ENTER);
    expect(s.screen.frame()).toContain('Repeat the passphrase:');
    expect(s.screen.seen()).not.toContain(PASS);
  });

  it('should warn about a weak passphrase in words, never quoting it', async () => {
    const s = setup();
    await s.screen.keys(ENTER);
    await s.screen.keys(`tiny${ENTER}`);
    expect(s.screen.frame()).toContain('warning: weak passphrase: short; few kinds');
    expect(s.screen.frame()).toContain('Repeat the passphrase:');
    expect(s.screen.seen()).not.toContain('tiny');
  });

  it('should go back to the intro on Esc, and say when the passphrase is too long', async () => {
    const s = setup({ maxPassphraseBytes: 8 });
    await s.screen.keys(ENTER);
    await escape(s.screen);
    expect(s.screen.frame()).toContain('cancelled');
    expect(s.screen.frame()).toContain('Press Enter to create one.');
    await s.screen.keys(ENTER);
    await s.screen.keys(`123456789${ENTER}`);
    expect(s.screen.frame()).toContain('too long');
    expect(s.screen.frame()).toContain('There is no vault');
  });

  it('should let go of the first entry when the second prompt is left', async () => {
    const s = setup();
    const submitted = catchSubmits(s.screen.router);
    await s.screen.keys(ENTER);
    await s.screen.keys(`${PASS}${ENTER}`);
    await escape(s.screen);
    expect(s.screen.frame()).toContain('New passphrase:');
    expect(s.screen.frame()).toContain('cancelled');
    expect(submitted[0]?.wiped).toBe(true);
  });

  it('should say why the vault was not created and ask again', async () => {
    const s = setup(
      {},
      { init: () => Promise.reject(Object.assign(new Error('disk full'), { code: 'DISK_FULL' })) },
    );
    const submitted = catchSubmits(s.screen.router);
    await s.screen.keys(ENTER);
    await s.screen.keys(`${PASS}${ENTER}`);
    await s.screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(s.screen.frame()).toContain('disk full (DISK_FULL)');
    expect(s.screen.frame()).toContain('New passphrase:');
    expect(submitted.every((b) => b.wiped)).toBe(true);
  });

  it('should end the setup when the vault was created but unlocking failed', async () => {
    const s = setup({}, { unlock: () => Promise.reject(new Error('the service did not start')) });
    await s.screen.keys(ENTER);
    await s.screen.keys(`${PASS}${ENTER}`);
    await s.screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(s.screen.frame()).toContain('the service did not start');
    expect(s.screen.frame()).toContain('Cora is set up.');
    expect(s.calls).toEqual([`init:tui:${PASS}`]);
  });

  it('should refuse a secret name the vault refuses, and keep what was typed', async () => {
    const s = setup();
    await toSecrets(s);
    await s.screen.keys('a');
    await s.screen.keys(`9LIVES${ENTER}`);
    expect(s.screen.frame()).toContain(`'9LIVES' is not a valid name: use [A-Za-z_][A-Za-z0-9_]*`);
    expect(s.screen.frame()).toContain('Secret name (e.g. OPENAI_API_KEY): 9LIVES');
    await s.screen.keys(`${BACKSPACE.repeat(6)}LIVES${ENTER}`);
    expect(s.screen.frame()).toContain('Value for LIVES (hidden):');
  });

  it('should go back to the secrets step when a name or value prompt is left', async () => {
    const s = setup();
    const submitted = catchSubmits(s.screen.router);
    await toSecrets(s);
    await s.screen.keys('a');
    await escape(s.screen);
    expect(s.screen.frame()).toContain('Secrets so far: none');
    await s.screen.keys('a');
    await s.screen.keys(`K${ENTER}`);
    await s.screen.keys(CANARY);
    await escape(s.screen);
    expect(s.screen.frame()).toContain('cancelled');
    expect(s.calls).toEqual([`init:tui:${PASS}`, `unlock:${PASS}`]);
    expect(submitted).toHaveLength(2); // the two passphrase entries: the value was never submitted
    expect(s.screen.seen()).not.toContain(CANARY);
  });

  it('should say why a secret was not stored, and wipe its value', async () => {
    const s = setup({}, { setSecret: () => Promise.reject(new Error('value too large')) });
    const submitted = catchSubmits(s.screen.router);
    await toSecrets(s);
    await s.screen.keys('a');
    await s.screen.keys(`K${ENTER}`);
    await s.screen.keys(`${CANARY}${ENTER}`);
    await tick(30);
    expect(s.screen.frame()).toContain('value too large');
    expect(s.screen.frame()).toContain('Secrets so far: none');
    expect(submitted[2]?.wiped).toBe(true);
  });

  it('should import a .env file after a preview of its names, then wipe its values', async () => {
    const parsed = dotenv(['A', 'B']);
    const s = setup({ readDotenv: (file) => Promise.resolve(file === '/p/.env' ? parsed : dotenv([])) });
    await toSecrets(s);
    await s.screen.keys('i');
    await s.screen.keys(`/p/.env${ENTER}`);
    await tick();
    expect(s.screen.frame()).toContain('2 secret(s): A, B');
    expect(s.screen.frame()).toContain('Import them? [y/n]');
    await s.screen.keys('y');
    await tick(30);
    expect(s.screen.frame()).toContain('Imported A, B.');
    expect(s.screen.frame()).toContain('Secrets so far: A, B');
    expect(s.calls.at(-1)).toBe(`import:A,B:v-A,v-B:${PASS}`);
    expect(parsed.values.every((v) => v.wiped)).toBe(true);
  });

  it('should not import a file with problems, and wipe what it read', async () => {
    const parsed = dotenv(['A'], ['/p/.env:2: MISSING_EQUALS']);
    const s = setup({ readDotenv: () => Promise.resolve(parsed) });
    await toSecrets(s);
    await s.screen.keys('i');
    await s.screen.keys(`/p/.env${ENTER}`);
    await tick();
    expect(s.screen.frame()).toContain('/p/.env:2: MISSING_EQUALS');
    expect(s.screen.frame()).toContain('Nothing can be imported. Back? [y/n]');
    await s.screen.keys('y');
    expect(s.screen.frame()).toContain('Secrets so far: none');
    expect(parsed.values[0]?.wiped).toBe(true);
    expect(s.calls.some((c) => c.startsWith('import'))).toBe(false);
  });

  it('should wipe a previewed file when the import is declined', async () => {
    const parsed = dotenv(['A']);
    const s = setup({ readDotenv: () => Promise.resolve(parsed) });
    await toSecrets(s);
    await s.screen.keys('i');
    await s.screen.keys(`/p/.env${ENTER}`);
    await tick();
    await s.screen.keys('n');
    expect(parsed.values[0]?.wiped).toBe(true);
    expect(s.screen.frame()).toContain('Secrets so far: none');
  });

  it('should say why a .env file could not be read', async () => {
    const s = setup({ readDotenv: () => Promise.reject(new Error('/p/.env: no such file')) });
    await toSecrets(s);
    await s.screen.keys('i');
    await s.screen.keys(`/p/.env${ENTER}`);
    await tick();
    expect(s.screen.frame()).toContain('/p/.env: no such file');
    expect(s.screen.frame()).toContain('Secrets so far: none');
  });

  it('should offer to skip when no agent is found, and end without a task', async () => {
    const s = setup({ findAgents: () => Promise.reject(new Error('PATH unreadable')) });
    await toSecrets(s);
    await s.screen.keys(ENTER);
    await tick(30);
    expect(s.screen.frame()).toContain('No agent binaries found on PATH');
    await s.screen.keys('s');
    expect(s.screen.frame()).toContain('Add a task later with');
  });

  it('should pick the agent under the cursor', async () => {
    const s = setup({
      findAgents: () => Promise.resolve([CLAUDE, { name: 'codex', path: '/opt/codex/bin/codex' }]),
    });
    await toSecrets(s);
    await s.screen.keys('n');
    await tick(30);
    await s.screen.keys(DOWN);
    await s.screen.keys(DOWN); // stays on the last
    await s.screen.keys(ENTER);
    expect(s.screen.frame()).toContain('Name of the task codex will run:');
  });

  it('should refuse a task name the policy refuses, before asking for the command', async () => {
    const s = setup();
    await toSecrets(s);
    await s.screen.keys('n');
    await tick(30);
    await s.screen.keys(ENTER);
    // The offered name, replaced: a leading '-' would read as an option of cr exec.
    await s.screen.keys(`${BACKSPACE.repeat(6)}-rf${ENTER}`);
    expect(s.screen.frame()).toContain(
      'a task name is a letter or digit, then letters, digits, _ . - (at most 64)',
    );
    expect(s.screen.frame()).toContain('Name of the task claude will run: -rf');
    await s.screen.keys(`${BACKSPACE.repeat(3)}.env${ENTER}`);
    expect(s.screen.frame()).toContain('a task name is a letter or digit');
    await s.screen.keys(`${BACKSPACE.repeat(4)}web-1${ENTER}`);
    // A valid name; with no secret stored there is nothing the task could be given.
    expect(s.screen.frame()).toContain('no secret is stored yet, so there is no task to add');
  });

  it('should refuse a command that is not on PATH without asking the service', async () => {
    const s = setup();
    await toTaskCommand(s);
    await s.screen.keys(`wget -q${ENTER}`);
    expect(s.screen.frame()).toContain('wget -q: no executable by that name on PATH');
    expect(s.calls.some((c) => c.startsWith('policy'))).toBe(false);
  });

  it('should keep the command prompt when the task cannot be added, saying why', async () => {
    const s = setup(
      {},
      {
        setPolicy: () =>
          Promise.reject(Object.assign(new Error('wrong passphrase'), { code: 'AUTH_FAILED' })),
      },
    );
    await toTaskCommand(s);
    await s.screen.keys(`curl${ENTER}`);
    await s.screen.keys(ENTER);
    await tick(30);
    expect(s.screen.frame()).toContain('wrong passphrase (AUTH_FAILED)');
    expect(s.screen.frame()).toContain('When claude runs task deploy, ask you first?');
  });

  it('should give the task only the secrets picked, none preselected', async () => {
    const s = setup();
    await toSecrets(s);
    for (const name of ['A', 'B', 'C']) {
      await s.screen.keys('a');
      await s.screen.keys(`${name}${ENTER}`);
      await s.screen.keys(`${CANARY}${ENTER}`);
      await tick(30);
    }
    await s.screen.keys('n');
    await tick(30);
    await s.screen.keys(ENTER);
    await s.screen.keys(ENTER);
    // Enter with nothing picked adds nothing.
    await s.screen.keys(ENTER);
    expect(s.screen.frame()).toContain('pick at least one secret with Space');
    await s.screen.keys(DOWN);
    await s.screen.keys(' ');
    await s.screen.keys(ENTER);
    expect(s.screen.frame()).toContain('Command deploy may run with B:');
    await s.screen.keys(`curl${ENTER}`);
    // The approval list: down to `session`.
    await s.screen.keys(DOWN);
    await s.screen.keys(DOWN);
    await s.screen.keys(ENTER);
    await tick(30);
    const policy = s.calls.find((c) => c.startsWith('policy:')) ?? '';
    expect(policy).toContain('"secrets":["B"]');
    expect(policy).toContain('"approve":"session"');
  });

  it("should warn about a target that runs the caller's code, and send the flag only when accepted", async () => {
    const s = setup();
    await toTaskCommand(s);
    await s.screen.keys(`npm${ENTER}`);
    expect(s.screen.frame()).toContain('warning: /usr/bin/npm runs whatever code its caller passes');
    expect(s.screen.frame()).toContain('Let deploy run /usr/bin/npm anyway?');
    await s.screen.keys('n');
    expect(s.screen.frame()).toContain('pick another command');
    expect(s.screen.frame()).toContain('Command deploy may run with K:');
    await s.screen.keys(`npm${ENTER}`);
    await s.screen.keys('y');
    expect(s.screen.frame()).toContain('When claude runs task deploy, ask you first?');
    await s.screen.keys(ENTER);
    await tick(30);
    expect(s.calls.find((c) => c.startsWith('policy:'))).toMatch(
      /"\/usr\/bin\/npm".*:\{"allowInterpreterTargets":true\}:/u,
    );
    expect(s.screen.frame()).toContain('Tell your agent to run: cr exec deploy -- npm …');
  });

  it('should end without a task when the task prompts are left', async () => {
    const s = setup();
    await toSecrets(s);
    await s.screen.keys('n');
    await tick(30);
    await s.screen.keys(ENTER);
    await escape(s.screen);
    expect(s.screen.frame()).toContain('Add a task later with');
  });

  it('should quit on q at the intro, and only there', async () => {
    const s = setup();
    await s.screen.keys('q');
    expect(s.quits()).toBe(1);
    await s.screen.keys(ENTER);
    await s.screen.keys(`q${ENTER}`);
    expect(s.quits()).toBe(1);
    expect(s.screen.frame()).toContain('Repeat the passphrase:');
  });

  it('should let the fields have the keyboard while typing', async () => {
    const s = setup();
    await toSecrets(s);
    expect(s.screen.typing()).toBe(false);
    await s.screen.keys('a');
    expect(s.screen.typing()).toBe(true);
    await escape(s.screen);
    expect(s.screen.typing()).toBe(false);
  });
});

describe('Onboarding without a fake connection', () => {
  it('should report a connection that cannot be made as the reason', async () => {
    const backend = fakeBackend({
      vaultExists: () => false,
      passphraseWarnings: () => [],
      connect: () => Promise.reject(new Error('the service did not start: no space left')),
    });
    const screen = renderScreen(<Onboarding onDone={() => undefined} onQuit={() => undefined} />, backend);
    await screen.keys(ENTER);
    await screen.keys(`${PASS}${ENTER}`);
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('the service did not start: no space left');
    expect(screen.frame()).toContain('New passphrase:');
  });
});
