// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import { span, visible } from '@cora/display';
import type { GrantInfo } from '@cora/ipc';
import { Confirm } from '../../fields.tsx';
import { grantEnds } from './state.ts';
import { useGrants, type GrantsModel } from './use-grants.ts';

/** The live approval grants, and revoking one (architecture §7). */
export function Grants(): ReactElement {
  return <GrantsView {...useGrants()} />;
}

/** The grants screen drawn from its model. */
function GrantsView(model: GrantsModel): ReactElement {
  const { list, selected, mode, note } = model.state;
  const now = Date.now();
  return (
    <Box flexDirection="column">
      <Text bold>Grants</Text>
      {list === null ? null : list.length === 0 ? (
        <Text dimColor>
          {' '}
          none: an approver makes one with “allow for window” (Approvals: w); locking forgets them all
        </Text>
      ) : (
        list.map((grant, i) => (
          <GrantRow
            key={grant.id}
            grant={grant}
            selected={i === selected}
            now={now}
            compact={model.compact}
          />
        ))
      )}
      <Box marginTop={1} flexDirection="column">
        {mode.kind === 'confirm' ? (
          <Confirm
            question={`Revoke ${mode.grant.id} (${mode.grant.task} for ${visible(mode.grant.caller, { maxBytes: 64 })})? The next request asks again.`}
            onYes={() => {
              model.answer(true);
            }}
            onNo={() => {
              model.answer(false);
            }}
          />
        ) : null}
        {note === '' ? null : <Text>{note}</Text>}
      </Box>
    </Box>
  );
}

function GrantRow(props: {
  grant: GrantInfo;
  selected: boolean;
  now: number;
  compact: boolean;
}): ReactElement {
  const { grant } = props;
  return (
    <Box flexDirection="column">
      <Text inverse={props.selected}>
        {grant.id} {grant.task} <Text dimColor>{grantEnds(grant, props.now, span)}</Text>
      </Text>
      {props.compact ? null : (
        <Text wrap="truncate-middle">
          {'  '}
          {visible(grant.caller)} under parent pid {String(grant.parentPid)} · {grant.scope} · granted{' '}
          {clock(grant.grantedAt)}
          {grant.approver === null ? '' : ` by pid ${String(grant.approver.pid)}`}
        </Text>
      )}
    </Box>
  );
}

/** `14:03` in local time (human output; `--json` and the wire keep ISO UTC). */
function clock(iso: string): string {
  const at = new Date(iso);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return Number.isNaN(at.getTime()) ? iso : `${pad(at.getHours())}:${pad(at.getMinutes())}`;
}
