// SPDX-License-Identifier: AGPL-3.0-only
// Over 500 lines on purpose: one reducer's steps in order (passphrase, secrets, first task) and
// which secret bytes each action hands over, checked against the same state builders.
// The setup's reducer, key map and ownership of secret bytes, as pure functions.
import { describe, expect, it } from 'vitest';
import type { SecretBuf } from '@cora/memstore';
import {
  heldByOnboarding,
  initialOnboarding,
  APPROVE_CHOICES,
  ONBOARDING,
  onboardingKey,
  readsKeys,
  reduceOnboarding,
  type OnboardingAction,
  type OnboardingState,
  type Step,
  type TaskDraft,
} from '../../src/internal/screens/onboarding/state.ts';
import type { AgentBinary, DotenvImport } from '../../src/types.ts';
import { KEY, wipedAfterEach } from '../harness.tsx';

/** Test SecretBufs, wiped after each test. */
const buf = wipedAfterEach();

const CLAUDE: AgentBinary = { name: 'claude', path: '/usr/bin/claude' };

/** Apply `actions` in order from the initial state. */
function run(...actions: OnboardingAction[]): OnboardingState {
  return actions.reduce(reduceOnboarding, initialOnboarding());
}

/** A state at `step`, holding `passphrase`. */
function at(step: Step, passphrase: SecretBuf | null = null, added: readonly string[] = []): OnboardingState {
  return { ...initialOnboarding(), step, passphrase, added };
}

function dotenv(names: readonly string[], problems: readonly string[] = []): DotenvImport {
  return { names, values: names.map((n) => buf(n)), problems };
}

const SECRETS: Step = { kind: 'secrets' };

/** A task being put together: two secrets picked, no target yet. */
const DRAFT: TaskDraft = {
  agent: CLAUDE,
  task: 'deploy',
  secrets: ['A', 'B'],
  command: '',
  target: '',
  check: { runsCallersCode: false, warnings: [] },
  allowInterpreter: false,
};

