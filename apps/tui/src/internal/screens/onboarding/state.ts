// SPDX-License-Identifier: AGPL-3.0-only
// Over 500 lines: one flow's reducer, its step union and its keys; split, each part would need
// the others' types and helpers.
/**
 * The setup's steps as a pure reducer: what Cora does, the passphrase twice, the vault, first
 * secrets, an agent and a first task that grants least (the secrets picked, none preselected;
 * an approval window; a target that is not a shell or launcher unless accepted on purpose;
 * `via` the agent), proven by the service's explain, and the `cr exec` line to use. The passphrase is held
 * in the state (secure memory) for the length of the setup, so it is asked once; the hook
 * (`secret-state.ts`) wipes it, and any value, as soon as a step lets go of it.
 */
import type { PolicyExplainResult } from '@cora/ipc';
import { isValidSecretName, type SecretBuf } from '@cora/memstore';
import { isValidTaskName, type Approve } from '@cora/policy';
import type { AgentBinary, DotenvImport, TargetCheck } from '../../../types.ts';
import { arrowDelta, moveSelection, type Keys } from '../../keys.ts';
import type { CaptureEnd } from '../../raw-input.ts';
import type { SecretReducer } from '../../secret-state.ts';
import { canImport, splitArgv } from '../../util.ts';

/** Where the setup is. */
export type Step =
  | { readonly kind: 'intro' }
  | { readonly kind: 'pass1' }
  | { readonly kind: 'pass2' }
  /**
   * A request runs; `holding` are the bytes it sends (wiped once it settles), `back` the step
   * a failure returns to.
   */
  | {
      readonly kind: 'working';
      readonly what: string;
      readonly holding: readonly SecretBuf[];
      readonly back: Step;
    }
  | { readonly kind: 'secrets' }
  | { readonly kind: 'secret-name' }
  | { readonly kind: 'secret-value'; readonly name: string }
  | { readonly kind: 'import-path' }
  | { readonly kind: 'import-preview'; readonly parsed: DotenvImport }
  | { readonly kind: 'agents'; readonly agents: readonly AgentBinary[]; readonly selected: number }
  | { readonly kind: 'task-name'; readonly agent: AgentBinary }
  /** Which secrets the task gets: none preselected; Space toggles, Enter confirms. */
  | {
      readonly kind: 'task-secrets';
      readonly agent: AgentBinary;
      readonly task: string;
      readonly picked: readonly string[];
      readonly cursor: number;
    }
  | { readonly kind: 'task-target'; readonly draft: TaskDraft }
  /** The target runs code its caller chooses: the warning, and y/n to accept it on purpose. */
  | { readonly kind: 'task-interpreter'; readonly draft: TaskDraft }
  | { readonly kind: 'task-approve'; readonly draft: TaskDraft; readonly selected: number }
  | {
      readonly kind: 'done';
      readonly task: string | null;
      readonly target: string | null;
      /** The service's explain of the new task, run as the agent would run it. */
      readonly explain: PolicyExplainResult | null;
    };

/** The first task as it is being put together. */
export interface TaskDraft {
  readonly agent: AgentBinary;
  readonly task: string;
  readonly secrets: readonly string[];
  /** The command as typed (its first word), for the `cr exec` line. */
  readonly command: string;
  /** Its realpath, the target stored; empty until typed. */
  readonly target: string;
  /** What the backend found about the target (warnings to show). */
  readonly check: TargetCheck;
  /** The user accepted a target that runs code its caller chooses. */
  readonly allowInterpreter: boolean;
}

/**
 * The approval modes offered, the default first: a window asks a human once per caller, then
 * lets it run for the window (architecture §7); `never` is last, not the default.
 */
export const APPROVE_CHOICES: readonly Approve[] = ['window:15m', 'once', 'session', 'never'];

/** The setup's state. */
export interface OnboardingState {
  readonly step: Step;
  /** One line under the step: a warning, a refusal, what was stored. */
  readonly note: string;
  /** Names stored so far (the first task may get some of them, as picked). */
  readonly added: readonly string[];
  /** The new passphrase, from its first entry until the setup ends. */
  readonly passphrase: SecretBuf | null;
  /** Counts step changes: each prompt is a new field (a masked field captures once). */
  readonly seq: number;
}

