// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useEffect, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { PolicyExplainResult } from '@cora/ipc';
import { parsePolicy, formatCallerSpec, type Policy } from '@cora/policy';
import { useColor, useTui } from '../context.tsx';
import { TextField } from '../fields.tsx';
import { messageOf, splitArgv } from '../util.ts';

type Mode =
  | { readonly kind: 'list' }
  | { readonly kind: 'argv'; readonly task: string }
  | { readonly kind: 'caller'; readonly task: string; readonly argv: readonly string[] };

/** Callers and tasks of the policy, and `explain` for a task and argv (DESIGN §7). */
export function Tasks(): ReactElement {
  const { backend, call, compact } = useTui();
  const color = useColor();
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [selected, setSelected] = useState(0);
  const [mode, setMode] = useState<Mode>({ kind: 'list' });
  const [note, setNote] = useState('');
  const [explained, setExplained] = useState<{
    task: string;
    argv: readonly string[];
    result: PolicyExplainResult;
  } | null>(null);

  const refresh = useCallback(async () => {
    try {
      setPolicy(parsePolicy(await call((s) => s.getPolicy())));
      setNote('');
    } catch (error) {
      setPolicy(null);
      setNote(messageOf(error));
    }
  }, [call]);
  useEffect(() => {
    void refresh();
  }, [refresh]);

  const names = policy === null ? [] : Object.keys(policy.tasks).sort();
  useInput(
    (text, key) => {
      if (key.upArrow) setSelected((i) => Math.max(0, i - 1));
      else if (key.downArrow) setSelected((i) => Math.min(Math.max(0, names.length - 1), i + 1));
      else if (text === 'r') void refresh();
      else if (text === 'e') {
        const task = names[selected];
        if (task !== undefined) setMode({ kind: 'argv', task });
      }
    },
    { isActive: mode.kind === 'list' },
  );

  const explain = (task: string, argv: readonly string[], caller: string): void => {
    setMode({ kind: 'list' });
    void (async () => {
      try {
        const result = await call((s) => s.explain(task, argv, caller === '' ? undefined : caller));
        setExplained({ task, argv, result });
        setNote('');
      } catch (error) {
        setNote(messageOf(error));
      }
    })();
  };

  return (
    <Box flexDirection="column">
      {policy === null ? (
        <Text dimColor>The policy is inside the vault: unlock to see it (Dashboard: u).</Text>
      ) : (
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
                <Text inverse={i === selected}>
                  {name}{' '}
                  <Text dimColor>
                    approve: {t.approve} · output: {t.output}
                  </Text>
                </Text>
                {compact ? null : (
                  <Text wrap="truncate-middle">
                    {'  '}secrets: {t.secrets.join(', ') || '—'} · targets:{' '}
                    {t.targets.join(', ') || '— (refuses all)'}
                    {t.via === undefined || t.via.length === 0 ? '' : ` · via: ${t.via.join(', ')}`}
                  </Text>
                )}
              </Box>
            );
          })}
        </Box>
      )}
      <Box marginTop={1} flexDirection="column">
        {mode.kind === 'argv' ? (
          <TextField
            label={`Explain ${mode.task}: command line:`}
            hint="e.g. curl https://api.example.com · Enter to continue · Esc to cancel"
            onCancel={() => {
              setMode({ kind: 'list' });
            }}
            onSubmit={(line) => {
              const argv = splitArgv(line);
              if (argv.length === 0) {
                setNote('type the command to check');
                return;
              }
              setMode({ kind: 'caller', task: mode.task, argv });
            }}
          />
        ) : mode.kind === 'caller' ? (
          <TextField
            label="As caller (a path or a name on PATH; empty = this cr):"
            onCancel={() => {
              setMode({ kind: 'list' });
            }}
            onSubmit={(input) => {
              const name = input.trim();
              // The service takes an absolute path; a bare name is looked up like a target.
              const caller = name === '' || name.startsWith('/') ? name : backend.resolveCommand(name);
              if (caller === null) {
                setNote(`${name}: no executable by that name on PATH`);
                return;
              }
              explain(mode.task, mode.argv, caller);
            }}
          />
        ) : null}
        {explained === null ? null : (
          <Box flexDirection="column">
            <Text>
              {explained.task} -- {explained.argv.join(' ')}:{' '}
              <Text
                bold
                {...color(
                  explained.result.outcome === 'allow'
                    ? 'green'
                    : explained.result.outcome === 'deny'
                      ? 'red'
                      : 'yellow',
                )}
              >
                {explained.result.outcome}
              </Text>{' '}
              <Text dimColor>({explained.result.reason})</Text>
            </Text>
            {explained.result.steps.map((step) => (
              <Text key={step.step} wrap="truncate-end">
                {'  '}
                {step.ok ? '✓' : '✗'} {step.step}: {step.detail}
              </Text>
            ))}
          </Box>
        )}
        {note === '' ? null : <Text>{note}</Text>}
      </Box>
    </Box>
  );
}
