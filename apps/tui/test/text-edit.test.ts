// SPDX-License-Identifier: AGPL-3.0-only
// A plain text field's keys, as a pure function.
import { describe, expect, it } from 'vitest';
import { editText, printable } from '../src/internal/text-edit.ts';
import { KEY } from './harness.tsx';

describe('editText', () => {
  it('should append what is typed', () => {
    expect(editText('ab', 'c', KEY.none)).toEqual({ value: 'abc' });
    expect(editText('', 'pasted text', KEY.none)).toEqual({ value: 'pasted text' });
  });

  it('should submit on Enter, with what came before it in the same chunk', () => {
    expect(editText('abc', '', KEY.enter)).toEqual({ value: 'abc', submit: true });
    expect(editText('ab', 'cd\r', KEY.none)).toEqual({ value: 'abcd', submit: true });
    expect(editText('ab', 'cd\nmore', KEY.none)).toEqual({ value: 'abcd', submit: true });
  });

  it('should cancel on Esc, keeping the text', () => {
    expect(editText('abc', '', KEY.esc)).toEqual({ value: 'abc', cancel: true });
  });

  it('should drop one character on Backspace or Delete, a whole code point', () => {
    expect(editText('abc', '', { backspace: true })).toEqual({ value: 'ab' });
    expect(editText('a😀', '', { delete: true })).toEqual({ value: 'a' });
    expect(editText('', '', { backspace: true })).toEqual({ value: '' });
  });

  it('should clear on Ctrl-U and ignore other Ctrl keys', () => {
    expect(editText('abc', 'u', KEY.ctrl)).toEqual({ value: '' });
    expect(editText('abc', 'a', KEY.ctrl)).toEqual({ value: 'abc' });
    expect(editText('abc', 'x\r', KEY.ctrl)).toEqual({ value: 'abc' });
  });

  it('should ignore navigation and Meta keys', () => {
    for (const key of [KEY.up, KEY.down, KEY.tab, { meta: true }]) {
      expect(editText('abc', 'x', key)).toEqual({ value: 'abc' });
    }
  });

  it('should drop control characters a paste carries', () => {
    expect(editText('', 'a\u0007b\u007fc\u001b', KEY.none)).toEqual({ value: 'abc' });
  });
});

describe('printable', () => {
  it('should keep printable text, accents and emoji, and drop C0 and DEL', () => {
    expect(printable('héllo wörld 😀')).toBe('héllo wörld 😀');
    expect(printable('\u0000\u0001\t\u001f\u007f')).toBe('');
  });
});
