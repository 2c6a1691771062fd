// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import { describeConfinement, formatCallerSpec, type Policy } from '@cora/policy';
import { useColor } from '../../context.tsx';
import { TextField } from '../../fields.tsx';
import { outcomeColor, taskNames, type Explained } from './state.ts';
import { useTasks, type TasksModel } from './use-tasks.ts';

/** Callers and tasks of the policy, and `explain` for a task and argv (architecture §7). */
export function Tasks(): ReactElement {
  return <TasksView {...useTasks()} />;
}

/** The tasks screen drawn from its model. */
function TasksView(model: TasksModel): ReactElement {
  const { policy, mode, note, explained, selected } = model.state;
  return (
    <Box flexDirection="column">
      {policy === null ? (
        <Text dimColor>The policy is inside the vault: unlock to see it (Dashboard: u).</Text>
      ) : (
        <PolicyList policy={policy} selected={selected} compact={model.compact} />
      )}
      <Box marginTop={1} flexDirection="column">
        {mode.kind === 'argv' ? (
          <TextField
            label={`Explain ${mode.task}: command line:`}
            hint="e.g. curl https://api.example.com · Enter to continue · Esc to cancel"
            onCancel={model.cancel}
            onSubmit={model.argv}
          />
        ) : mode.kind === 'caller' ? (
          <TextField
            label="As caller (a path or a name on PATH; empty = this cr):"
            onCancel={model.cancel}
            onSubmit={model.caller}
          />
        ) : null}
        {explained === null ? null : <Explanation explained={explained} />}
        {note === '' ? null : <Text>{note}</Text>}
      </Box>
    </Box>
  );
}

function PolicyList(props: { policy: Policy; selected: number; compact: boolean }): ReactElement {
  const { policy } = props;
  const names = taskNames(policy);
  return (
    <Box flexDirection="column">
      <Text bold>
        Callers {policy.callers.length === 0 ? <Text dimColor>(none: only cr itself)</Text> : null}
      </Text>
      {policy.callers.map((c) => (
        <Text key={formatCallerSpec(c)} wrap="truncate-middle">
          {'  '}
          {formatCallerSpec(c)}
        </Text>
      ))}
      <Text bold>Tasks</Text>
      {names.length === 0 ? <Text dimColor> none yet (cr policy task add …)</Text> : null}
      {names.map((name, i) => {
        const t = policy.tasks[name];
        if (t === undefined) return null;
        return (
          <Box key={name} flexDirection="column">
            <Text inverse={i === props.selected}>
              {name}{' '}
              <Text dimColor>
                approve: {t.approve} · output: {t.output}
              </Text>
            </Text>
            {props.compact ? null : (
              <Text wrap="truncate-middle">
                {'  '}secrets: {t.secrets.join(', ') || '—'} · targets:{' '}
                {t.targets.join(', ') || '— (refuses all)'}
                {t.via === undefined || t.via.length === 0 ? '' : ` · via: ${t.via.join(', ')}`}
              </Text>
            )}
            {/* The child's confinement, in the policy package's own words (as cr policy show). */}
            {props.compact
              ? null
              : describeConfinement(t).map((line) => (
                  <Text key={line} dimColor>
                    {'  '}confined: {line}
                  </Text>
                ))}
          </Box>
        );
      })}
    </Box>
  );
}

function Explanation({ explained }: { explained: Explained }): ReactElement {
  const color = useColor();
  const { result } = explained;
  return (
    <Box flexDirection="column">
      <Text>
        {explained.task} -- {explained.argv.join(' ')}:{' '}
        <Text bold {...color(outcomeColor(result.outcome))}>
          {result.outcome}
        </Text>{' '}
        <Text dimColor>({result.reason})</Text>
      </Text>
      {result.steps.map((step) => (
        <Text key={step.step} wrap="truncate-end">
          {'  '}
          {step.ok ? '✓' : '✗'} {step.step}: {step.detail}
        </Text>
      ))}
    </Box>
  );
}
