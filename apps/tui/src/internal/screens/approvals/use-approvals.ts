// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect, useRef, useState } from 'react';
import { useInput } from 'ink';
import type { SecretBuf } from '@cora/memstore';
import type { ApprovalSession, TuiService } from '../../../types.ts';
import { useTui } from '../../context.tsx';
import { useSecretReducer } from '../../secret-state.ts';
import { messageOf } from '../../util.ts';
import { APPROVALS, approvalsKey, endNote, initialApprovals, type ApprovalsState } from './state.ts';

/** What the approvals view shows and calls. */
export interface ApprovalsModel {
  readonly state: ApprovalsState;
  /** Now, ticking each second for the expiry countdowns. */
  readonly now: number;
  readonly compact: boolean;
  readonly cancel: () => void;
  readonly start: (passphrase: SecretBuf) => void;
}

/**
 * The approval queue's state. The session runs on its own connection (a session ends only
 * when its connection closes), for as long as the view shows, independent of the other
 * screens' requests.
 */
export function useApprovals(): ApprovalsModel {
  const { backend, bell, compact } = useTui();
  const { state, dispatch, current } = useSecretReducer(APPROVALS, initialApprovals);
  const [now, setNow] = useState(() => Date.now());
  const session = useRef<{ service: TuiService; approval: ApprovalSession } | null>(null);
  // Set when the view unmounts: a connection that lands afterwards is closed at once.
  const gone = useRef(false);

  useEffect(() => {
    const tick = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    return () => {
      clearInterval(tick);
      gone.current = true;
      session.current?.service.close();
      session.current = null;
    };
  }, []);

  useInput(
    (input, key) => {
      const action = approvalsKey(current(), input, key);
      if (action === null) return;
      if (action.type !== 'decide') {
        dispatch(action);
        return;
      }
      const { info, decision } = action;
      session.current?.approval.decide(info.id, decision).then(
        () => dispatch({ type: 'note', note: `#${String(info.id)} ${info.task}: ${decision}` }),
        (error: unknown) => dispatch({ type: 'note', note: messageOf(error) }),
      );
    },
    { isActive: state.phase !== 'passphrase' },
  );

  const begin = (service: TuiService, passphrase: SecretBuf): void => {
    if (gone.current) {
      service.close();
      return;
    }
    let approval: ApprovalSession;
    try {
      approval = service.approve(passphrase, {
        onReady: () => dispatch({ type: 'ready' }),
        onPending: (info) => {
          bell();
          dispatch({ type: 'pending', info });
        },
        onResolved: (resolved) => dispatch({ type: 'resolved', resolved }),
      });
    } catch (error) {
      service.close();
      dispatch({ type: 'ended', note: messageOf(error) });
      return;
    } finally {
      // The request frame (with its copy of the passphrase) was built inside approve().
      dispatch({ type: 'sent' });
    }
    session.current = { service, approval };
    void approval.done
      .then(
        (result) => endNote({ result }),
        (error: unknown) => endNote({ error: messageOf(error) }),
      )
      .then((note) => {
        service.close();
        session.current = null;
        dispatch({ type: 'ended', note });
      });
  };

  return {
    state,
    now,
    compact,
    cancel: () => dispatch({ type: 'cancel' }),
    start: (passphrase) => {
      if (dispatch({ type: 'start', passphrase }).passphrase !== passphrase) return;
      backend.connect().then(
        (service) => {
          begin(service, passphrase);
        },
        (error: unknown) => dispatch({ type: 'ended', note: messageOf(error) }),
      );
    },
  };
}