/** What happens in the setup. */
export type OnboardingAction =
  /** Enter on the intro. */
  | { readonly type: 'start' }
  /** Esc or Ctrl-C in a field (or input too long), `s` / Esc in the agent list, `n` on a preview. */
  | { readonly type: 'cancel'; readonly why: CaptureEnd }
  /** The first passphrase entry, with its warnings (`cr init`'s rule). */
  | { readonly type: 'passphrase'; readonly value: SecretBuf; readonly warnings: readonly string[] }
  /** The second entry: compared with the first, never kept. */
  | { readonly type: 'repeat'; readonly value: SecretBuf }
  /** The running request moved on to its next part (the setup: created, now unlocking). */
  | { readonly type: 'progress'; readonly what: string }
  /** The vault was created and unlocked. */
  | { readonly type: 'unlocked' }
  /** Creating or unlocking failed; `vaultExists` says whether the vault was made. */
  | { readonly type: 'setup-failed'; readonly message: string; readonly vaultExists: boolean }
  /** `a`, `i` or `n` (Enter) on the secrets step. */
  | { readonly type: 'menu'; readonly choice: 'add' | 'import' | 'next' }
  | { readonly type: 'secret-name'; readonly name: string }
  | { readonly type: 'secret-value'; readonly value: SecretBuf }
  | { readonly type: 'stored'; readonly name: string }
  /** The running request failed: back to the step it came from, saying why. */
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'import-read'; readonly parsed: DotenvImport }
  | { readonly type: 'import-unreadable'; readonly message: string }
  | { readonly type: 'import-answer'; readonly yes: boolean }
  | { readonly type: 'imported'; readonly names: readonly string[] }
  | { readonly type: 'agents'; readonly agents: readonly AgentBinary[] }
  | { readonly type: 'select'; readonly delta: number }
  /** Enter in the agent list. */
  | { readonly type: 'pick' }
  | { readonly type: 'task-name'; readonly task: string }
  /** ↑↓ in the secrets list. */
  | { readonly type: 'secret-cursor'; readonly delta: number }
  /** Space in the secrets list: pick or unpick the one under the cursor. */
  | { readonly type: 'secret-toggle' }
  /** Enter in the secrets list. */
  | { readonly type: 'secrets-picked' }
  /** The command typed for the task, with the target the backend resolved (or null) and its check. */
  | {
      readonly type: 'task-target';
      readonly line: string;
      readonly target: string | null;
      readonly check: TargetCheck | null;
    }
  /** The answer to the interpreter warning. */
  | { readonly type: 'interpreter-answer'; readonly yes: boolean }
  /** ↑↓ in the approval list. */
  | { readonly type: 'approve-select'; readonly delta: number }
  /** Enter in the approval list: the task is written, then explained. */
  | { readonly type: 'approve-picked' }
  | {
      readonly type: 'task-added';
      readonly task: string;
      readonly target: string;
      readonly explain: PolicyExplainResult | null;
    }
  /** Enter on the last step: the setup ends and lets go of the passphrase. */
  | { readonly type: 'finish' };

/** The setup before anything was typed. */
export function initialOnboarding(): OnboardingState {
  return { step: { kind: 'intro' }, note: '', added: [], passphrase: null, seq: 0 };
}

/** The secrets step: the next thing to add. */
const SECRETS: Step = { kind: 'secrets' };
/** The end without a task. */
const DONE_NO_TASK: Step = { kind: 'done', task: null, target: null, explain: null };

/** `state` at `step` (a new prompt) with `note`. */
function to(state: OnboardingState, step: Step, note = state.note): OnboardingState {
  return { ...state, step, note, seq: state.seq + 1 };
}

function cancelNote(why: CaptureEnd): string {
  return why === 'too-long' ? 'too long' : 'cancelled';
}

function onCancel(state: OnboardingState, why: CaptureEnd): OnboardingState {
  switch (state.step.kind) {
    case 'pass1':
      return to(state, { kind: 'intro' }, cancelNote(why));
    case 'pass2':
      // Start over: the first entry is let go of too.
      return { ...to(state, { kind: 'pass1' }, cancelNote(why)), passphrase: null };
    case 'secret-value':
      return to(state, SECRETS, cancelNote(why));
    case 'secret-name':
    case 'import-path':
    case 'import-preview':
      return to(state, SECRETS);
    case 'agents':
    case 'task-name':
    case 'task-secrets':
    case 'task-target':
    case 'task-approve':
      return to(state, DONE_NO_TASK);
    case 'task-interpreter':
      return to(state, { kind: 'task-target', draft: state.step.draft }, 'pick another command');
    default:
      return state;
  }
}

