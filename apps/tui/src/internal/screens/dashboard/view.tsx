// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import { useColor } from '../../context.tsx';
import { Confirm, MaskedInput } from '../../fields.tsx';
import { dashboardRows } from './state.ts';
import { useDashboard, type DashboardModel } from './use-dashboard.ts';

/** Locked/unlocked, idle countdown, socket, vault, secret count; unlock and lock. */
export function Dashboard(): ReactElement {
  return <DashboardView {...useDashboard()} />;
}

/** The dashboard drawn from its model. */
function DashboardView(model: DashboardModel): ReactElement {
  const color = useColor();
  const { status, mode, note } = model.state;
  const unlocked = status?.state === 'unlocked';
  return (
    <Box flexDirection="column">
      {dashboardRows(status, model, model.now).map(({ label, value }) => (
        <Text key={label}>
          <Text dimColor>{`${label.padEnd(model.compact ? 12 : 13)} `}</Text>
          {label === 'state' ? (
            <Text bold {...color(unlocked ? 'green' : 'yellow')}>
              {value}
            </Text>
          ) : (
            <Text wrap="truncate-middle">{value}</Text>
          )}
        </Text>
      ))}
      <Box marginTop={1} flexDirection="column">
        {mode === 'unlock' ? (
          <MaskedInput
            label="Passphrase to unlock:"
            kind="passphrase"
            onCancel={model.cancel}
            onSubmit={model.unlock}
          />
        ) : mode === 'lock' ? (
          <Confirm
            question="Lock now? Every secret is wiped from the service's memory."
            onNo={() => {
              model.lock(false);
            }}
            onYes={() => {
              model.lock(true);
            }}
          />
        ) : (
          <Text dimColor>{unlocked ? 'l locks now' : 'u unlocks'}</Text>
        )}
        {note === '' ? null : <Text>{note}</Text>}
      </Box>
    </Box>
  );
}
