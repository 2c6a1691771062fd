// SPDX-License-Identifier: AGPL-3.0-only
import { useLayoutEffect, useRef } from 'react';
import { useInput } from 'ink';
import { visible } from '@cora/display';
import { useApprover, type ApproverModel } from '../../approver.tsx';
import { useTui } from '../../context.tsx';
import { approvalsKey } from './state.ts';

/** What the approvals view shows and calls. */
export interface ApprovalsModel extends Pick<ApproverModel, 'state' | 'now' | 'cancel' | 'start'> {
  readonly compact: boolean;
}

/**
 * The approval queue's view of the app-wide approver session (`approver.tsx`): the session
 * lives above the screens, so leaving this view keeps it; this hook adds the view's keys.
 */
export function useApprovals(): ApprovalsModel {
  const { compact } = useTui();
  const approver = useApprover();
  const { dispatch, current, decide, settleMs } = approver;
  const { pending, selected } = approver.state;
  const selectedId = pending[Math.min(selected, pending.length - 1)]?.id ?? null;
  // Since when the selected request has been on screen (this view mounting counts as showing).
  const shown = useRef<{ id: number | null; at: number }>({ id: null, at: 0 });
  // A layout effect: it runs as the frame is committed, not some time later.
  useLayoutEffect(() => {
    shown.current = { id: selectedId, at: Date.now() };
  }, [selectedId]);

  useInput(
    (input, key) => {
      const action = approvalsKey(current(), input, key);
      if (action === null) return;
      if (action.type !== 'decide') {
        dispatch(action);
        return;
      }
      const { info } = action;
      if (info.id !== shown.current.id || Date.now() - shown.current.at < settleMs) {
        // Too soon after it appeared: the key was probably meant for what was there before.
        dispatch({
          type: 'note',
          note: `#${String(info.id)} ${visible(info.task)} just appeared: press again to decide`,
        });
        return;
      }
      decide(info, action.decision);
    },
    { isActive: approver.state.phase !== 'passphrase' },
  );

  return {
    state: approver.state,
    now: approver.now,
    compact,
    cancel: approver.cancel,
    start: approver.start,
  };
}
