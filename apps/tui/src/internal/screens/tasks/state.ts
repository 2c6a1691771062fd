// SPDX-License-Identifier: AGPL-3.0-only
/** The tasks screen as a pure reducer: the policy's callers and tasks, and `explain`. */
import type { PolicyExplainResult } from '@cora/ipc';
import type { Policy } from '@cora/policy';
import { arrowDelta, moveSelection, type Keys, type Refresh } from '../../keys.ts';
import { splitArgv } from '../../util.ts';

/** Which prompt is open: none, the command line to explain, or the caller to explain it for. */
export type TasksMode =
  | { readonly kind: 'list' }
  | { readonly kind: 'argv'; readonly task: string }
  | { readonly kind: 'caller'; readonly task: string; readonly argv: readonly string[] };

/** An explained decision, as shown under the list. */
export interface Explained {
  readonly task: string;
  readonly argv: readonly string[];
  readonly result: PolicyExplainResult;
}

/** The tasks screen's state. */
export interface TasksState {
  /** The policy, or null while locked (or before the first answer). */
  readonly policy: Policy | null;
  readonly selected: number;
  readonly mode: TasksMode;
  readonly note: string;
  readonly explained: Explained | null;
}

/** A request to explain: the task, the argv, and the caller's path (undefined: this `cr`). */
export interface ExplainRequest {
  readonly task: string;
  readonly argv: readonly string[];
  readonly caller: string | undefined;
}

/** What happens on the tasks screen. */
export type TasksAction =
  | { readonly type: 'policy'; readonly policy: Policy }
  | { readonly type: 'no-policy'; readonly message: string }
  | { readonly type: 'select'; readonly delta: number }
  /** `e`: explain for the selected task. */
  | { readonly type: 'explain' }
  | { readonly type: 'cancel' }
  | { readonly type: 'argv'; readonly line: string }
  /** The caller typed, with the path the backend resolved a bare name to (null: none on PATH). */
  | { readonly type: 'caller'; readonly input: string; readonly resolved: string | null }
  | { readonly type: 'explained'; readonly explained: Explained }
  | { readonly type: 'failed'; readonly message: string };

/** Before the first policy. */
export function initialTasks(): TasksState {
  return { policy: null, selected: 0, mode: { kind: 'list' }, note: '', explained: null };
}

/** The task names of `policy`, sorted (the order shown and selected). */
export function taskNames(policy: Policy | null): string[] {
  return policy === null ? [] : Object.keys(policy.tasks).sort();
}

/**
 * Who to explain for, from what was typed: empty is this `cr`; an absolute path is taken as
 * it is; a bare name must have been found on PATH (`resolved`).
 * @returns the caller (undefined: this `cr`), or null when a bare name was not found
 */
export function callerOf(input: string, resolved: string | null): string | undefined | null {
  const name = input.trim();
  if (name === '') return undefined;
  return name.startsWith('/') ? name : resolved;
}

/**
 * The explain request the caller prompt starts, or null (no prompt open, or an unknown caller).
 * @param mode - the open prompt
 * @param input - the caller as typed
 * @param resolved - the backend's PATH lookup of a bare name
 */
export function explainRequest(
  mode: TasksMode,
  input: string,
  resolved: string | null,
): ExplainRequest | null {
  if (mode.kind !== 'caller') return null;
  const caller = callerOf(input, resolved);
  return caller === null ? null : { task: mode.task, argv: mode.argv, caller };
}

/**
 * The next state of the tasks screen. Pure: the hook asks the service.
 * @param state - the current state
 * @param action - what happened
 * @returns the next state (the same object when the action does not apply)
 */
export function reduceTasks(state: TasksState, action: TasksAction): TasksState {
  const { mode } = state;
  switch (action.type) {
    case 'policy':
      return {
        ...state,
        policy: action.policy,
        note: '',
        selected: moveSelection(state.selected, 0, taskNames(action.policy).length),
      };
    case 'no-policy':
      return { ...state, policy: null, note: action.message };
    case 'select':
      return {
        ...state,
        selected: moveSelection(state.selected, action.delta, taskNames(state.policy).length),
      };
    case 'explain': {
      const task = taskNames(state.policy)[state.selected];
      return mode.kind === 'list' && task !== undefined ? { ...state, mode: { kind: 'argv', task } } : state;
    }
    case 'cancel':
      return { ...state, mode: { kind: 'list' } };
    case 'argv': {
      if (mode.kind !== 'argv') return state;
      const argv = splitArgv(action.line);
      if (argv.length === 0) return { ...state, note: 'type the command to check' };
      return { ...state, mode: { kind: 'caller', task: mode.task, argv } };
    }
    case 'caller':
      if (mode.kind !== 'caller') return state;
      if (explainRequest(mode, action.input, action.resolved) === null) {
        return { ...state, note: `${action.input.trim()}: no executable by that name on PATH` };
      }
      return { ...state, mode: { kind: 'list' } };
    case 'explained':
      return { ...state, explained: action.explained, note: '' };
    case 'failed':
      return { ...state, note: action.message };
  }
}

/** What a key does in the list: ↑↓ select, `e` explain, `r` refresh. */
export function tasksKey(input: string, key: Keys): TasksAction | Refresh | null {
  const delta = arrowDelta(key);
  if (delta !== null) return { type: 'select', delta };
  if (key.ctrl === true) return null;
  if (input === 'e') return { type: 'explain' };
  return input === 'r' ? { type: 'refresh' } : null;
}

/** The colour of an outcome: allow green, deny red, needs-approval yellow. */
export function outcomeColor(outcome: PolicyExplainResult['outcome']): string {
  return outcome === 'allow' ? 'green' : outcome === 'deny' ? 'red' : 'yellow';
}
