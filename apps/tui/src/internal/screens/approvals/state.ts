// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The approval queue as a pure reducer (architecture §7 "Approvals"): prove the passphrase once,
 * then decide pending requests as they arrive. The passphrase is held only while the session
 * starts; the hook wipes it once the request frame holds its copy.
 */
import type { ApprovalDecision, ApprovalInfo, ApprovalResolved, ApproveResult } from '@cora/ipc';
import { visible } from '@cora/display';
import type { SecretBuf } from '@cora/memstore';
import { arrowDelta, moveSelection, type Keys } from '../../keys.ts';
import type { SecretReducer } from '../../secret-state.ts';

/** Where the approver session is. */
type ApprovalPhase = 'idle' | 'passphrase' | 'starting' | 'ready' | 'ended';

/** Most decided requests listed under "Recent". */
const RECENT = 5;

/** The approval queue's state. */
export interface ApprovalsState {
  readonly phase: ApprovalPhase;
  /** Requests waiting for a decision, oldest first. */
  readonly pending: readonly ApprovalInfo[];
  /** How recent requests ended, newest first. */
  readonly recent: readonly string[];
  readonly selected: number;
  readonly note: string;
  /** The passphrase while the session starts. */
  readonly passphrase: SecretBuf | null;
}

/** What happens in the approval queue. */
export type ApprovalsAction =
  /** Enter: ask for the passphrase. */
  | { readonly type: 'open' }
  | { readonly type: 'cancel' }
  | { readonly type: 'start'; readonly passphrase: SecretBuf }
  /** The request (and its copy of the passphrase) is built: the passphrase is let go of. */
  | { readonly type: 'sent' }
  | { readonly type: 'ready' }
  | { readonly type: 'pending'; readonly info: ApprovalInfo }
  | { readonly type: 'resolved'; readonly resolved: ApprovalResolved }
  | { readonly type: 'ended'; readonly note: string }
  | { readonly type: 'select'; readonly delta: number }
  | { readonly type: 'note'; readonly note: string };

/** No session yet. */
export function initialApprovals(): ApprovalsState {
  return { phase: 'idle', pending: [], recent: [], selected: 0, note: '', passphrase: null };
}

/**
 * The next state of the approval queue. Pure: the hook talks to the service and wipes the
 * passphrase the state lets go of.
 * @param state - the current state
 * @param action - what happened
 * @returns the next state (the same object when the action does not apply)
 */
export function reduceApprovals(state: ApprovalsState, action: ApprovalsAction): ApprovalsState {
  switch (action.type) {
    case 'open':
      return state.phase === 'idle' || state.phase === 'ended' ? { ...state, phase: 'passphrase' } : state;
    case 'cancel':
      return state.phase === 'passphrase' ? { ...state, phase: 'idle' } : state;
    case 'start':
      return state.phase === 'passphrase'
        ? { ...state, phase: 'starting', note: 'checking the passphrase…', passphrase: action.passphrase }
        : state;
    case 'sent':
      return { ...state, passphrase: null };
    case 'ready':
      return state.phase === 'starting'
        ? {
            ...state,
            phase: 'ready',
            passphrase: null,
            note: 'approver ready: requests appear here as they arrive',
          }
        : state;
    case 'pending':
      return { ...state, pending: [...state.pending.filter((x) => x.id !== action.info.id), action.info] };
    case 'resolved': {
      const info = state.pending.find((x) => x.id === action.resolved.id);
      if (info === undefined) return state;
      const line = `#${String(info.id)} ${visible(info.task)} ${visible(info.target)}: ${action.resolved.outcome}`;
      const pending = state.pending.filter((x) => x.id !== info.id);
      return {
        ...state,
        pending,
        recent: [line, ...state.recent].slice(0, RECENT),
        selected: moveSelection(state.selected, 0, pending.length),
      };
    }
    case 'ended':
      return { ...state, phase: 'ended', pending: [], passphrase: null, note: action.note };
    case 'select':
      return { ...state, selected: moveSelection(state.selected, action.delta, state.pending.length) };
    case 'note':
      return { ...state, note: action.note };
  }
}

/** The approval queue's reducer with what it holds, for `useSecretReducer`. */
export const APPROVALS: SecretReducer<ApprovalsState, ApprovalsAction> = {
  reduce: reduceApprovals,
  held: (state) => (state.passphrase === null ? [] : [state.passphrase]),
  carried: (action) => (action.type === 'start' ? [action.passphrase] : []),
};

/** The decision a key stands for: `o`/`y` allow once, `w` allow for the window, `n`/`d` deny. */
export function decisionOf(input: string): ApprovalDecision | null {
  if (input === 'o' || input === 'y') return 'allow-once';
  if (input === 'w') return 'allow-window';
  return input === 'n' || input === 'd' ? 'deny' : null;
}

/** A decision to send for one request. */
export interface Decide {
  readonly type: 'decide';
  readonly info: ApprovalInfo;
  readonly decision: ApprovalDecision;
}

/**
 * What a key does (not while the passphrase is typed): Enter starts a session when there is
 * none; once ready, ↑↓ select and `o` / `w` / `n` decide the selected request (`w` only
 * where the task offers a window).
 * @param state - the current state
 * @param input - the text of the key
 * @param key - the named keys
 * @returns the action or the decision, or null when the key does nothing now
 */
export function approvalsKey(
  state: ApprovalsState,
  input: string,
  key: Keys,
): ApprovalsAction | Decide | null {
  if (state.phase === 'idle' || state.phase === 'ended') return key.return === true ? { type: 'open' } : null;
  if (state.phase !== 'ready') return null;
  const delta = arrowDelta(key);
  if (delta !== null) return { type: 'select', delta };
  if (key.ctrl === true) return null;
  const decision = decisionOf(input);
  const info = state.pending[Math.min(state.selected, state.pending.length - 1)];
  if (decision === null || info === undefined) return null;
  if (decision === 'allow-window' && info.window === null) {
    return { type: 'note', note: `task ${visible(info.task)} offers allow-once only` };
  }
  return { type: 'decide', info, decision };
}

/** How a session's end is told: a lock, another approver, or the error that ended it. */
export function endNote(outcome: { readonly result: ApproveResult } | { readonly error: string }): string {
  if ('error' in outcome) return `${outcome.error} (Enter to try again)`;
  return outcome.result.ended === 'locked'
    ? 'the service locked: approvals ended (Enter to start again)'
    : `approvals ended: ${outcome.result.ended}`;
}
