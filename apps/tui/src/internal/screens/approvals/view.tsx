// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import type { ApprovalInfo } from '@cora/ipc';
import { approvalLines, visible } from '@cora/display';
import { useColor } from '../../context.tsx';
import { MaskedInput } from '../../fields.tsx';
import { countdown } from '../../util.ts';
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
  // The same lines as `cr approve` (@cora/display): every value escaped, quoted and cut there.
  const lines = approvalLines(info, {
    now: props.now,
    maxBytes: props.compact ? 96 : 256,
    maxCommandBytes: props.compact ? 256 : 1024,
    maxAncestors: props.compact ? 2 : 8,
  });
  return (
    <Box flexDirection="column" borderStyle={props.selected ? 'double' : 'single'} paddingX={1}>
      <Text>
        <Text bold {...color('yellow')}>
          #{info.id} {visible(info.task, { maxBytes: 64 })}
        </Text>{' '}
        <Text dimColor>expires in {countdown(info.expiresAt, props.now)}</Text>
      </Text>
      {lines.map((line, i) => (
        // The label in its own column, so a wrapped value stays indented under its value.
        <Box key={i}>
          <Box width={9} flexShrink={0}>
            <Text>{line.label}</Text>
          </Box>
          <Text {...(line.label === 'file' ? color('yellow') : {})}>{line.value}</Text>
        </Box>
      ))}
      <Text dimColor>o allow once{info.window === null ? '' : ` · w allow for ${info.window}`} · n deny</Text>
    </Box>
  );
}
