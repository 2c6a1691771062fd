// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The secrets screen as a pure reducer: the list (names and times, never values), and the
 * add, delete and import flows, each asking the passphrase once. A value typed before its
 * passphrase, a previewed file's values and the bytes of a request in flight are held in the
 * state; the hook wipes them the moment a step lets go of them.
 */
import type { SecretMeta } from '@cora/ipc';
import { isValidSecretName, type SecretBuf } from '@cora/memstore';
import type { DotenvImport } from '../../../types.ts';
import { arrowDelta, moveSelection, type Keys, type Refresh } from '../../keys.ts';
import type { CaptureEnd } from '../../raw-input.ts';
import type { SecretReducer } from '../../secret-state.ts';
import { canImport, day, fit } from '../../util.ts';

/** Which prompt is open. */
export type SecretsMode =
  | { readonly kind: 'list' }
  | { readonly kind: 'name' }
  | { readonly kind: 'value'; readonly name: string }
  | { readonly kind: 'pass-set'; readonly name: string; readonly value: SecretBuf }
  | { readonly kind: 'confirm-delete'; readonly name: string }
  | { readonly kind: 'pass-delete'; readonly name: string }
  | { readonly kind: 'import-path' }
  | { readonly kind: 'import-preview'; readonly parsed: DotenvImport }
  | { readonly kind: 'pass-import'; readonly parsed: DotenvImport };

/** The secrets screen's state. */
export interface SecretsState {
  /** The names, or null while locked (or before the first answer). */
  readonly list: readonly SecretMeta[] | null;
  /** Name → last injection time, from the audit log. */
  readonly used: ReadonlyMap<string, string>;
  readonly selected: number;
  readonly mode: SecretsMode;
  readonly note: string;
  /** The bytes of requests not settled yet (values and passphrases they send). */
  readonly inFlight: readonly SecretBuf[];
  /** Counts prompts: each is a new field (a masked field captures once). */
  readonly seq: number;
}

/** A request the passphrase prompt starts: what it sends, described for the hook. */
export type SecretsRequest =
  | { readonly kind: 'set'; readonly name: string; readonly value: SecretBuf; readonly passphrase: SecretBuf }
  | { readonly kind: 'delete'; readonly name: string; readonly passphrase: SecretBuf }
  | { readonly kind: 'import'; readonly parsed: DotenvImport; readonly passphrase: SecretBuf };

/** What happens on the secrets screen. */
export type SecretsAction =
  | { readonly type: 'listed'; readonly list: readonly SecretMeta[] }
  | { readonly type: 'unlisted'; readonly message: string }
  | { readonly type: 'used'; readonly used: ReadonlyMap<string, string> }
  | { readonly type: 'select'; readonly delta: number }
  /** `a` add, `i` import, `d` delete the selected one. */
  | { readonly type: 'ask'; readonly what: 'add' | 'import' | 'delete' }
  /** A prompt was left (Esc, `n`, or input too long). */
  | { readonly type: 'cancel'; readonly why: CaptureEnd }
  | { readonly type: 'name'; readonly name: string }
  | { readonly type: 'value'; readonly value: SecretBuf }
  | { readonly type: 'delete-answer'; readonly yes: boolean }
  | { readonly type: 'reading'; readonly file: string }
  | { readonly type: 'import-read'; readonly parsed: DotenvImport }
  | { readonly type: 'import-unreadable'; readonly message: string }
  | { readonly type: 'import-answer'; readonly yes: boolean }
  /** The passphrase for the open request: it starts (see {@link pendingRequest}). */
  | { readonly type: 'passphrase'; readonly passphrase: SecretBuf }
  /** A request settled: its bytes are let go of, `note` says how it went. */
  | { readonly type: 'settled'; readonly sent: readonly SecretBuf[]; readonly note: string };

/** An empty screen before the first list. */
export function initialSecrets(): SecretsState {
  return { list: null, used: new Map(), selected: 0, mode: { kind: 'list' }, note: '', inFlight: [], seq: 0 };
}

const LIST: SecretsMode = { kind: 'list' };

