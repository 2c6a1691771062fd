// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import type { AuditRecordLike } from '../../../types.ts';
import { useColor } from '../../context.tsx';
import { TextField } from '../../fields.tsx';
import { auditWindow, detailLines, recordLine, verifyBadge, type AuditState } from './state.ts';
import { useAudit, type AuditModel } from './use-audit.ts';

/** The audit log: scroll, filter, follow, chain verify, detail pane (architecture §10). */
export function Audit(): ReactElement {
  return <AuditView {...useAudit()} />;
}

/** The audit viewer drawn from its model. */
function AuditView(model: AuditModel): ReactElement {
  const { state } = model;
  const { shown, at, start, height } = auditWindow(state, model.rows);
  const selected = shown[at];
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>{state.follow ? '● following' : '○ paused'}</Text>
        <Text dimColor>
          {' '}
          · {shown.length}/{state.records.length} records
          {state.filter === '' ? '' : ` · filter: ${state.filter}`} ·{' '}
        </Text>
        <VerifyBadge verify={state.verify} />
      </Text>
      {shown.length === 0 ? (
        <Text dimColor>No records{state.filter === '' ? ' yet' : ' match the filter'}.</Text>
      ) : null}
      {shown.slice(start, start + height).map((r, i) => (
        <Text key={`${String(r.seq)}-${r.time}`} inverse={start + i === at} wrap="truncate-end">
          {recordLine(r, model.compact)}
        </Text>
      ))}
      {state.detail && selected !== undefined ? <Detail record={selected} /> : null}
      {state.editing ? (
        <TextField
          label="Filter (type:X task:X caller:X, empty = all):"
          initial={state.filter}
          onCancel={() => {
            model.filter(null);
          }}
          onSubmit={model.filter}
        />
      ) : null}
      {state.note === '' ? null : <Text>{state.note}</Text>}
    </Box>
  );
}

function VerifyBadge({ verify }: { verify: AuditState['verify'] }): ReactElement {
  const color = useColor();
  const badge = verifyBadge(verify);
  if (badge.tone === 'none') return <Text dimColor={verify === null}>{badge.text}</Text>;
  return badge.tone === 'ok' ? (
    <Text {...color('green')}>{badge.text}</Text>
  ) : (
    <Text {...color('red')} bold>
      {badge.text}
    </Text>
  );
}

function Detail({ record }: { record: AuditRecordLike }): ReactElement {
  return (
    <Box flexDirection="column" borderStyle="single" paddingX={1}>
      {detailLines(record).map(([k, v]) => (
        <Text key={k} wrap="truncate-end">
          <Text dimColor>{k.padEnd(10)}</Text> {v}
        </Text>
      ))}
    </Box>
  );
}
