// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The approver session of the whole TUI (architecture §7 "Approvals", issue 12): held above the
 * screens, so switching views keeps it, and every view can show that a request waits (the
 * header's badge) while a bell rings once per new request.
 *
 * It runs on the screens' shared connection (`connection.ts`): the protocol multiplexes
 * requests by id, so the long `approve` request stays in flight next to the other screens'
 * requests, and it takes no idle cut while in flight. A session ends when the vault locks,
 * another approver takes over, or the TUI quits (closing the connection).
 */
import {
  createContext,
  useContext,
  useEffect,
  useRef,
  useState,
  type ReactElement,
  type ReactNode,
} from 'react';
import { Text } from 'ink';
import { visible } from '@cora/display';
import type { ApprovalDecision, ApprovalInfo } from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import type { ApprovalSession } from '../types.ts';
import { useTui } from './context.tsx';
import { useSecretReducer } from './secret-state.ts';
import { messageOf } from './util.ts';
import { TABS } from './shell.ts';
import {
  APPROVALS,
  endNote,
  initialApprovals,
  type ApprovalsAction,
  type ApprovalsState,
} from './screens/approvals/state.ts';

/** What the approvals view and the header read and call. */
export interface ApproverModel {
  readonly state: ApprovalsState;
  /** Now, ticking each second for the expiry countdowns. */
  readonly now: number;
  readonly dispatch: (action: ApprovalsAction) => void;
  /** The state as of now (for key handlers that run between renders). */
  readonly current: () => ApprovalsState;
  readonly cancel: () => void;
  /** Prove the passphrase and start the session; the passphrase is wiped once sent. */
  readonly start: (passphrase: SecretBuf) => void;
  /**
   * A decision key counts only once the request has been on screen (selected, in the view)
   * this long: a key meant for one request cannot decide the next that takes its place.
   */
  readonly settleMs: number;
  /** Send a decision on `info` (the note says how it went). */
  readonly decide: (info: ApprovalInfo, decision: ApprovalDecision) => void;
}

const ApproverContext = createContext<ApproverModel | null>(null);

/** The app-wide approver session, from {@link ApproverProvider}. */
export function useApprover(): ApproverModel {
  const value = useContext(ApproverContext);
  if (value === null) throw new Error('useApprover outside ApproverProvider');
  return value;
}

/** How long a request must have been shown before a key decides it (ms). */
const SETTLE_MS = 300;

/**
 * Holds the approver session for everything below it (inside `TuiProvider`).
 * @param props - the views; `settleMs` (default 300) for tests
 */
export function ApproverProvider(props: {
  readonly children: ReactNode;
  readonly settleMs?: number;
}): ReactElement {
  const { call, bell } = useTui();
  const { state, dispatch, current } = useSecretReducer(APPROVALS, initialApprovals);
  const [now, setNow] = useState(() => Date.now());
  const session = useRef<ApprovalSession | null>(null);
  /** Requests already rung for: a request the service shows again (a new session) rings once. */
  const rung = useRef(new Set<number>());
  // Set when the app unmounts: a session that starts afterwards is not kept.
  const gone = useRef(false);

  useEffect(() => {
    const tick = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    return () => {
      clearInterval(tick);
      gone.current = true;
      session.current = null;
    };
  }, []);

  const begin = (passphrase: SecretBuf): void => {
    // A throw in here becomes the call's rejection (Connection.call is async).
    call((service) => {
      if (gone.current) throw new Error('the TUI is closing');
      try {
        return Promise.resolve(
          service.approve(passphrase, {
            onReady: () => dispatch({ type: 'ready' }),
            onPending: (info) => {
              if (!rung.current.has(info.id)) {
                rung.current.add(info.id);
                bell();
              }
              dispatch({ type: 'pending', info });
            },
            onResolved: (resolved) => dispatch({ type: 'resolved', resolved }),
          }),
        );
      } finally {
        // The request frame (with its copy of the passphrase) was built inside approve().
        dispatch({ type: 'sent' });
      }
    }).then(
      (approval) => {
        session.current = approval;
        void approval.done
          .then(
            (result) => endNote({ result }),
            (error: unknown) => endNote({ error: messageOf(error) }),
          )
          .then((note) => {
            if (session.current === approval) session.current = null;
            dispatch({ type: 'ended', note });
          });
      },
      (error: unknown) => {
        dispatch({ type: 'sent' });
        dispatch({ type: 'ended', note: messageOf(error) });
      },
    );
  };

  const model: ApproverModel = {
    state,
    now,
    dispatch,
    current,
    settleMs: props.settleMs ?? SETTLE_MS,
    cancel: () => dispatch({ type: 'cancel' }),
    start: (passphrase) => {
      if (dispatch({ type: 'start', passphrase }).passphrase !== passphrase) return;
      begin(passphrase);
    },
    decide: (info, decision) => {
      const approval = session.current;
      if (approval === null) return;
      approval.decide(info.id, decision).then(
        () => dispatch({ type: 'note', note: `#${String(info.id)} ${visible(info.task)}: ${decision}` }),
        (error: unknown) => dispatch({ type: 'note', note: messageOf(error) }),
      );
    },
  };
  return <ApproverContext.Provider value={model}>{props.children}</ApproverContext.Provider>;
}

/** The header's badge: how many requests wait for a decision, on every view. */
export function ApprovalBadge(props: {
  readonly color: boolean;
  readonly compact: boolean;
}): ReactElement | null {
  const { state } = useApprover();
  const count = state.pending.length;
  if (count === 0) return null;
  const key = TABS.find((t) => t.name === 'Approvals')?.key ?? '';
  const text = props.compact ? ` ⚑${String(count)} ` : ` ⚑ ${String(count)} waiting · ${key} `;
  return (
    <Text bold inverse {...(props.color ? { color: 'yellow' } : {})}>
      {text}
    </Text>
  );
}
