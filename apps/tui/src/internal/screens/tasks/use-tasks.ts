// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useReducer, useRef } from 'react';
import { parsePolicy } from '@cora/policy';
import { useTui } from '../../context.tsx';
import { useListKeys } from '../../screen-keys.ts';
import { messageOf } from '../../util.ts';
import { explainRequest, initialTasks, reduceTasks, tasksKey, type TasksState } from './state.ts';

/** What the tasks view shows and calls. */
export interface TasksModel {
  readonly state: TasksState;
  readonly compact: boolean;
  readonly cancel: () => void;
  readonly argv: (line: string) => void;
  readonly caller: (input: string) => void;
}

/** The tasks screen's state: the policy, and explain for a task and argv. */
export function useTasks(): TasksModel {
  const { backend, call, compact } = useTui();
  const [state, dispatch] = useReducer(reduceTasks, undefined, initialTasks);
  // The latest state, for the key handler and the caller prompt between renders.
  const latest = useRef(state);
  latest.current = state;

  const refresh = useCallback(async () => {
    try {
      dispatch({ type: 'policy', policy: parsePolicy(await call((s) => s.getPolicy())) });
    } catch (error) {
      dispatch({ type: 'no-policy', message: messageOf(error) });
    }
  }, [call]);
  useListKeys(tasksKey, dispatch, refresh, state.mode.kind === 'list');

  return {
    state,
    compact,
    cancel: () => {
      dispatch({ type: 'cancel' });
    },
    argv: (line) => {
      dispatch({ type: 'argv', line });
    },
    caller: (input) => {
      const name = input.trim();
      // The service takes an absolute path; a bare name is looked up like a target.
      const resolved = name === '' || name.startsWith('/') ? null : backend.resolveCommand(name);
      const request = explainRequest(latest.current.mode, input, resolved);
      dispatch({ type: 'caller', input, resolved });
      if (request === null) return;
      call((s) =>
        s.explain(request.task, request.argv, request.caller === undefined ? {} : { caller: request.caller }),
      ).then(
        (result) => {
          dispatch({ type: 'explained', explained: { task: request.task, argv: request.argv, result } });
        },
        (error: unknown) => {
          dispatch({ type: 'failed', message: messageOf(error) });
        },
      );
    },
  };
}
