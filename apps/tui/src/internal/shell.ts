// SPDX-License-Identifier: AGPL-3.0-only
/** The frame around the screens: tabs, the keys of each view, and the global keys. */
import type { Keys } from './keys.ts';

/** The views of the main screen, in tab order (keys 1–6). */
export const TABS = [
  { key: '1', name: 'Dashboard', short: 'Dash' },
  { key: '2', name: 'Secrets', short: 'Sec' },
  { key: '3', name: 'Tasks', short: 'Task' },
  { key: '4', name: 'Audit', short: 'Aud' },
  { key: '5', name: 'Approvals', short: 'Appr' },
  { key: '6', name: 'Grants', short: 'Grant' },
] as const;

/** A view's name. */
export type ViewName = (typeof TABS)[number]['name'];

/** A key and what it does, as the footer and the help show it. */
export type KeyHelp = readonly [key: string, what: string];

/** Per-view keys, shown in the footer and on `?`. */
export const VIEW_KEYS: Readonly<Record<ViewName, readonly KeyHelp[]>> = {
  Dashboard: [
    ['u', 'unlock'],
    ['l', 'lock'],
    ['r', 'refresh'],
  ],
  Secrets: [
    ['↑↓', 'select'],
    ['a', 'add'],
    ['d', 'delete'],
    ['i', 'import .env'],
    ['r', 'refresh'],
  ],
  Tasks: [
    ['↑↓', 'select task'],
    ['e', 'explain'],
    ['r', 'refresh'],
  ],
  Audit: [
    ['↑↓ PgUp PgDn', 'scroll'],
    ['Enter', 'detail'],
    ['/', 'filter'],
    ['f', 'follow'],
    ['v', 'verify'],
  ],
  Approvals: [
    ['Enter', 'start approving'],
    ['↑↓', 'select'],
    ['o', 'allow once'],
    ['w', 'allow for window'],
    ['n', 'deny'],
  ],
  Grants: [
    ['↑↓', 'select'],
    ['x', 'revoke'],
    ['r', 'refresh'],
  ],
};

/** Keys that work in every view. */
export const GLOBAL_KEYS: readonly KeyHelp[] = [
  ['1–6 Tab', 'switch view'],
  ['?', 'help'],
  ['q Ctrl-C', 'quit'],
];

/** Which view shows, and whether the help covers it. */
export interface ShellState {
  readonly tab: number;
  readonly help: boolean;
}

/** Where the keyboard is: a text field takes every key, the setup takes all but Ctrl-C. */
export interface ShellFocus {
  readonly typing: boolean;
  readonly onboarding: boolean;
}

/**
 * The global keys: Ctrl-C quits everywhere; while a field or the setup has the keyboard,
 * nothing else; any key closes the help; `q` quits, `?` opens the help, `1`–`6` and
 * Tab / Shift-Tab switch views.
 * @param state - the current view and help
 * @param input - the text of the key
 * @param key - the named keys
 * @param focus - who has the keyboard
 * @returns the next state, or `'quit'`
 */
export function shellKey(
  state: ShellState,
  input: string,
  key: Keys,
  focus: ShellFocus,
): ShellState | 'quit' {
  if (key.ctrl === true && input === 'c') return 'quit';
  if (focus.typing || focus.onboarding) return state;
  if (state.help) return { ...state, help: false };
  if (input === 'q') return 'quit';
  if (input === '?') return { ...state, help: true };
  if (key.tab === true) {
    return { ...state, tab: (state.tab + (key.shift === true ? TABS.length - 1 : 1)) % TABS.length };
  }
  const index = TABS.findIndex((t) => t.key === input);
  return index >= 0 ? { ...state, tab: index } : state;
}

/** What the footer lists: the view's keys then the global ones, fewer when compact. */
export function footerKeys(view: ViewName, compact: boolean): readonly KeyHelp[] {
  const keys = VIEW_KEYS[view];
  return compact ? [...keys.slice(0, 3), ['?', 'help'], ['q', 'quit']] : [...keys, ...GLOBAL_KEYS];
}
