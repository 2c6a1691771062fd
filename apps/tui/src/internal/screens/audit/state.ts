// SPDX-License-Identifier: AGPL-3.0-only
/** The audit viewer as a pure reducer: records, filter, cursor, detail pane, follow, verify. */
import { quoteCommand, shellQuote, visible } from '@cora/display';
import type { AuditVerifyResult } from '@cora/ipc';
import type { AuditRecordLike } from '../../../types.ts';
import type { Keys } from '../../keys.ts';
import { fit } from '../../util.ts';

/** Most records kept in memory (the newest win). */
export const MAX_AUDIT_RECORDS = 5000;

/** The audit viewer's state. */
export interface AuditState {
  /** Oldest first, at most {@link MAX_AUDIT_RECORDS}. */
  readonly records: readonly AuditRecordLike[];
  readonly follow: boolean;
  readonly filter: string;
  /** The filter prompt is open. */
  readonly editing: boolean;
  /** Index into the filtered records; null sticks to the newest. */
  readonly cursor: number | null;
  readonly detail: boolean;
  readonly verify: AuditVerifyResult | 'running' | null;
  readonly note: string;
}

/** What happens in the audit viewer. */
export type AuditAction =
  /** The reader restarted (follow switched): start from an empty list. */
  | { readonly type: 'reset' }
  | { readonly type: 'records'; readonly records: readonly AuditRecordLike[] }
  /** Move the cursor (a page is a window's height less a line). */
  | { readonly type: 'move'; readonly delta: number }
  | { readonly type: 'detail' }
  | { readonly type: 'edit' }
  | { readonly type: 'filter'; readonly filter: string | null }
  | { readonly type: 'follow' }
  | { readonly type: 'verify' }
  | { readonly type: 'verified'; readonly result: AuditVerifyResult }
  | { readonly type: 'failed'; readonly message: string };

/** Following, no filter, nothing read yet. */
export function initialAudit(): AuditState {
  return {
    records: [],
    follow: true,
    filter: '',
    editing: false,
    cursor: null,
    detail: false,
    verify: null,
    note: '',
  };
}

/**
 * A filter: `type:X`, `task:X`, `caller:X` terms (substring, all must match); a bare word
 * matches the type, the task or the caller's exe.
 */
export function matchesFilter(record: AuditRecordLike, filter: string): boolean {
  for (const term of filter.split(/\s+/u).filter((t) => t.length > 0)) {
    const at = term.indexOf(':');
    const field = at > 0 ? term.slice(0, at) : '';
    const want = (at > 0 ? term.slice(at + 1) : term).toLowerCase();
    const type = record.type.toLowerCase();
    const task = (record.task ?? '').toLowerCase();
    const caller = (record.caller?.exe ?? '').toLowerCase();
    const ok =
      field === 'type'
        ? type.includes(want)
        : field === 'task'
          ? task.includes(want)
          : field === 'caller'
            ? caller.includes(want)
            : type.includes(want) || task.includes(want) || caller.includes(want);
    if (!ok) return false;
  }
  return true;
}

/** How many record lines fit: the terminal's rows less the frame (and the detail pane). */
export function pageHeight(rows: number, detail: boolean): number {
  return Math.max(3, rows - (detail ? 16 : 8));
}

/** What the viewer shows: the filtered records, the cursor's index, and the visible window. */
export interface AuditWindow {
  readonly shown: readonly AuditRecordLike[];
  /** The cursor's index in `shown` (-1 when empty). */
  readonly at: number;
  readonly start: number;
  readonly height: number;
}

/** The filtered records and the cursor's index in them (-1 when none). */
function cursorAt(state: AuditState): { readonly shown: readonly AuditRecordLike[]; readonly at: number } {
  const shown = state.records.filter((r) => matchesFilter(r, state.filter));
  const last = shown.length - 1;
  return { shown, at: state.cursor === null ? last : Math.min(state.cursor, last) };
}

/**
 * The window of the filtered records that shows, scrolled to the cursor.
 * @param state - records, filter, cursor and detail pane
 * @param rows - the terminal's height
 */
export function auditWindow(state: AuditState, rows: number): AuditWindow {
  const { shown, at } = cursorAt(state);
  const height = pageHeight(rows, state.detail);
  const start = Math.max(0, Math.min(at - height + 1, shown.length - height));
  return { shown, at, start, height };
}

/** The cursor after moving `delta` from `at`: null again once it reaches the newest going down. */
function moveCursor(at: number, delta: number, count: number): number | null {
  const last = count - 1;
  const next = Math.max(0, Math.min(last, at + delta));
  return next >= last && delta > 0 ? null : next;
}