/** `state` with prompt `mode` (a new field) and `note`. */
function to(state: SecretsState, mode: SecretsMode, note = state.note): SecretsState {
  return { ...state, mode, note, seq: state.seq + 1 };
}

/**
 * The request a passphrase starts in `mode`, or null when no passphrase prompt is open.
 * @param mode - the open prompt
 * @param passphrase - the passphrase typed
 * @returns what to send
 */
export function pendingRequest(mode: SecretsMode, passphrase: SecretBuf): SecretsRequest | null {
  switch (mode.kind) {
    case 'pass-set':
      return { kind: 'set', name: mode.name, value: mode.value, passphrase };
    case 'pass-delete':
      return { kind: 'delete', name: mode.name, passphrase };
    case 'pass-import':
      return { kind: 'import', parsed: mode.parsed, passphrase };
    default:
      return null;
  }
}

/** The label of the passphrase prompt `mode` opens, or null when it opens none. */
export function passphraseLabel(mode: SecretsMode): string | null {
  switch (mode.kind) {
    case 'pass-set':
      return `Passphrase to store ${mode.name}:`;
    case 'pass-delete':
      return `Passphrase to delete ${mode.name}:`;
    case 'pass-import':
      return `Passphrase to import ${String(mode.parsed.names.length)} secret(s):`;
    default:
      return null;
  }
}

/** The bytes a request sends. */
export function requestBytes(request: SecretsRequest): SecretBuf[] {
  switch (request.kind) {
    case 'set':
      return [request.value, request.passphrase];
    case 'delete':
      return [request.passphrase];
    case 'import':
      return [request.passphrase, ...request.parsed.values];
  }
}

function progress(request: SecretsRequest): string {
  switch (request.kind) {
    case 'set':
      return `storing ${request.name}…`;
    case 'delete':
      return `deleting ${request.name}…`;
    case 'import':
      return 'importing…';
  }
}

function onAsk(state: SecretsState, what: 'add' | 'import' | 'delete'): SecretsState {
  if (what === 'add') return to(state, { kind: 'name' });
  if (what === 'import') return to(state, { kind: 'import-path' });
  const target = state.list?.[state.selected];
  return target === undefined ? state : to(state, { kind: 'confirm-delete', name: target.name });
}

function onPassphrase(state: SecretsState, passphrase: SecretBuf): SecretsState {
  const request = pendingRequest(state.mode, passphrase);
  if (request === null) return state;
  // The request takes the bytes; the list keeps its keys while it runs.
  return { ...to(state, LIST, progress(request)), inFlight: [...state.inFlight, ...requestBytes(request)] };
}

/**
 * The next state of the secrets screen. Pure: the hook wipes what the state lets go of and
 * sends the requests.
 * @param state - the current state
 * @param action - what happened
 * @returns the next state (the same object when the action does not apply)
 */
export function reduceSecrets(state: SecretsState, action: SecretsAction): SecretsState {
  const { mode } = state;
  switch (action.type) {
    case 'listed':
      return {
        ...state,
        list: action.list,
        selected: moveSelection(state.selected, 0, action.list.length),
      };
    case 'unlisted':
      return { ...state, list: null, note: action.message };
    case 'used':
      return { ...state, used: action.used };
    case 'select':
      return { ...state, selected: moveSelection(state.selected, action.delta, state.list?.length ?? 0) };
    case 'ask':
      return mode.kind === 'list' ? onAsk(state, action.what) : state;
    case 'cancel':
      return to(state, LIST, action.why === 'too-long' ? 'too long; nothing was changed' : 'cancelled');
    case 'name':
      if (mode.kind !== 'name') return state;
      if (!isValidSecretName(action.name)) {
        return { ...state, note: `'${action.name}' is not a valid name: use [A-Za-z_][A-Za-z0-9_]*` };
      }
      return to(state, { kind: 'value', name: action.name }, '');
    case 'value':
      return mode.kind === 'value'
        ? to(state, { kind: 'pass-set', name: mode.name, value: action.value })
        : state;
    case 'delete-answer':
      if (mode.kind !== 'confirm-delete') return state;
      return action.yes ? to(state, { kind: 'pass-delete', name: mode.name }) : to(state, LIST, 'cancelled');
    case 'reading':
      return mode.kind === 'import-path' ? { ...state, note: `reading ${action.file}…` } : state;
    case 'import-read':
      return mode.kind === 'import-path'
        ? to(state, { kind: 'import-preview', parsed: action.parsed }, '')
        : state;
    case 'import-unreadable':
      return mode.kind === 'import-path' ? to(state, LIST, action.message) : state;
    case 'import-answer':
      if (mode.kind !== 'import-preview') return state;
      return action.yes && canImport(mode.parsed)
        ? to(state, { kind: 'pass-import', parsed: mode.parsed })
        : to(state, LIST, 'cancelled');
    case 'passphrase':
      return onPassphrase(state, action.passphrase);
    case 'settled': {
      const sent = new Set(action.sent);
      return { ...state, note: action.note, inFlight: state.inFlight.filter((b) => !sent.has(b)) };
    }
  }
}

