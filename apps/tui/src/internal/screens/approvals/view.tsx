// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import type { ApprovalInfo } from '@cora/ipc';
import { useColor } from '../../context.tsx';
import { MaskedInput } from '../../fields.tsx';
import { countdown } from '../../util.ts';
import { ancestryLine } from './state.ts';
import { useApprovals, type ApprovalsModel } from './use-approvals.ts';

/**
 * The approval queue (architecture §7 "Approvals"): prove the passphrase once, then decide pending
 * requests as they arrive, with a bell on each.
 */
export function Approvals(): ReactElement {
  return <ApprovalsView {...useApprovals()} />;
}

/** The approval queue drawn from its model. */
function ApprovalsView(model: ApprovalsModel): ReactElement {
  const { phase, pending, recent, selected, note } = model.state;
  return (
    <Box flexDirection="column">
      {phase === 'idle' ? (
        <Text>
          Approve or deny requests of tasks with approve: once/session/window. Press Enter and give the
          passphrase to start.
        </Text>
      ) : null}
      {phase === 'passphrase' ? (
        <MaskedInput
          label="Passphrase to approve:"
          kind="passphrase"
          onCancel={model.cancel}
          onSubmit={model.start}
        />
      ) : null}
      {phase === 'ready' && pending.length === 0 ? <Text dimColor>No pending requests.</Text> : null}
      {pending.map((info, i) => (
        <Request
          key={info.id}
          info={info}
          selected={i === selected}
          now={model.now}
          compact={model.compact}
        />
      ))}
      {recent.length === 0 ? null : (
        <Box flexDirection="column" marginTop={1}>
          <Text bold>Recent</Text>
          {recent.map((r) => (
            <Text key={r} dimColor>
              {r}
            </Text>
          ))}
        </Box>
      )}
      {note === '' ? null : <Text>{note}</Text>}
    </Box>
  );
}

function Request(props: {
  info: ApprovalInfo;
  selected: boolean;
  now: number;
  compact: boolean;
}): ReactElement {
  const color = useColor();
  const { info } = props;
  return (
    <Box flexDirection="column" borderStyle={props.selected ? 'double' : 'single'} paddingX={1}>
      <Text>
        <Text bold {...color('yellow')}>
          #{info.id} {info.task}
        </Text>{' '}
        → {info.target} <Text dimColor>expires in {countdown(info.expiresAt, props.now)}</Text>
      </Text>
      <Text wrap="truncate-end">argv: {info.argv.join(' ')}</Text>
      <Text wrap="truncate-middle">cwd: {info.cwd}</Text>
      <Text wrap="truncate-middle">
        caller: {info.caller.exe} (pid {info.caller.pid})
        {info.caller.script === null ? '' : ` script ${info.caller.script} (weaker evidence)`}
      </Text>
      {props.compact ? null : <Text wrap="truncate-middle">ancestry: {ancestryLine(info)}</Text>}
      <Text>secrets: {info.secrets.join(', ') || '—'}</Text>
      <Text dimColor>o allow once{info.window === null ? '' : ` · w allow for ${info.window}`} · n deny</Text>
    </Box>
  );
}