function onPassphrase(
  state: OnboardingState,
  value: SecretBuf,
  warnings: readonly string[],
): OnboardingState {
  if (state.step.kind !== 'pass1') return state;
  // A new prompt (seq) for the same step: the field that took the empty entry is done.
  if (value.length === 0) return to(state, { kind: 'pass1' }, 'the passphrase is empty');
  const note = warnings.length === 0 ? '' : `warning: weak passphrase: ${warnings.join('; ')}`;
  return { ...to(state, { kind: 'pass2' }, note), passphrase: value };
}

function onRepeat(state: OnboardingState, value: SecretBuf): OnboardingState {
  if (state.step.kind !== 'pass2') return state;
  const first = state.passphrase;
  if (first === null || value.wiped || !first.equals(value)) {
    return { ...to(state, { kind: 'pass1' }, 'the two passphrases differ; type it again'), passphrase: null };
  }
  return to(state, working('creating the vault (Argon2id takes a few seconds)…', { kind: 'pass1' }), '');
}

function working(what: string, back: Step, holding: readonly SecretBuf[] = []): Step {
  return { kind: 'working', what, holding, back };
}

function onMenu(state: OnboardingState, choice: 'add' | 'import' | 'next'): OnboardingState {
  if (state.step.kind !== 'secrets') return state;
  if (choice === 'add') return to(state, { kind: 'secret-name' });
  if (choice === 'import') return to(state, { kind: 'import-path' });
  return to(state, working('looking for agents on PATH…', SECRETS), '');
}

function onImportAnswer(state: OnboardingState, yes: boolean): OnboardingState {
  const { step } = state;
  if (step.kind !== 'import-preview') return state;
  if (!yes || !canImport(step.parsed)) return to(state, SECRETS);
  // The values go with the request; they are let go of (wiped) when it settles.
  return to(state, working('importing…', SECRETS, step.parsed.values));
}

function onPick(state: OnboardingState): OnboardingState {
  const { step } = state;
  if (step.kind !== 'agents') return state;
  const agent = step.agents[step.selected];
  return to(state, agent === undefined ? DONE_NO_TASK : { kind: 'task-name', agent });
}

function onTaskName(state: OnboardingState, task: string): OnboardingState {
  const { step } = state;
  if (step.kind !== 'task-name') return state;
  if (!isValidTaskName(task)) {
    return { ...state, note: 'a task name is a letter or digit, then letters, digits, _ . - (at most 64)' };
  }
  // A task needs a secret (the policy's rule): with none stored, there is nothing to grant.
  if (state.added.length === 0) {
    return to(state, DONE_NO_TASK, 'no secret is stored yet, so there is no task to add');
  }
  return to(state, { kind: 'task-secrets', agent: step.agent, task, picked: [], cursor: 0 }, '');
}

function onSecretToggle(state: OnboardingState): OnboardingState {
  const { step } = state;
  if (step.kind !== 'task-secrets') return state;
  const name = state.added[step.cursor];
  if (name === undefined) return state;
  const picked = step.picked.includes(name)
    ? step.picked.filter((x) => x !== name)
    : state.added.filter((x) => x === name || step.picked.includes(x));
  return { ...state, step: { ...step, picked } };
}

function onSecretsPicked(state: OnboardingState): OnboardingState {
  const { step } = state;
  if (step.kind !== 'task-secrets') return state;
  if (step.picked.length === 0)
    return { ...state, note: 'pick at least one secret with Space (or Esc to skip)' };
  const draft: TaskDraft = {
    agent: step.agent,
    task: step.task,
    secrets: step.picked,
    command: '',
    target: '',
    check: { runsCallersCode: false, warnings: [] },
    allowInterpreter: false,
  };
  return to(state, { kind: 'task-target', draft }, '');
}

function onTaskTarget(
  state: OnboardingState,
  line: string,
  target: string | null,
  check: TargetCheck | null,
): OnboardingState {
  const { step } = state;
  if (step.kind !== 'task-target') return state;
  const [command = ''] = splitArgv(line);
  if (target === null || check === null || command === '') {
    return { ...state, note: `${line}: no executable by that name on PATH` };
  }
  const draft: TaskDraft = { ...step.draft, command, target, check, allowInterpreter: false };
  // A shell, interpreter or launcher hands the secrets to code the agent chooses: only on purpose.
  if (check.runsCallersCode) return to(state, { kind: 'task-interpreter', draft }, '');
  return to(state, { kind: 'task-approve', draft, selected: 0 }, '');
}

