// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useReducer, useRef } from 'react';
import { useTui } from '../../context.tsx';
import { useListKeys } from '../../screen-keys.ts';
import { messageOf } from '../../util.ts';
import { grantsKey, initialGrants, reduceGrants, revokeRequest, type GrantsState } from './state.ts';

/** What the grants view shows and calls. */
export interface GrantsModel {
  readonly state: GrantsState;
  readonly compact: boolean;
  /** The answer to the revoke confirmation. */
  readonly answer: (yes: boolean) => void;
}

/** The grants screen's state: the live grants (`grants.list`) and revoking one (`grants.revoke`). */
export function useGrants(): GrantsModel {
  const { call, compact } = useTui();
  const [state, dispatch] = useReducer(reduceGrants, undefined, initialGrants);
  // The latest state, for the confirmation's answer between renders.
  const latest = useRef(state);
  latest.current = state;

  const refresh = useCallback(async () => {
    try {
      dispatch({ type: 'listed', list: await call((s) => s.listGrants()) });
    } catch (error) {
      dispatch({ type: 'unlisted', message: messageOf(error) });
    }
  }, [call]);
  useListKeys(grantsKey, dispatch, refresh, state.mode.kind === 'list');

  return {
    state,
    compact,
    answer: (yes) => {
      const grant = revokeRequest(latest.current.mode);
      dispatch({ type: 'answer', yes });
      if (!yes || grant === null) return;
      call((s) => s.revokeGrants({ grant: grant.id })).then(
        (result) => {
          dispatch({ type: 'revoked', revoked: result.revoked });
        },
        (error: unknown) => {
          dispatch({ type: 'failed', message: messageOf(error) });
          // It may have expired meanwhile: show what is live now.
          void refresh();
        },
      );
    },
  };
}
