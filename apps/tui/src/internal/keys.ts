// SPDX-License-Identifier: AGPL-3.0-only
import type { Key } from 'ink';

/**
 * The named keys a screen reads, as Ink's `useInput` reports them (Ink's `Key` is one).
 * Partial, so the screens' pure key maps can be called with only the keys a test presses.
 */
export type Keys = Readonly<
  Partial<
    Pick<
      Key,
      | 'upArrow'
      | 'downArrow'
      | 'pageUp'
      | 'pageDown'
      | 'return'
      | 'escape'
      | 'tab'
      | 'shift'
      | 'ctrl'
      | 'meta'
      | 'backspace'
      | 'delete'
    >
  >
>;

/** What a list screen's key map returns for `r`: ask the service again. */
export interface Refresh {
  readonly type: 'refresh';
}

/**
 * `index` moved by `delta` within a list of `count` items (an empty list keeps 0).
 * @param index - the current selection
 * @param delta - how far to move (negative: up)
 * @param count - how many items there are
 * @returns the new selection, clamped to the list
 */
export function moveSelection(index: number, delta: number, count: number): number {
  return Math.max(0, Math.min(Math.max(0, count - 1), index + delta));
}

/** The selection change of an arrow key, or null for any other key. */
export function arrowDelta(key: Keys): number | null {
  if (key.upArrow === true) return -1;
  if (key.downArrow === true) return 1;
  return null;
}