/** The bytes a state holds: a value waiting for its passphrase, a previewed file, requests in flight. */
export function heldBySecrets(state: SecretsState): readonly SecretBuf[] {
  const { mode } = state;
  if (mode.kind === 'pass-set') return [mode.value, ...state.inFlight];
  if (mode.kind === 'import-preview' || mode.kind === 'pass-import')
    return [...mode.parsed.values, ...state.inFlight];
  return state.inFlight;
}

/** The secrets screen's reducer with what it holds, for `useSecretReducer`. */
export const SECRETS: SecretReducer<SecretsState, SecretsAction> = {
  reduce: reduceSecrets,
  held: heldBySecrets,
  carried: (action) => {
    switch (action.type) {
      case 'value':
        return [action.value];
      case 'passphrase':
        return [action.passphrase];
      case 'import-read':
        return action.parsed.values;
      default:
        return [];
    }
  },
};

/** What a key does in the list: ↑↓ select, `a` add, `i` import, `d` delete, `r` refresh. */
export function secretsKey(input: string, key: Keys): SecretsAction | Refresh | null {
  const delta = arrowDelta(key);
  if (delta !== null) return { type: 'select', delta };
  if (key.ctrl === true) return null;
  if (input === 'a') return { type: 'ask', what: 'add' };
  if (input === 'i') return { type: 'ask', what: 'import' };
  if (input === 'd') return { type: 'ask', what: 'delete' };
  return input === 'r' ? { type: 'refresh' } : null;
}

/** The table of names as drawn: a header and the rows that fit, the selected one marked. */
export interface SecretsTable {
  readonly header: string;
  readonly rows: readonly { readonly name: string; readonly text: string; readonly selected: boolean }[];
}

/**
 * The table for `list`: NAME, CREATED, UPDATED and LAST USED (compact: NAME and UPDATED),
 * scrolled so the selected row shows within `rows - 10` lines (at least 3).
 * @param state - the list, the last-used times and the selection
 * @param rows - the terminal's height
 * @param compact - the narrow layout
 * @returns the header and the visible rows
 */
export function secretsTable(
  state: Pick<SecretsState, 'list' | 'used' | 'selected'>,
  rows: number,
  compact: boolean,
): SecretsTable {
  const list = state.list ?? [];
  const width = Math.max(4, ...list.map((s) => s.name.length));
  const visible = Math.max(3, rows - 10);
  const start = Math.max(0, Math.min(state.selected - visible + 1, list.length - visible));
  const header = `${fit('NAME', width)} ${compact ? 'UPDATED' : `${fit('CREATED', 20)}  ${fit('UPDATED', 20)}  LAST USED`}`;
  return {
    header,
    rows: list.slice(start, start + visible).map((s, i) => {
      const used = state.used.get(s.name);
      const rest = compact
        ? day(s.updated)
        : `${fit(day(s.created), 20)}  ${fit(day(s.updated), 20)}  ${used === undefined ? 'never' : day(used)}`;
      return { name: s.name, text: `${fit(s.name, width)} ${rest}`, selected: start + i === state.selected };
    }),
  };
}
