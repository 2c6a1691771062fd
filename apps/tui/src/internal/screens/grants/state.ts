// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The grants screen as a pure reducer (architecture §7): the live approval grants, and
 * revoking the selected one after a y/n confirmation. Nothing here is secret: task names,
 * caller paths, pids and times.
 */
import type { GrantInfo } from '@cora/ipc';
import { arrowDelta, moveSelection, type Keys, type Refresh } from '../../keys.ts';

/** Which prompt is open: none, or the confirmation to revoke one grant. */
export type GrantsMode = { readonly kind: 'list' } | { readonly kind: 'confirm'; readonly grant: GrantInfo };

/** The grants screen's state. */
export interface GrantsState {
  /** The live grants, or null before the first answer (or when the service could not be asked). */
  readonly list: readonly GrantInfo[] | null;
  readonly selected: number;
  readonly mode: GrantsMode;
  readonly note: string;
}

/** What happens on the grants screen. */
export type GrantsAction =
  | { readonly type: 'listed'; readonly list: readonly GrantInfo[] }
  | { readonly type: 'unlisted'; readonly message: string }
  | { readonly type: 'select'; readonly delta: number }
  /** `x`: revoke the selected grant (asks first). */
  | { readonly type: 'ask-revoke' }
  /** The answer to "Revoke …?": yes starts the request (the hook sends it). */
  | { readonly type: 'answer'; readonly yes: boolean }
  | { readonly type: 'revoked'; readonly revoked: readonly GrantInfo[] }
  | { readonly type: 'failed'; readonly message: string };

/** Before the first list. */
export function initialGrants(): GrantsState {
  return { list: null, selected: 0, mode: { kind: 'list' }, note: '' };
}

/**
 * When a grant ends, for people: "expires in 4 min", "until the vault locks", "expired".
 * @param grant - a grant
 * @param now - ms since the epoch
 * @param span - how a length of time is written (`@cora/display` `span`)
 */
export function grantEnds(grant: GrantInfo, now: number, span: (ms: number) => string): string {
  if (grant.expiresAt === null) return 'until the vault locks';
  const left = Date.parse(grant.expiresAt) - now;
  return left > 0 ? `expires in ${span(left)}` : 'expired';
}

/**
 * The grant a `yes` in `mode` revokes, or null when no confirmation is open.
 * @param mode - the open prompt
 */
export function revokeRequest(mode: GrantsMode): GrantInfo | null {
  return mode.kind === 'confirm' ? mode.grant : null;
}

/**
 * The next state of the grants screen. Pure: the hook asks the service.
 * @param state - the current state
 * @param action - what happened
 * @returns the next state (the same object when the action does not apply)
 */
export function reduceGrants(state: GrantsState, action: GrantsAction): GrantsState {
  switch (action.type) {
    case 'listed':
      return {
        ...state,
        list: action.list,
        selected: moveSelection(state.selected, 0, action.list.length),
        // The grant being confirmed may have expired or been revoked elsewhere meanwhile.
        mode:
          state.mode.kind === 'confirm' && !action.list.some((g) => g.id === revokeRequest(state.mode)?.id)
            ? { kind: 'list' }
            : state.mode,
      };
    case 'unlisted':
      return { ...state, list: null, note: action.message };
    case 'select':
      return state.mode.kind === 'list'
        ? { ...state, selected: moveSelection(state.selected, action.delta, state.list?.length ?? 0) }
        : state;
    case 'ask-revoke': {
      const grant = state.list?.[state.selected];
      return state.mode.kind === 'list' && grant !== undefined
        ? { ...state, mode: { kind: 'confirm', grant }, note: '' }
        : state;
    }
    case 'answer': {
      const grant = revokeRequest(state.mode);
      if (grant === null) return state;
      return {
        ...state,
        mode: { kind: 'list' },
        note: action.yes ? `revoking ${grant.id}…` : 'nothing revoked',
      };
    }
    case 'revoked': {
      const gone = new Set(action.revoked.map((g) => g.id));
      const list = state.list?.filter((g) => !gone.has(g.id)) ?? null;
      return {
        ...state,
        list,
        selected: moveSelection(state.selected, 0, list?.length ?? 0),
        note:
          action.revoked.length === 0
            ? 'nothing revoked'
            : `revoked ${action.revoked.map((g) => `${g.id} (${g.task})`).join(', ')}: the next request asks again`,
      };
    }
    case 'failed':
      return { ...state, note: action.message };
  }
}

/** What a key does in the list: ↑↓ select, `x` revoke, `r` refresh. */
export function grantsKey(input: string, key: Keys): GrantsAction | Refresh | null {
  const delta = arrowDelta(key);
  if (delta !== null) return { type: 'select', delta };
  if (key.ctrl === true) return null;
  if (input === 'x') return { type: 'ask-revoke' };
  return input === 'r' ? { type: 'refresh' } : null;
}
