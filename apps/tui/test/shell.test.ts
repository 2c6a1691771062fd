// SPDX-License-Identifier: AGPL-3.0-only
// The global keys and the footer, as pure functions.
import { describe, expect, it } from 'vitest';
import {
  footerKeys,
  GLOBAL_KEYS,
  shellKey,
  TABS,
  VIEW_KEYS,
  type ShellState,
} from '../src/internal/shell.ts';
import { KEY } from './harness.tsx';

const FREE = { typing: false, onboarding: false };
const AT = (tab: number, help = false): ShellState => ({ tab, help });

describe('shellKey', () => {
  it('should quit on Ctrl-C whoever has the keyboard', () => {
    expect(shellKey(AT(0), 'c', KEY.ctrl, FREE)).toBe('quit');
    expect(shellKey(AT(0), 'c', KEY.ctrl, { typing: true, onboarding: false })).toBe('quit');
    expect(shellKey(AT(0), 'c', KEY.ctrl, { typing: false, onboarding: true })).toBe('quit');
  });

  it('should leave every other key to a field or the setup', () => {
    const state = AT(1);
    for (const focus of [
      { typing: true, onboarding: false },
      { typing: false, onboarding: true },
    ]) {
      expect(shellKey(state, 'q', KEY.none, focus)).toBe(state);
      expect(shellKey(state, '3', KEY.none, focus)).toBe(state);
      expect(shellKey(state, '', KEY.tab, focus)).toBe(state);
    }
  });

  it('should quit on q and open the help on ?', () => {
    expect(shellKey(AT(0), 'q', KEY.none, FREE)).toBe('quit');
    expect(shellKey(AT(2), '?', KEY.none, FREE)).toEqual(AT(2, true));
  });

  it('should close the help on any key, and do nothing else with it', () => {
    expect(shellKey(AT(2, true), 'q', KEY.none, FREE)).toEqual(AT(2));
    expect(shellKey(AT(2, true), '4', KEY.none, FREE)).toEqual(AT(2));
  });

  it('should switch views with 1–6', () => {
    TABS.forEach((tab, i) => {
      expect(shellKey(AT(0), tab.key, KEY.none, FREE)).toEqual(AT(i));
    });
    expect(shellKey(AT(3), '7', KEY.none, FREE)).toEqual(AT(3));
  });

  it('should cycle with Tab and Shift-Tab', () => {
    expect(shellKey(AT(0), '', KEY.tab, FREE)).toEqual(AT(1));
    expect(shellKey(AT(5), '', KEY.tab, FREE)).toEqual(AT(0));
    expect(shellKey(AT(0), '', KEY.shiftTab, FREE)).toEqual(AT(5));
    expect(shellKey(AT(2), '', KEY.shiftTab, FREE)).toEqual(AT(1));
  });

  it('should ignore other keys', () => {
    const state = AT(1);
    expect(shellKey(state, 'x', KEY.none, FREE)).toBe(state);
  });
});

describe('footerKeys', () => {
  it("should list the view's keys then the global ones", () => {
    expect(footerKeys('Dashboard', false)).toEqual([...VIEW_KEYS.Dashboard, ...GLOBAL_KEYS]);
  });

  it('should keep three view keys, help and quit when compact', () => {
    expect(footerKeys('Audit', true)).toEqual([
      ['↑↓ PgUp PgDn', 'scroll'],
      ['Enter', 'detail'],
      ['/', 'filter'],
      ['?', 'help'],
      ['q', 'quit'],
    ]);
  });

  it('should name a key for every view', () => {
    for (const tab of TABS) expect(VIEW_KEYS[tab.name].length).toBeGreaterThan(0);
  });
});