function onInterpreterAnswer(state: OnboardingState, yes: boolean): OnboardingState {
  const { step } = state;
  if (step.kind !== 'task-interpreter') return state;
  if (!yes) return to(state, { kind: 'task-target', draft: step.draft }, 'pick another command');
  return to(
    state,
    { kind: 'task-approve', draft: { ...step.draft, allowInterpreter: true }, selected: 0 },
    '',
  );
}

function onApprovePicked(state: OnboardingState): OnboardingState {
  const { step } = state;
  if (step.kind !== 'task-approve') return state;
  return to(state, working(`adding task ${step.draft.task}…`, step));
}

/** Whether a request runs (its outcome applies only then). */
function isWorking(state: OnboardingState): boolean {
  return state.step.kind === 'working';
}

/**
 * The next state of the setup. Pure: it never wipes (the hook wipes what a transition lets
 * go of) and never calls the service (the hook does, and reports back with an action).
 * @param state - the current state
 * @param action - what happened
 * @returns the next state (the same object when the action does not apply)
 */
export function reduceOnboarding(state: OnboardingState, action: OnboardingAction): OnboardingState {
  switch (action.type) {
    case 'start':
      return state.step.kind === 'intro' ? to(state, { kind: 'pass1' }) : state;
    case 'cancel':
      return onCancel(state, action.why);
    case 'passphrase':
      return onPassphrase(state, action.value, action.warnings);
    case 'repeat':
      return onRepeat(state, action.value);
    case 'progress':
      return state.step.kind === 'working' ? { ...state, step: { ...state.step, what: action.what } } : state;
    case 'unlocked':
      return isWorking(state) ? to(state, SECRETS) : state;
    case 'setup-failed':
      return isWorking(state)
        ? {
            ...to(state, action.vaultExists ? DONE_NO_TASK : { kind: 'pass1' }, action.message),
            passphrase: null,
          }
        : state;
    case 'menu':
      return onMenu(state, action.choice);
    case 'secret-name':
      if (state.step.kind !== 'secret-name') return state;
      if (!isValidSecretName(action.name)) {
        return { ...state, note: `'${action.name}' is not a valid name: use [A-Za-z_][A-Za-z0-9_]*` };
      }
      return to(state, { kind: 'secret-value', name: action.name }, '');
    case 'secret-value':
      if (state.step.kind !== 'secret-value') return state;
      return to(state, working(`storing ${state.step.name}…`, SECRETS, [action.value]));
    case 'stored': {
      if (!isWorking(state)) return state;
      const added = [...state.added.filter((x) => x !== action.name), action.name];
      return { ...to(state, SECRETS, `Stored ${action.name}.`), added };
    }
    case 'failed':
      return state.step.kind === 'working' ? to(state, state.step.back, action.message) : state;
    case 'import-read':
      return state.step.kind === 'import-path'
        ? to(state, { kind: 'import-preview', parsed: action.parsed })
        : state;
    case 'import-unreadable':
      return state.step.kind === 'import-path' ? to(state, SECRETS, action.message) : state;
    case 'import-answer':
      return onImportAnswer(state, action.yes);
    case 'imported': {
      if (!isWorking(state)) return state;
      const added = [...state.added.filter((x) => !action.names.includes(x)), ...action.names];
      return { ...to(state, SECRETS, `Imported ${action.names.join(', ')}.`), added };
    }
    case 'agents':
      return isWorking(state) ? to(state, { kind: 'agents', agents: action.agents, selected: 0 }) : state;
    case 'select':
      return state.step.kind === 'agents'
        ? {
            ...state,
            step: {
              ...state.step,
              selected: moveSelection(state.step.selected, action.delta, state.step.agents.length),
            },
          }
        : state;
    case 'pick':
      return onPick(state);
    case 'task-name':
      return onTaskName(state, action.task);
    case 'secret-cursor':
      return state.step.kind === 'task-secrets'
        ? {
            ...state,
            step: {
              ...state.step,
              cursor: moveSelection(state.step.cursor, action.delta, state.added.length),
            },
          }
        : state;
    case 'secret-toggle':
      return onSecretToggle(state);
    case 'secrets-picked':
      return onSecretsPicked(state);
    case 'task-target':
      return onTaskTarget(state, action.line, action.target, action.check);
    case 'interpreter-answer':
      return onInterpreterAnswer(state, action.yes);
    case 'approve-select':
      return state.step.kind === 'task-approve'
        ? {
            ...state,
            step: {
              ...state.step,
              selected: moveSelection(state.step.selected, action.delta, APPROVE_CHOICES.length),
            },
          }
        : state;
    case 'approve-picked':
      return onApprovePicked(state);
    case 'task-added':
      return isWorking(state)
        ? to(state, { kind: 'done', task: action.task, target: action.target, explain: action.explain }, '')
        : state;
    case 'finish':
      return state.step.kind === 'done' ? { ...state, passphrase: null } : state;
  }
}