describe('reduceOnboarding: the passphrase', () => {
  it('should start at the intro, holding nothing', () => {
    const state = initialOnboarding();
    expect(state.step).toEqual({ kind: 'intro' });
    expect(heldByOnboarding(state)).toEqual([]);
  });

  it('should ask for the passphrase on start, and only from the intro', () => {
    const state = run({ type: 'start' });
    expect(state.step.kind).toBe('pass1');
    expect(reduceOnboarding(state, { type: 'start' })).toBe(state);
  });

  it('should hold the first entry and ask for it again', () => {
    const p = buf('first passphrase');
    const state = run({ type: 'start' }, { type: 'passphrase', value: p, warnings: [] });
    expect(state.step.kind).toBe('pass2');
    expect(state.passphrase).toBe(p);
    expect(state.note).toBe('');
    expect(heldByOnboarding(state)).toEqual([p]);
  });

  it('should note the warnings of a weak passphrase', () => {
    const state = run(
      { type: 'start' },
      { type: 'passphrase', value: buf('abc'), warnings: ['short', 'one kind'] },
    );
    expect(state.note).toBe('warning: weak passphrase: short; one kind');
  });

  it('should refuse an empty passphrase with a new prompt', () => {
    const before = run({ type: 'start' });
    const state = reduceOnboarding(before, { type: 'passphrase', value: buf(''), warnings: [] });
    expect(state.step.kind).toBe('pass1');
    expect(state.note).toBe('the passphrase is empty');
    expect(state.seq).toBeGreaterThan(before.seq);
    expect(state.passphrase).toBeNull();
  });

  it('should move on when the repeat matches, keeping only the first', () => {
    const first = buf('same passphrase');
    const again = buf('same passphrase');
    const state = run(
      { type: 'start' },
      { type: 'passphrase', value: first, warnings: [] },
      { type: 'repeat', value: again },
    );
    expect(state.step).toMatchObject({
      kind: 'working',
      what: 'creating the vault (Argon2id takes a few seconds)…',
    });
    expect(heldByOnboarding(state)).toEqual([first]);
  });

  it('should let go of both when the repeat differs', () => {
    const state = run(
      { type: 'start' },
      { type: 'passphrase', value: buf('one passphrase'), warnings: [] },
      { type: 'repeat', value: buf('another one') },
    );
    expect(state.step.kind).toBe('pass1');
    expect(state.note).toBe('the two passphrases differ; type it again');
    expect(heldByOnboarding(state)).toEqual([]);
  });

  it('should treat a wiped repeat as different (never compare wiped memory)', () => {
    const again = buf('x');
    again.wipe();
    const state = reduceOnboarding(at({ kind: 'pass2' }, buf('x')), { type: 'repeat', value: again });
    expect(state.step.kind).toBe('pass1');
  });

  it('should ignore a passphrase or a repeat at another step', () => {
    const state = at(SECRETS, buf('p'));
    expect(reduceOnboarding(state, { type: 'passphrase', value: buf('q'), warnings: [] })).toBe(state);
    expect(reduceOnboarding(state, { type: 'repeat', value: buf('q') })).toBe(state);
  });

  it('should show progress while the setup runs, and reach the secrets step', () => {
    const p = buf('pass');
    let state = run(
      { type: 'start' },
      { type: 'passphrase', value: p, warnings: [] },
      { type: 'repeat', value: buf('pass') },
    );
    state = reduceOnboarding(state, { type: 'progress', what: 'unlocking…' });
    expect(state.step).toMatchObject({ kind: 'working', what: 'unlocking…' });
    state = reduceOnboarding(state, { type: 'unlocked' });
    expect(state.step).toEqual(SECRETS);
    expect(state.passphrase).toBe(p);
  });

  it('should ask again after a failed setup when no vault was made, else end', () => {
    const working: Step = { kind: 'working', what: 'x', holding: [], back: { kind: 'pass1' } };
    const retry = reduceOnboarding(at(working, buf('p')), {
      type: 'setup-failed',
      message: 'boom',
      vaultExists: false,
    });
    expect(retry.step.kind).toBe('pass1');
    expect(retry.note).toBe('boom');
    expect(retry.passphrase).toBeNull();
    const end = reduceOnboarding(at(working, buf('p')), {
      type: 'setup-failed',
      message: 'boom',
      vaultExists: true,
    });
    expect(end.step).toEqual({ kind: 'done', task: null, target: null, explain: null });
    expect(end.passphrase).toBeNull();
  });

  it('should ignore outcomes when no request runs', () => {
    const state = at(SECRETS, buf('p'));
    expect(reduceOnboarding(state, { type: 'unlocked' })).toBe(state);
    expect(reduceOnboarding(state, { type: 'setup-failed', message: 'x', vaultExists: false })).toBe(state);
    expect(reduceOnboarding(state, { type: 'progress', what: 'x' })).toBe(state);
    expect(reduceOnboarding(state, { type: 'stored', name: 'A' })).toBe(state);
    expect(reduceOnboarding(state, { type: 'failed', message: 'x' })).toBe(state);
    expect(reduceOnboarding(state, { type: 'imported', names: ['A'] })).toBe(state);
    expect(reduceOnboarding(state, { type: 'agents', agents: [] })).toBe(state);
    expect(reduceOnboarding(state, { type: 'task-added', task: 't', target: 'x', explain: null })).toBe(
      state,
    );
  });
});

