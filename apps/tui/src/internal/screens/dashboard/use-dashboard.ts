// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useEffect, useState } from 'react';
import type { SecretBuf } from '@cora/memstore';
import { useTui } from '../../context.tsx';
import type { CaptureEnd } from '../../raw-input.ts';
import { useListKeys } from '../../screen-keys.ts';
import { useSecretReducer } from '../../secret-state.ts';
import { messageOf } from '../../util.ts';
import { DASHBOARD, dashboardKey, initialDashboard, type DashboardState } from './state.ts';

/** How often the dashboard asks the service for its status. */
const STATUS_POLL_MS = 5000;

/** What the dashboard's view shows and calls. */
export interface DashboardModel {
  readonly state: DashboardState;
  /** Now, ticking each second for the idle countdown. */
  readonly now: number;
  readonly socketPath: string;
  readonly vaultPath: string;
  readonly compact: boolean;
  readonly cancel: (why: CaptureEnd) => void;
  readonly unlock: (passphrase: SecretBuf) => void;
  readonly lock: (yes: boolean) => void;
}

/** The dashboard's state: polled status, unlock and lock. */
export function useDashboard(): DashboardModel {
  const { backend, call, compact } = useTui();
  const { state, dispatch, current } = useSecretReducer(DASHBOARD, initialDashboard);
  const [now, setNow] = useState(() => Date.now());

  const refresh = useCallback(async () => {
    try {
      dispatch({ type: 'status', status: await call((s) => s.status()) });
    } catch (error) {
      dispatch({ type: 'note', note: messageOf(error) });
    }
  }, [call, dispatch]);

  useEffect(() => {
    const poll = setInterval(() => void refresh(), STATUS_POLL_MS);
    const tick = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    return () => {
      clearInterval(poll);
      clearInterval(tick);
    };
  }, [refresh]);

  useListKeys((input, key) => dashboardKey(current(), input, key), dispatch, refresh, state.mode === 'view');

  return {
    state,
    now,
    socketPath: backend.socketPath,
    vaultPath: backend.vaultPath,
    compact,
    cancel: (why) => dispatch({ type: 'cancel', why }),
    unlock: (passphrase) => {
      // Held by the state until the request settles; wiped then (or now, if not taken).
      if (dispatch({ type: 'unlock', passphrase }).unlocking !== passphrase) return;
      call((s) => s.unlock(passphrase))
        .then(
          (r) => dispatch({ type: 'unlocked', secrets: r.secrets }),
          (error: unknown) => dispatch({ type: 'settled', note: messageOf(error) }),
        )
        .finally(() => void refresh());
    },
    lock: (yes) => {
      dispatch({ type: 'lock', yes });
      if (!yes) return;
      call((s) => s.lock())
        .then(
          () => dispatch({ type: 'settled', note: 'locked' }),
          (error: unknown) => dispatch({ type: 'settled', note: messageOf(error) }),
        )
        .finally(() => void refresh());
    },
  };
}
