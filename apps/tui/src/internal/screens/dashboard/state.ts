// SPDX-License-Identifier: AGPL-3.0-only
/** The dashboard's state: the service's status, a prompt (unlock, lock) and a note. */
import { localClock, lockReasonText, span } from '@cora/display';
import type { StatusResult } from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import type { Keys, Refresh } from '../../keys.ts';
import type { CaptureEnd } from '../../raw-input.ts';
import type { SecretReducer } from '../../secret-state.ts';
import { countdown } from '../../util.ts';

/** What the dashboard asks for: nothing, the passphrase to unlock, or a lock confirmation. */
type DashboardMode = 'view' | 'unlock' | 'lock';

/** The dashboard's state. */
export interface DashboardState {
  /** The last status the service gave, or null before the first. */
  readonly status: StatusResult | null;
  readonly mode: DashboardMode;
  readonly note: string;
  /** The passphrase of an unlock in flight, wiped when it settles. */
  readonly unlocking: SecretBuf | null;
}

/** What happens on the dashboard. */
export type DashboardAction =
  | { readonly type: 'status'; readonly status: StatusResult }
  | { readonly type: 'note'; readonly note: string }
  | { readonly type: 'ask'; readonly mode: 'unlock' | 'lock' }
  /** The unlock prompt was left (Esc, or too long). */
  | { readonly type: 'cancel'; readonly why: CaptureEnd }
  /** The passphrase was typed: the unlock request takes it. */
  | { readonly type: 'unlock'; readonly passphrase: SecretBuf }
  | { readonly type: 'unlocked'; readonly secrets: number }
  /** The lock question was answered. */
  | { readonly type: 'lock'; readonly yes: boolean }
  /** A request settled with this note (an error's message, `locked`). */
  | { readonly type: 'settled'; readonly note: string };

/** Before the first status. */
export function initialDashboard(): DashboardState {
  return { status: null, mode: 'view', note: '', unlocking: null };
}

/**
 * The next dashboard state. Pure: the hook wipes the passphrase the state lets go of.
 * @param state - the current state
 * @param action - what happened
 * @returns the next state
 */
export function reduceDashboard(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'status':
      return { ...state, status: action.status };
    case 'note':
      return { ...state, note: action.note };
    case 'ask':
      return state.mode === 'view' ? { ...state, mode: action.mode } : state;
    case 'cancel':
      return {
        ...state,
        mode: 'view',
        note: action.why === 'too-long' ? 'the passphrase is too long' : 'cancelled',
      };
    case 'unlock':
      return state.mode === 'unlock'
        ? {
            ...state,
            mode: 'view',
            note: 'unlocking (Argon2id takes a moment)…',
            unlocking: action.passphrase,
          }
        : state;
    case 'unlocked':
      return { ...state, note: `unlocked: ${String(action.secrets)} secrets`, unlocking: null };
    case 'lock':
      return { ...state, mode: 'view' };
    case 'settled':
      return { ...state, note: action.note, unlocking: null };
  }
}

/** The dashboard's reducer with what it holds, for `useSecretReducer`. */
export const DASHBOARD: SecretReducer<DashboardState, DashboardAction> = {
  reduce: reduceDashboard,
  held: (state) => (state.unlocking === null ? [] : [state.unlocking]),
  carried: (action) => (action.type === 'unlock' ? [action.passphrase] : []),
};

/** What a key does while no prompt is open: `u` unlocks (when locked), `l` locks (when unlocked), `r` refreshes. */
export function dashboardKey(
  state: DashboardState,
  input: string,
  key: Keys,
): DashboardAction | Refresh | null {
  if (state.mode !== 'view' || key.ctrl === true) return null;
  const unlocked = state.status?.state === 'unlocked';
  if (input === 'u' && !unlocked) return { type: 'ask', mode: 'unlock' };
  if (input === 'l' && unlocked) return { type: 'ask', mode: 'lock' };
  return input === 'r' ? { type: 'refresh' } : null;
}

/** One row of the dashboard's table. */
export interface DashboardRow {
  readonly label: string;
  readonly value: string;
}

/** `14:32:05 (in 14 min)` / `(3 min ago)`: local time and how far, as `cr status` says it. */
function moment(iso: string, now: number): string {
  const delta = Date.parse(iso) - now;
  return `${localClock(iso, now)} (${delta >= 0 ? `in ${span(delta)}` : `${span(delta)} ago`})`;
}

/** Why and when the service last locked, as `cr status` says it (or why nothing is known). */
function lastLock(status: StatusResult, now: number): string {
  const lock = status.lastLock;
  // Absent: a service from before lock reasons were reported.
  if (lock === undefined) return '—';
  if (lock === null) return 'not unlocked since the service started';
  return `${lockReasonText(lock.reason)}, ${moment(lock.at, now)}`;
}

/**
 * The rows the dashboard shows: state, idle countdown, lifetime and secret count (unlocked),
 * why and when it locked (locked), the service's pid, the socket and the vault.
 * @param status - the last status, or null before the first
 * @param paths - the backend's socket and vault paths
 * @param now - the time the countdown counts from
 * @returns the rows, in order
 */
export function dashboardRows(
  status: StatusResult | null,
  paths: { readonly socketPath: string; readonly vaultPath: string },
  now: number,
): DashboardRow[] {
  const unlocked = status?.state === 'unlocked';
  const life = status?.lifetimeDeadline ?? null;
  return [
    { label: 'state', value: status === null ? '…' : unlocked ? '● unlocked' : '○ locked' },
    ...(status !== null && !unlocked ? [{ label: 'locked', value: lastLock(status, now) }] : []),
    { label: 'idle lock in', value: unlocked ? countdown(status.idleDeadline, now) : '—' },
    ...(unlocked
      ? [{ label: 'lifetime ends', value: life === null ? 'no lifetime' : moment(life, now) }]
      : []),
    { label: 'secrets', value: unlocked ? String(status.secrets) : '—' },
    { label: 'service pid', value: status === null ? '—' : String(status.pid) },
    { label: 'socket', value: paths.socketPath },
    { label: 'vault', value: paths.vaultPath },
  ];
}