describe('reduceOnboarding: cancelling', () => {
  it.each([
    ['pass1', { kind: 'intro' }, 'cancelled'],
    ['secret-value', SECRETS, 'cancelled'],
  ] as const)('should go back from %s, saying so', (kind, back, note) => {
    const step = (kind === 'pass1' ? { kind } : { kind, name: 'A' }) as Step;
    const state = reduceOnboarding(at(step), { type: 'cancel', why: 'cancel' });
    expect(state.step).toEqual(back);
    expect(state.note).toBe(note);
  });

  it('should say "too long" when a field overflowed', () => {
    expect(reduceOnboarding(at({ kind: 'pass1' }), { type: 'cancel', why: 'too-long' }).note).toBe(
      'too long',
    );
  });

  it('should drop the first entry when the repeat is left', () => {
    const state = reduceOnboarding(at({ kind: 'pass2' }, buf('p')), { type: 'cancel', why: 'cancel' });
    expect(state.step.kind).toBe('pass1');
    expect(state.passphrase).toBeNull();
  });

  it('should go back to the secrets step from its prompts, keeping the note', () => {
    for (const step of [{ kind: 'secret-name' }, { kind: 'import-path' }] as const) {
      const state = reduceOnboarding({ ...at(step), note: 'kept' }, { type: 'cancel', why: 'cancel' });
      expect(state.step).toEqual(SECRETS);
      expect(state.note).toBe('kept');
    }
  });

  it('should end without a task from the agent and task steps', () => {
    const steps: Step[] = [
      { kind: 'agents', agents: [CLAUDE], selected: 0 },
      { kind: 'task-name', agent: CLAUDE },
      { kind: 'task-secrets', agent: CLAUDE, task: 'deploy', picked: [], cursor: 0 },
      { kind: 'task-target', draft: DRAFT },
      { kind: 'task-approve', draft: DRAFT, selected: 0 },
    ];
    for (const step of steps) {
      expect(reduceOnboarding(at(step), { type: 'cancel', why: 'cancel' }).step).toEqual({
        kind: 'done',
        task: null,
        target: null,
        explain: null,
      });
    }
  });

  it('should do nothing on steps without a prompt', () => {
    for (const step of [
      { kind: 'intro' },
      SECRETS,
      { kind: 'done', task: null, target: null, explain: null },
    ] as Step[]) {
      const state = at(step);
      expect(reduceOnboarding(state, { type: 'cancel', why: 'cancel' })).toBe(state);
    }
  });
});

describe('reduceOnboarding: secrets', () => {
  it('should open the name prompt, the import prompt, or look for agents', () => {
    expect(reduceOnboarding(at(SECRETS), { type: 'menu', choice: 'add' }).step).toEqual({
      kind: 'secret-name',
    });
    expect(reduceOnboarding(at(SECRETS), { type: 'menu', choice: 'import' }).step).toEqual({
      kind: 'import-path',
    });
    const next = reduceOnboarding({ ...at(SECRETS), note: 'Stored A.' }, { type: 'menu', choice: 'next' });
    expect(next.step).toMatchObject({ kind: 'working', what: 'looking for agents on PATH…' });
    expect(next.note).toBe('');
    const intro = at({ kind: 'intro' });
    expect(reduceOnboarding(intro, { type: 'menu', choice: 'add' })).toBe(intro);
  });

  it('should take a valid secret name and refuse one the vault refuses', () => {
    const ok = reduceOnboarding(at({ kind: 'secret-name' }), { type: 'secret-name', name: 'OPENAI_API_KEY' });
    expect(ok.step).toEqual({ kind: 'secret-value', name: 'OPENAI_API_KEY' });
    for (const name of ['9lives', 'a-b', '', 'x'.repeat(129), 'é']) {
      const state = at({ kind: 'secret-name' });
      const refused = reduceOnboarding(state, { type: 'secret-name', name });
      expect(refused.step).toBe(state.step);
      expect(refused.note).toBe(`'${name}' is not a valid name: use [A-Za-z_][A-Za-z0-9_]*`);
      expect(refused.seq).toBe(state.seq); // the same field: what was typed stays
    }
  });

  it('should hold a value while it is stored, then add its name once', () => {
    const p = buf('p');
    const v = buf('value');
    let state = reduceOnboarding(at({ kind: 'secret-value', name: 'A' }, p, ['A']), {
      type: 'secret-value',
      value: v,
    });
    expect(state.step).toMatchObject({ kind: 'working', what: 'storing A…' });
    expect(heldByOnboarding(state)).toEqual([p, v]);
    state = reduceOnboarding(state, { type: 'stored', name: 'A' });
    expect(state.step).toEqual(SECRETS);
    expect(state.added).toEqual(['A']);
    expect(state.note).toBe('Stored A.');
    expect(heldByOnboarding(state)).toEqual([p]);
  });

  it('should go back to the secrets step when storing fails', () => {
    const working = reduceOnboarding(at({ kind: 'secret-value', name: 'A' }, buf('p')), {
      type: 'secret-value',
      value: buf('v'),
    });
    const state = reduceOnboarding(working, { type: 'failed', message: 'TOO_LARGE' });
    expect(state.step).toEqual(SECRETS);
    expect(state.note).toBe('TOO_LARGE');
    expect(state.added).toEqual([]);
  });

  it('should preview a file it read, then hold its values while they are imported', () => {
    const parsed = dotenv(['A', 'B']);
    const p = buf('p');
    let state = reduceOnboarding(at({ kind: 'import-path' }, p), { type: 'import-read', parsed });
    expect(state.step).toEqual({ kind: 'import-preview', parsed });
    expect(heldByOnboarding(state)).toEqual([p, ...parsed.values]);
    state = reduceOnboarding(state, { type: 'import-answer', yes: true });
    expect(state.step).toMatchObject({ kind: 'working', what: 'importing…' });
    expect(heldByOnboarding(state)).toEqual([p, ...parsed.values]);
    state = reduceOnboarding({ ...state, added: ['B', 'C'] }, { type: 'imported', names: ['A', 'B'] });
    expect(state.added).toEqual(['C', 'A', 'B']);
    expect(state.note).toBe('Imported A, B.');
    expect(heldByOnboarding(state)).toEqual([p]);
  });

  it('should let go of a file declined, or one that cannot be imported', () => {
    const declined = reduceOnboarding(at({ kind: 'import-preview', parsed: dotenv(['A']) }), {
      type: 'import-answer',
      yes: false,
    });
    expect(declined.step).toEqual(SECRETS);
    const broken = reduceOnboarding(at({ kind: 'import-preview', parsed: dotenv(['A'], ['line 2: bad']) }), {
      type: 'import-answer',
      yes: true,
    });
    expect(broken.step).toEqual(SECRETS);
    const empty = reduceOnboarding(at({ kind: 'import-preview', parsed: dotenv([]) }), {
      type: 'import-answer',
      yes: true,
    });
    expect(empty.step).toEqual(SECRETS);
    expect(heldByOnboarding(declined)).toEqual([]);
  });

  it('should say why a file could not be read, and ignore a late read', () => {
    const state = reduceOnboarding(at({ kind: 'import-path' }), {
      type: 'import-unreadable',
      message: 'ENOENT',
    });
    expect(state.step).toEqual(SECRETS);
    expect(state.note).toBe('ENOENT');
    const late = reduceOnboarding(at(SECRETS), { type: 'import-read', parsed: dotenv(['A']) });
    expect(late.step).toEqual(SECRETS);
    expect(heldByOnboarding(late)).toEqual([]);
  });
});