/** The secret bytes a state holds: the passphrase, a previewed file's values, a request's. */
export function heldByOnboarding(state: OnboardingState): readonly SecretBuf[] {
  const { step } = state;
  const held = state.passphrase === null ? [] : [state.passphrase];
  if (step.kind === 'import-preview') return [...held, ...step.parsed.values];
  if (step.kind === 'working') return [...held, ...step.holding];
  return held;
}

/** The secret bytes an action hands over (wiped unless the next state holds them). */
function carriedByOnboarding(action: OnboardingAction): readonly SecretBuf[] {
  switch (action.type) {
    case 'passphrase':
    case 'repeat':
    case 'secret-value':
      return [action.value];
    case 'import-read':
      return action.parsed.values;
    default:
      return [];
  }
}

/** The setup's reducer with what it holds, for `useSecretReducer`. */
export const ONBOARDING: SecretReducer<OnboardingState, OnboardingAction> = {
  reduce: reduceOnboarding,
  held: heldByOnboarding,
  carried: carriedByOnboarding,
};

/** What a key does on a step that reads keys (the fields read their own), or null. */
export type OnboardingKey = OnboardingAction | { readonly type: 'quit' };

/**
 * The keys of the steps without a field: Enter starts, `q` quits (intro); `a` / `i` / `n` or
 * Enter (secrets); ↑↓, Enter, `s` or Esc (agents); ↑↓, Space, Enter or Esc (the task's
 * secrets); ↑↓, Enter or Esc (its approval); Enter (done).
 * @param step - the current step
 * @param input - the text of the key
 * @param key - the named keys
 * @returns the action, or null when the key does nothing here
 */
export function onboardingKey(step: Step, input: string, key: Keys): OnboardingKey | null {
  switch (step.kind) {
    case 'intro':
      if (key.return === true) return { type: 'start' };
      return input === 'q' ? { type: 'quit' } : null;
    case 'secrets':
      if (input === 'a') return { type: 'menu', choice: 'add' };
      if (input === 'i') return { type: 'menu', choice: 'import' };
      return input === 'n' || key.return === true ? { type: 'menu', choice: 'next' } : null;
    case 'agents': {
      const delta = arrowDelta(key);
      if (delta !== null) return { type: 'select', delta };
      if (input === 's' || key.escape === true) return { type: 'cancel', why: 'cancel' };
      return key.return === true ? { type: 'pick' } : null;
    }
    case 'task-secrets': {
      const delta = arrowDelta(key);
      if (delta !== null) return { type: 'secret-cursor', delta };
      if (input === ' ') return { type: 'secret-toggle' };
      if (key.escape === true) return { type: 'cancel', why: 'cancel' };
      return key.return === true ? { type: 'secrets-picked' } : null;
    }
    case 'task-approve': {
      const delta = arrowDelta(key);
      if (delta !== null) return { type: 'approve-select', delta };
      if (key.escape === true) return { type: 'cancel', why: 'cancel' };
      return key.return === true ? { type: 'approve-picked' } : null;
    }
    case 'done':
      return key.return === true ? { type: 'finish' } : null;
    default:
      return null;
  }
}

/** The steps that read keys themselves (no field has the keyboard). */
const KEY_STEPS: ReadonlySet<Step['kind']> = new Set([
  'intro',
  'secrets',
  'agents',
  'task-secrets',
  'task-approve',
  'done',
]);

/** Whether the step reads keys itself (no field has the keyboard). */
export function readsKeys(step: Step): boolean {
  return KEY_STEPS.has(step.kind);
}
