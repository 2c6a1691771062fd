// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect, useReducer, useRef } from 'react';
import { useInput } from 'ink';
import type { AuditRecordLike, TuiBackend } from '../../../types.ts';
import { useTui } from '../../context.tsx';
import { messageOf } from '../../util.ts';
import {
  auditKey,
  initialAudit,
  pageHeight,
  reduceAudit,
  type AuditAction,
  type AuditState,
} from './state.ts';

/** How long records gather before one render: a large log arrives in one update, not thousands. */
const BATCH_MS = 30;

/** What the audit view shows and calls. */
export interface AuditModel {
  readonly state: AuditState;
  readonly rows: number;
  readonly compact: boolean;
  /** The filter typed, or null when the prompt was left. */
  readonly filter: (value: string | null) => void;
}

/**
 * Read the log into `dispatch` in batches until `signal` aborts (following it when `follow`).
 * @returns when the reader ends (or fails: the error becomes the note)
 */
async function readInto(
  backend: TuiBackend,
  follow: boolean,
  signal: AbortSignal,
  dispatch: (action: AuditAction) => void,
): Promise<void> {
  let batch: AuditRecordLike[] = [];
  let flush: ReturnType<typeof setTimeout> | null = null;
  const send = (): void => {
    flush = null;
    const records = batch;
    batch = [];
    if (records.length > 0 && !signal.aborted) dispatch({ type: 'records', records });
  };
  signal.addEventListener('abort', () => {
    if (flush !== null) clearTimeout(flush);
    batch = [];
  });
  try {
    for await (const record of backend.readAudit({ follow, signal })) {
      if (signal.aborted) break;
      batch.push(record);
      flush ??= setTimeout(send, BATCH_MS);
    }
    if (flush !== null) clearTimeout(flush);
    send();
  } catch (error) {
    if (!signal.aborted) dispatch({ type: 'failed', message: messageOf(error) });
  }
}

/** The audit viewer's state: the log read (and followed) from the backend, verify from the service. */
export function useAudit(): AuditModel {
  const { backend, call, rows, compact } = useTui();
  const [state, dispatch] = useReducer(reduceAudit, undefined, initialAudit);
  const latest = useRef(state);
  latest.current = state;

  useEffect(() => {
    const abort = new AbortController();
    dispatch({ type: 'reset' });
    void readInto(backend, state.follow, abort.signal, dispatch);
    return () => {
      abort.abort();
    };
  }, [backend, state.follow]);

  useInput(
    (input, key) => {
      const action = auditKey(input, key, pageHeight(rows, latest.current.detail));
      if (action === null) return;
      dispatch(action);
      if (action.type === 'verify') {
        call((s) => s.verifyAudit()).then(
          (result) => {
            dispatch({ type: 'verified', result });
          },
          (error: unknown) => {
            dispatch({ type: 'failed', message: messageOf(error) });
          },
        );
      }
    },
    { isActive: !state.editing },
  );

  return {
    state,
    rows,
    compact,
    filter: (value) => {
      dispatch({ type: 'filter', filter: value });
    },
  };
}
