// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { AuditVerifyResult } from '@cora/ipc';
import type { AuditRecordLike } from '../../types.ts';
import { useColor, useTui, type ColorProps } from '../context.tsx';
import { TextField } from '../fields.tsx';
import { fit, messageOf } from '../util.ts';

/** Most records kept in memory (the newest win). */
const MAX_AUDIT_RECORDS = 5000;

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

/** The audit log: scroll, filter, follow, chain verify, detail pane (DESIGN §10). */
export function Audit(): ReactElement {
  const { backend, call, rows, compact } = useTui();
  const color = useColor();
  const [records, setRecords] = useState<readonly AuditRecordLike[]>([]);
  const [follow, setFollow] = useState(true);
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState(false);
  const [cursor, setCursor] = useState<number | null>(null); // null = stick to the newest
  const [detail, setDetail] = useState(false);
  const [verify, setVerify] = useState<AuditVerifyResult | 'running' | null>(null);
  const [note, setNote] = useState('');

  useEffect(() => {
    const abort = new AbortController();
    setRecords([]);
    void (async () => {
      try {
        let batch: AuditRecordLike[] = [];
        let flush: ReturnType<typeof setTimeout> | null = null;
        abort.signal.addEventListener('abort', () => {
          if (flush !== null) clearTimeout(flush);
          batch = [];
        });
        for await (const record of backend.readAudit({ follow, signal: abort.signal })) {
          if (abort.signal.aborted) break;
          batch.push(record);
          // Batch renders: a large log arrives in one update, not thousands.
          flush ??= setTimeout(() => {
            const add = batch;
            batch = [];
            flush = null;
            setRecords((prev) => [...prev, ...add].slice(-MAX_AUDIT_RECORDS));
          }, 30);
        }
        if (flush !== null) clearTimeout(flush);
        if (batch.length > 0 && !abort.signal.aborted) {
          const add = batch;
          batch = [];
          setRecords((prev) => [...prev, ...add].slice(-MAX_AUDIT_RECORDS));
        }
      } catch (error) {
        if (!abort.signal.aborted) setNote(messageOf(error));
      }
    })();
    return () => {
      abort.abort();
    };
  }, [backend, follow]);

  const shown = records.filter((r) => matchesFilter(r, filter));
  const last = shown.length - 1;
  const at = cursor === null ? last : Math.min(cursor, last);
  const height = Math.max(3, rows - (detail ? 16 : 8));

  useInput(
    (text, key) => {
      const page = Math.max(1, height - 1);
      const move = (delta: number): void => {
        const next = Math.max(0, Math.min(last, at + delta));
        setCursor(next >= last && delta > 0 ? null : next);
      };
      if (key.upArrow) move(-1);
      else if (key.downArrow) move(1);
      else if (key.pageUp) move(-page);
      else if (key.pageDown) move(page);
      else if (key.return) setDetail((d) => !d);
      else if (text === '/') setEditing(true);
      else if (text === 'f') setFollow((f) => !f);
      else if (text === 'v') {
        setVerify('running');
        call((s) => s.verifyAudit()).then(setVerify, (error: unknown) => {
          setVerify(null);
          setNote(messageOf(error));
        });
      }
    },
    { isActive: !editing },
  );

  const start = Math.max(0, Math.min(at - height + 1, shown.length - height));
  const selected = shown[at];
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{follow ? '● following' : '○ paused'}</Text>
        <Text dimColor>
          {' '}
          · {shown.length}/{records.length} records{filter === '' ? '' : ` · filter: ${filter}`} ·{' '}
        </Text>
        <VerifyBadge verify={verify} color={color} />
      </Text>
      {shown.length === 0 ? (
        <Text dimColor>No records{filter === '' ? ' yet' : ' match the filter'}.</Text>
      ) : null}
      {shown.slice(start, start + height).map((r, i) => (
        <Text key={`${String(r.seq)}-${r.time}`} inverse={start + i === at} wrap="truncate-end">
          {fit(String(r.seq), 6)} {compact ? '' : `${r.time.replace('T', ' ').slice(0, 19)} `}
          {fit(r.type, 16)} {fit(r.task ?? '', 12)} {r.caller?.exe ?? ''}
        </Text>
      ))}
      {detail && selected !== undefined ? <Detail record={selected} /> : null}
      {editing ? (
        <TextField
          label="Filter (type:X task:X caller:X, empty = all):"
          initial={filter}
          onCancel={() => {
            setEditing(false);
          }}
          onSubmit={(value) => {
            setFilter(value.trim());
            setCursor(null);
            setEditing(false);
          }}
        />
      ) : null}
      {note === '' ? null : <Text>{note}</Text>}
    </Box>
  );
}

function VerifyBadge(props: {
  verify: AuditVerifyResult | 'running' | null;
  color: (name: string) => ColorProps;
}): ReactElement {
  const { verify } = props;
  if (verify === null) return <Text dimColor>chain: not verified (v)</Text>;
  if (verify === 'running') return <Text>chain: verifying…</Text>;
  if (verify.ok) {
    return (
      <Text {...props.color('green')}>
        chain ok: {verify.records} records{verify.macChecked ? ', MAC checked' : ', MAC not checked (locked)'}
        {verify.unsealed > 0 ? `, ${String(verify.unsealed)} unsealed` : ''}
      </Text>
    );
  }
  const p = verify.firstProblem;
  return (
    <Text {...props.color('red')} bold>
      chain BROKEN{p === null ? '' : `: ${p.kind} at ${p.file}:${String(p.line)} (${p.message})`}
    </Text>
  );
}

function Detail({ record }: { record: AuditRecordLike }): ReactElement {
  const entries = Object.entries(record);
  return (
    <Box flexDirection="column" borderStyle="single" paddingX={1}>
      {entries.map(([k, v]) => (
        <Text key={k} wrap="truncate-end">
          <Text dimColor>{k.padEnd(10)}</Text> {typeof v === 'string' ? v : JSON.stringify(v)}
        </Text>
      ))}
    </Box>
  );
}
