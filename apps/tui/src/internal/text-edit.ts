// SPDX-License-Identifier: AGPL-3.0-only
import type { Keys } from './keys.ts';

/** What one key press does to a plain text field. */
export interface TextEdit {
  /** The field's text after the key. */
  readonly value: string;
  /** Enter: submit `value`. */
  readonly submit?: true;
  /** Esc: leave the field. */
  readonly cancel?: true;
}

/** `text` without C0 control characters and DEL (a paste may carry them). */
export function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0;
    if (code >= 0x20 && code !== 0x7f) out += c;
  }
  return out;
}

/**
 * One key press in a plain (non-secret) text field: names, paths, argv, filters. Pure, so
 * the field's keys are tested without a terminal.
 * @param value - the text so far
 * @param input - the text Ink delivered (may be several characters: a paste, or "text⏎")
 * @param key - the named keys
 * @returns the new text, and whether to submit or cancel
 */
export function editText(value: string, input: string, key: Keys): TextEdit {
  // Ink may deliver "text⏎" as one string: Enter submits what came before it.
  const enter = input.search(/[\r\n]/u);
  if (enter > 0 && key.ctrl !== true && key.meta !== true) {
    return { value: value + printable(input.slice(0, enter)), submit: true };
  }
  if (key.return === true) return { value, submit: true };
  if (key.escape === true) return { value, cancel: true };
  if (key.backspace === true || key.delete === true)
    return { value: Array.from(value).slice(0, -1).join('') };
  if (key.ctrl === true) return { value: input === 'u' ? '' : value };
  if (key.meta === true || key.tab === true || key.upArrow === true || key.downArrow === true)
    return { value };
  // Drop control characters a paste may carry.
  return { value: value + printable(input) };
}