/**
 * The next state of the audit viewer. Pure: the hook reads the log and asks for verify.
 * @param state - the current state
 * @param action - what happened
 * @returns the next state
 */
export function reduceAudit(state: AuditState, action: AuditAction): AuditState {
  switch (action.type) {
    case 'reset':
      return { ...state, records: [] };
    case 'records':
      return { ...state, records: [...state.records, ...action.records].slice(-MAX_AUDIT_RECORDS) };
    case 'move': {
      const { shown, at } = cursorAt(state);
      return { ...state, cursor: moveCursor(at, action.delta, shown.length) };
    }
    case 'detail':
      return { ...state, detail: !state.detail };
    case 'edit':
      return { ...state, editing: true };
    case 'filter':
      // null: the prompt was left without a change.
      return action.filter === null
        ? { ...state, editing: false }
        : { ...state, filter: action.filter.trim(), cursor: null, editing: false };
    case 'follow':
      return { ...state, follow: !state.follow };
    case 'verify':
      return { ...state, verify: 'running' };
    case 'verified':
      return { ...state, verify: action.result };
    case 'failed':
      return { ...state, verify: state.verify === 'running' ? null : state.verify, note: action.message };
  }
}

/**
 * What a key does while the filter prompt is closed: ↑↓ PgUp PgDn move, Enter opens or
 * closes the detail pane, `/` filters, `f` follows or pauses, `v` verifies.
 * @param input - the text of the key
 * @param key - the named keys
 * @param height - the window's height (a page is one line less)
 */
export function auditKey(input: string, key: Keys, height: number): AuditAction | null {
  const page = Math.max(1, height - 1);
  if (key.upArrow === true) return { type: 'move', delta: -1 };
  if (key.downArrow === true) return { type: 'move', delta: 1 };
  if (key.pageUp === true) return { type: 'move', delta: -page };
  if (key.pageDown === true) return { type: 'move', delta: page };
  if (key.return === true) return { type: 'detail' };
  if (key.ctrl === true) return null;
  if (input === '/') return { type: 'edit' };
  if (input === 'f') return { type: 'follow' };
  return input === 'v' ? { type: 'verify' } : null;
}

/** The verify badge: its text, and whether it is good news, bad news or neither. */
export function verifyBadge(verify: AuditVerifyResult | 'running' | null): {
  readonly text: string;
  readonly tone: 'none' | 'ok' | 'broken';
} {
  if (verify === null) return { text: 'chain: not verified (v)', tone: 'none' };
  if (verify === 'running') return { text: 'chain: verifying…', tone: 'none' };
  if (verify.ok) {
    const mac = verify.macChecked ? ', MAC checked' : ', MAC not checked (locked)';
    const unsealed = verify.unsealed > 0 ? `, ${String(verify.unsealed)} unsealed` : '';
    return { text: `chain ok: ${String(verify.records)} records${mac}${unsealed}`, tone: 'ok' };
  }
  const p = verify.firstProblem;
  return {
    text: `chain BROKEN${p === null ? '' : `: ${p.kind} at ${p.file}:${String(p.line)} (${p.message})`}`,
    tone: 'broken',
  };
}

/**
 * A record's line in the list: seq, time (not when compact), type, task, caller. Paths and names
 * came from other processes: each goes through `visible`, so none can move the cursor.
 */
export function recordLine(record: AuditRecordLike, compact: boolean): string {
  const time = compact ? '' : `${visible(record.time.replace('T', ' ').slice(0, 19))} `;
  const task = visible(record.task ?? '');
  return `${fit(String(record.seq), 6)} ${time}${fit(visible(record.type), 16)} ${fit(task, 12)} ${visible(record.caller?.exe ?? '')}`;
}

/**
 * The detail pane's lines: every own field of the record, strings escaped, other values as
 * JSON (escaped too); a command as `cwd` and `command` lines, shell-quoted as the approver saw it.
 */
export function detailLines(record: AuditRecordLike): readonly (readonly [string, string])[] {
  return Object.entries(record).flatMap(([k, v]): (readonly [string, string])[] => {
    const c = k === 'command' ? record.command : undefined;
    if (c !== undefined) {
      return [
        ['cwd', shellQuote(c.cwd, { more: c.cwdMore })],
        ['command', quoteCommand(c.argv, { more: c.argvMore, omitted: c.argvOmitted })],
      ];
    }
    return [[visible(k), visible(typeof v === 'string' ? v : JSON.stringify(v))]];
  });
}