describe('reduceOnboarding: the first task', () => {
  const agents: Step = { kind: 'agents', agents: [CLAUDE, { name: 'codex', path: '/c' }], selected: 0 };

  it('should list the agents found, selecting the first', () => {
    const working: Step = { kind: 'working', what: 'looking', holding: [], back: SECRETS };
    const state = reduceOnboarding(at(working), { type: 'agents', agents: [CLAUDE] });
    expect(state.step).toEqual({ kind: 'agents', agents: [CLAUDE], selected: 0 });
  });

  it('should move the selection within the list, without a new prompt', () => {
    const state = at(agents);
    const down = reduceOnboarding(state, { type: 'select', delta: 1 });
    expect(down.step).toMatchObject({ selected: 1 });
    expect(down.seq).toBe(state.seq);
    expect(reduceOnboarding(down, { type: 'select', delta: 1 }).step).toMatchObject({ selected: 1 });
    expect(reduceOnboarding(state, { type: 'select', delta: -1 }).step).toMatchObject({ selected: 0 });
    const secrets = at(SECRETS);
    expect(reduceOnboarding(secrets, { type: 'select', delta: 1 })).toBe(secrets);
  });

  it('should ask for a task name for the agent picked, or end when there is none', () => {
    const picked = reduceOnboarding(reduceOnboarding(at(agents), { type: 'select', delta: 1 }), {
      type: 'pick',
    });
    expect(picked.step).toEqual({ kind: 'task-name', agent: { name: 'codex', path: '/c' } });
    const none = reduceOnboarding(at({ kind: 'agents', agents: [], selected: 0 }), { type: 'pick' });
    expect(none.step).toEqual({ kind: 'done', task: null, target: null, explain: null });
  });

  it("should take exactly the task names the policy takes (@cora/policy's rule)", () => {
    const step: Step = { kind: 'task-name', agent: CLAUDE };
    for (const task of ['deploy', 'gh.api', 'web-1', '9', 'a'.repeat(64)]) {
      expect(reduceOnboarding(at(step, null, ['A']), { type: 'task-name', task }).step).toEqual({
        kind: 'task-secrets',
        agent: CLAUDE,
        task,
        picked: [],
        cursor: 0,
      });
    }
    // The old copy of the rule let these through, and the policy then refused them.
    for (const task of ['-rf', '.env', '_x', 'a'.repeat(65), 'a b', '']) {
      const state = reduceOnboarding(at(step, null, ['A']), { type: 'task-name', task });
      expect(state.step).toEqual(step);
      expect(state.note).toBe('a task name is a letter or digit, then letters, digits, _ . - (at most 64)');
    }
  });

  it('should end without a task when no secret is stored (a task needs one)', () => {
    const state = reduceOnboarding(at({ kind: 'task-name', agent: CLAUDE }), {
      type: 'task-name',
      task: 'deploy',
    });
    expect(state.step).toEqual({ kind: 'done', task: null, target: null, explain: null });
    expect(state.note).toBe('no secret is stored yet, so there is no task to add');
  });

  it('should pick no secret for the user, and give the task exactly the ones picked', () => {
    const start = at({ kind: 'task-secrets', agent: CLAUDE, task: 'deploy', picked: [], cursor: 0 }, null, [
      'A',
      'B',
      'C',
    ]);
    const none = reduceOnboarding(start, { type: 'secrets-picked' });
    expect(none.step).toBe(start.step);
    expect(none.note).toBe('pick at least one secret with Space (or Esc to skip)');
    const picked = [
      { type: 'secret-cursor', delta: 2 },
      { type: 'secret-toggle' },
      { type: 'secret-cursor', delta: -2 },
      { type: 'secret-toggle' },
      { type: 'secret-cursor', delta: 1 },
      { type: 'secret-toggle' },
      { type: 'secret-toggle' },
      { type: 'secrets-picked' },
    ].reduce((s, a) => reduceOnboarding(s, a as OnboardingAction), start);
    expect(picked.step).toEqual({ kind: 'task-target', draft: { ...DRAFT, secrets: ['A', 'C'] } });
  });

  it('should refuse a command not found, and offer the approval window first for one found', () => {
    const step: Step = { kind: 'task-target', draft: DRAFT };
    const check = { runsCallersCode: false, warnings: ['w'] };
    const missing = reduceOnboarding(at(step), {
      type: 'task-target',
      line: 'nope -x',
      target: null,
      check: null,
    });
    expect(missing.step).toBe(step);
    expect(missing.note).toBe('nope -x: no executable by that name on PATH');
    const approve = reduceOnboarding(at(step), {
      type: 'task-target',
      line: 'curl -s',
      target: '/usr/bin/curl',
      check,
    });
    const draft = { ...DRAFT, command: 'curl', target: '/usr/bin/curl', check };
    expect(approve.step).toEqual({ kind: 'task-approve', draft, selected: 0 });
    expect(APPROVE_CHOICES[0]).toBe('window:15m');
    const adding = reduceOnboarding(approve, { type: 'approve-picked' });
    expect(adding.step).toMatchObject({ kind: 'working', what: 'adding task deploy…', back: approve.step });
    const failed = reduceOnboarding(adding, { type: 'failed', message: 'AUTH_FAILED' });
    expect(failed.step).toEqual(approve.step);
    expect(failed.note).toBe('AUTH_FAILED');
    const explain = { steps: [], outcome: 'needs-approval', reason: 'APPROVAL_REQUIRED' } as const;
    const added = reduceOnboarding(adding, { type: 'task-added', task: 'deploy', target: 'curl', explain });
    expect(added.step).toEqual({ kind: 'done', task: 'deploy', target: 'curl', explain });
  });

  it("should ask before a target that runs the caller's code, and go back on no", () => {
    const step: Step = { kind: 'task-target', draft: DRAFT };
    const check = { runsCallersCode: true, warnings: ['/usr/bin/npm runs whatever code its caller passes'] };
    const asked = reduceOnboarding(at(step), {
      type: 'task-target',
      line: 'npm',
      target: '/usr/bin/npm',
      check,
    });
    expect(asked.step).toMatchObject({
      kind: 'task-interpreter',
      draft: { target: '/usr/bin/npm', allowInterpreter: false },
    });
    const no = reduceOnboarding(asked, { type: 'interpreter-answer', yes: false });
    expect(no.step).toMatchObject({ kind: 'task-target' });
    expect(no.note).toBe('pick another command');
    const yes = reduceOnboarding(asked, { type: 'interpreter-answer', yes: true });
    expect(yes.step).toMatchObject({ kind: 'task-approve', draft: { allowInterpreter: true }, selected: 0 });
  });

  it('should let go of the passphrase when the setup finishes, and only then', () => {
    const p = buf('p');
    const done = reduceOnboarding(at({ kind: 'done', task: null, target: null, explain: null }, p), {
      type: 'finish',
    });
    expect(done.passphrase).toBeNull();
    const early = at(SECRETS, p);
    expect(reduceOnboarding(early, { type: 'finish' })).toBe(early);
  });

  it('should start each step as a new prompt', () => {
    let state = initialOnboarding();
    const seqs = [state.seq];
    for (const action of [{ type: 'start' }, { type: 'cancel', why: 'cancel' }, { type: 'start' }] as const) {
      state = reduceOnboarding(state, action);
      seqs.push(state.seq);
    }
    expect(new Set(seqs).size).toBe(4);
  });
});

