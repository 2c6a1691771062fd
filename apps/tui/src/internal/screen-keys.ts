// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect } from 'react';
import { useInput } from 'ink';
import type { Keys, Refresh } from './keys.ts';

/**
 * A list screen's keys and refresh: ask the service when the screen shows, then route each
 * key through the screen's pure key map, to `refresh` or to the reducer.
 * @param keyOf - the screen's key map (pure)
 * @param dispatch - the screen's reducer
 * @param refresh - ask the service again (stable across renders)
 * @param isActive - false while a prompt has the keyboard
 */
export function useListKeys<A extends { readonly type: string }>(
  keyOf: (input: string, key: Keys) => A | Refresh | null,
  dispatch: (action: A) => unknown,
  refresh: () => Promise<void>,
  isActive: boolean,
): void {
  useEffect(() => {
    void refresh();
  }, [refresh]);
  useInput(
    (input, key) => {
      const action = keyOf(input, key);
      if (action === null) return;
      if (isRefresh(action)) void refresh();
      else dispatch(action);
    },
    { isActive },
  );
}

function isRefresh(action: { readonly type: string }): action is Refresh {
  return action.type === 'refresh';
}