describe('ONBOARDING: which bytes each action hands over', () => {
  it('should carry typed entries, values and a read file', () => {
    const v = buf('v');
    const parsed = dotenv(['A']);
    expect(ONBOARDING.carried({ type: 'passphrase', value: v, warnings: [] })).toEqual([v]);
    expect(ONBOARDING.carried({ type: 'repeat', value: v })).toEqual([v]);
    expect(ONBOARDING.carried({ type: 'secret-value', value: v })).toEqual([v]);
    expect(ONBOARDING.carried({ type: 'import-read', parsed })).toEqual(parsed.values);
    expect(ONBOARDING.carried({ type: 'start' })).toEqual([]);
    expect(ONBOARDING.held).toBe(heldByOnboarding);
  });
});

describe('onboardingKey', () => {
  it('should start on Enter and quit on q at the intro', () => {
    const intro: Step = { kind: 'intro' };
    expect(onboardingKey(intro, '', KEY.enter)).toEqual({ type: 'start' });
    expect(onboardingKey(intro, 'q', KEY.none)).toEqual({ type: 'quit' });
    expect(onboardingKey(intro, 'x', KEY.none)).toBeNull();
  });

  it('should map a, i, n and Enter on the secrets step', () => {
    expect(onboardingKey(SECRETS, 'a', KEY.none)).toEqual({ type: 'menu', choice: 'add' });
    expect(onboardingKey(SECRETS, 'i', KEY.none)).toEqual({ type: 'menu', choice: 'import' });
    expect(onboardingKey(SECRETS, 'n', KEY.none)).toEqual({ type: 'menu', choice: 'next' });
    expect(onboardingKey(SECRETS, '', KEY.enter)).toEqual({ type: 'menu', choice: 'next' });
    expect(onboardingKey(SECRETS, 'q', KEY.none)).toBeNull();
  });

  it('should move, skip and pick in the agent list', () => {
    const agents: Step = { kind: 'agents', agents: [CLAUDE], selected: 0 };
    expect(onboardingKey(agents, '', KEY.up)).toEqual({ type: 'select', delta: -1 });
    expect(onboardingKey(agents, '', KEY.down)).toEqual({ type: 'select', delta: 1 });
    expect(onboardingKey(agents, 's', KEY.none)).toEqual({ type: 'cancel', why: 'cancel' });
    expect(onboardingKey(agents, '', KEY.esc)).toEqual({ type: 'cancel', why: 'cancel' });
    expect(onboardingKey(agents, '', KEY.enter)).toEqual({ type: 'pick' });
  });

  it('should finish on Enter at the end, and leave the fields their keys', () => {
    expect(onboardingKey({ kind: 'done', task: null, target: null, explain: null }, '', KEY.enter)).toEqual({
      type: 'finish',
    });
    for (const step of [{ kind: 'pass1' }, { kind: 'secret-name' }, { kind: 'import-path' }] as Step[]) {
      expect(onboardingKey(step, 'q', KEY.none)).toBeNull();
      expect(onboardingKey(step, '', KEY.enter)).toBeNull();
      expect(readsKeys(step)).toBe(false);
    }
    expect(readsKeys({ kind: 'intro' })).toBe(true);
    expect(readsKeys({ kind: 'agents', agents: [], selected: 0 })).toBe(true);
  });
});
