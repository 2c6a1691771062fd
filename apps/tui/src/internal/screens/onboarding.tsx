// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { SecretBuf } from '@cora/memstore';
import { addTask, parsePolicy, serializePolicy } from '@cora/policy';
import type { AgentBinary, DotenvImport } from '../../types.ts';
import { useColor, useTui } from '../context.tsx';
import { Confirm, MAX_PASSPHRASE_BYTES, MAX_VALUE_BYTES, MaskedInput, TextField } from '../fields.tsx';
import { isSecretName, messageOf, splitArgv } from '../util.ts';

type Step =
  | { readonly kind: 'intro' }
  | { readonly kind: 'pass1' }
  | { readonly kind: 'pass2' }
  | { readonly kind: 'working'; readonly what: string }
  | { readonly kind: 'secrets' }
  | { readonly kind: 'secret-name' }
  | { readonly kind: 'secret-value'; readonly name: string }
  | { readonly kind: 'import-path' }
  | { readonly kind: 'import-preview'; readonly parsed: DotenvImport }
  | { readonly kind: 'agents'; readonly agents: readonly AgentBinary[] }
  | { readonly kind: 'task-name'; readonly agent: AgentBinary }
  | { readonly kind: 'task-target'; readonly agent: AgentBinary; readonly task: string }
  | { readonly kind: 'done'; readonly task: string | null; readonly target: string | null };

/** Props of {@link Onboarding}. */
export interface OnboardingProps {
  readonly onDone: () => void;
  readonly onQuit: () => void;
}

/**
 * First run (no vault): what Cora does, the passphrase twice with a strength meter, the
 * vault, first secrets, an agent and a first task, and the `cr exec` line to use. The
 * passphrase is kept in secure memory for the length of the setup (so it is asked once) and
 * wiped when the setup ends or is left.
 */
export function Onboarding(props: OnboardingProps): ReactElement {
  const { backend, call } = useTui();
  const color = useColor();
  const [step, setStep] = useState<Step>({ kind: 'intro' });
  const [note, setNote] = useState('');
  const [added, setAdded] = useState<readonly string[]>([]);
  const pass = useRef<SecretBuf | null>(null);
  const importing = useRef<DotenvImport | null>(null);

  const dropPass = (): void => {
    pass.current?.wipe();
    pass.current = null;
  };
  const dropImport = (): void => {
    for (const v of importing.current?.values ?? []) v.wipe();
    importing.current = null;
  };
  useEffect(
    () => () => {
      dropPass();
      dropImport();
    },
    [],
  );

  useInput(
    (text, key) => {
      if (step.kind === 'intro' && key.return) setStep({ kind: 'pass1' });
      else if (step.kind === 'secrets') {
        if (text === 'a') setStep({ kind: 'secret-name' });
        else if (text === 'i') setStep({ kind: 'import-path' });
        else if (text === 'n' || key.return) {
          setNote('');
          setStep({ kind: 'working', what: 'looking for agents on PATH…' });
          backend.findAgents().then(
            (agents) => {
              setStep({ kind: 'agents', agents });
            },
            () => {
              setStep({ kind: 'agents', agents: [] });
            },
          );
        }
      } else if (step.kind === 'done' && key.return) {
        dropPass();
        props.onDone();
      }
    },
    { isActive: step.kind === 'intro' || step.kind === 'secrets' || step.kind === 'done' },
  );

  const cancelled = (why: string): void => {
    setNote(why === 'too-long' ? 'too long' : 'cancelled');
  };

  let body: ReactElement;
  switch (step.kind) {
    case 'intro':
      body = (
        <Box flexDirection="column">
          <Text>Cora keeps your API keys and tokens encrypted, and out of your agents' reach.</Text>
          <Text>
            Agents and scripts name a task; Cora runs the command with that task's secrets and hands back
            masked output, never a value.
          </Text>
          <Text>Every request is checked against your policy and written to a tamper-evident audit log.</Text>
          <Text> </Text>
          <Text>
            There is no vault at <Text bold>{backend.vaultPath}</Text> yet. Press <Text bold>Enter</Text> to
            create one.
          </Text>
        </Box>
      );
      break;
    case 'pass1':
      body = (
        <MaskedInput
          label="New passphrase:"
          maxBytes={MAX_PASSPHRASE_BYTES}
          measure={(v) => backend.passphraseWarnings(v)}
          onCancel={(why) => {
            cancelled(why);
            setStep({ kind: 'intro' });
          }}
          onSubmit={(value) => {
            if (value.length === 0) {
              value.wipe();
              setNote('the passphrase is empty');
              setStep({ kind: 'pass1' });
              return;
            }
            const warnings = backend.passphraseWarnings(value);
            dropPass();
            pass.current = value;
            setNote(warnings.length === 0 ? '' : `warning: weak passphrase: ${warnings.join('; ')}`);
            setStep({ kind: 'pass2' });
          }}
        />
      );
      break;
    case 'pass2':
      body = (
        <MaskedInput
          label="Repeat the passphrase:"
          maxBytes={MAX_PASSPHRASE_BYTES}
          onCancel={(why) => {
            dropPass();
            cancelled(why);
            setStep({ kind: 'pass1' });
          }}
          onSubmit={(second) => {
            const first = pass.current;
            let same: boolean;
            try {
              same = first !== null && first.equals(second);
            } finally {
              second.wipe();
            }
            if (!same || first === null) {
              dropPass();
              setNote('the two passphrases differ; type it again');
              setStep({ kind: 'pass1' });
              return;
            }
            setNote('');
            setStep({ kind: 'working', what: 'creating the vault (Argon2id takes a few seconds)…' });
            void (async () => {
              try {
                await backend.createVault(first);
                setStep({ kind: 'working', what: 'starting the service and unlocking…' });
                await call((s) => s.unlock(first));
                setStep({ kind: 'secrets' });
              } catch (error) {
                dropPass();
                setNote(messageOf(error));
                setStep(
                  backend.vaultExists() ? { kind: 'done', task: null, target: null } : { kind: 'pass1' },
                );
              }
            })();
          }}
        />
      );
      break;
    case 'working':
      body = <Text>{step.what}</Text>;
      break;
    case 'secrets':
      body = (
        <Box flexDirection="column">
          <Text {...color('green')}>Vault created at {backend.vaultPath} and unlocked.</Text>
          <Text>Secrets so far: {added.length === 0 ? 'none' : added.join(', ')}</Text>
          <Text>
            <Text bold>a</Text> add a secret · <Text bold>i</Text> import a .env file · <Text bold>n</Text>{' '}
            next
          </Text>
        </Box>
      );
      break;
    case 'secret-name':
      body = (
        <TextField
          label="Secret name (e.g. OPENAI_API_KEY):"
          onCancel={() => {
            setStep({ kind: 'secrets' });
          }}
          onSubmit={(name) => {
            if (!isSecretName(name)) {
              setNote(`'${name}' is not a valid name: use [A-Za-z_][A-Za-z0-9_]*`);
              return;
            }
            setNote('');
            setStep({ kind: 'secret-value', name });
          }}
        />
      );
      break;
    case 'secret-value':
      body = (
        <MaskedInput
          label={`Value for ${step.name} (hidden):`}
          maxBytes={MAX_VALUE_BYTES}
          onCancel={(why) => {
            cancelled(why);
            setStep({ kind: 'secrets' });
          }}
          onSubmit={(value) => {
            const { name } = step;
            setStep({ kind: 'working', what: `storing ${name}…` });
            void (async () => {
              try {
                const p = pass.current;
                if (p === null) throw new Error('the setup lost its passphrase; run cr tui again');
                await call((s) => s.setSecret(name, value, p));
                setAdded((a) => [...a.filter((x) => x !== name), name]);
                setNote(`Stored ${name}.`);
              } catch (error) {
                setNote(messageOf(error));
              } finally {
                value.wipe();
              }
              setStep({ kind: 'secrets' });
            })();
          }}
        />
      );
      break;
    case 'import-path':
      body = (
        <TextField
          label="Path of the .env file:"
          onCancel={() => {
            setStep({ kind: 'secrets' });
          }}
          onSubmit={(file) => {
            backend.readDotenv(file).then(
              (parsed) => {
                dropImport();
                importing.current = parsed;
                setStep({ kind: 'import-preview', parsed });
              },
              (error: unknown) => {
                setNote(messageOf(error));
                setStep({ kind: 'secrets' });
              },
            );
          }}
        />
      );
      break;
    case 'import-preview': {
      const { parsed } = step;
      const ok = parsed.problems.length === 0 && parsed.names.length > 0;
      body = (
        <Box flexDirection="column">
          {parsed.problems.map((p) => (
            <Text key={p}>{p}</Text>
          ))}
          <Text>
            {parsed.names.length} secret(s): <Text bold>{parsed.names.join(', ') || '—'}</Text>
          </Text>
          <Confirm
            question={ok ? 'Import them?' : 'Nothing can be imported. Back?'}
            onNo={() => {
              dropImport();
              setStep({ kind: 'secrets' });
            }}
            onYes={() => {
              if (!ok) {
                dropImport();
                setStep({ kind: 'secrets' });
                return;
              }
              setStep({ kind: 'working', what: 'importing…' });
              void (async () => {
                try {
                  const p = pass.current;
                  if (p === null) throw new Error('the setup lost its passphrase; run cr tui again');
                  await call((s) => s.importSecrets(parsed.names, parsed.values, p));
                  setAdded((a) => [...a.filter((x) => !parsed.names.includes(x)), ...parsed.names]);
                  setNote(`Imported ${parsed.names.join(', ')}.`);
                } catch (error) {
                  setNote(messageOf(error));
                } finally {
                  dropImport();
                }
                setStep({ kind: 'secrets' });
              })();
            }}
          />
        </Box>
      );
      break;
    }
    case 'agents':
      body = (
        <AgentPicker
          agents={step.agents}
          onPick={(agent) => {
            setStep(
              agent === null ? { kind: 'done', task: null, target: null } : { kind: 'task-name', agent },
            );
          }}
        />
      );
      break;
    case 'task-name':
      body = (
        <TextField
          label={`Name of the task ${step.agent.name} will run:`}
          initial="deploy"
          onCancel={() => {
            setStep({ kind: 'done', task: null, target: null });
          }}
          onSubmit={(task) => {
            if (!/^[A-Za-z0-9_.-]{1,64}$/u.test(task)) {
              setNote('a task name is letters, digits, _ . - (at most 64)');
              return;
            }
            setNote('');
            setStep({ kind: 'task-target', agent: step.agent, task });
          }}
        />
      );
      break;
    case 'task-target':
      body = (
        <TextField
          label={`Command ${step.task} may run (its secrets: ${added.join(', ') || 'none'}):`}
          hint="e.g. curl, gh, npm · Enter to confirm · Esc to skip"
          onCancel={() => {
            setStep({ kind: 'done', task: null, target: null });
          }}
          onSubmit={(line) => {
            const [command] = splitArgv(line);
            const target = command === undefined ? null : backend.resolveCommand(command);
            if (target === null) {
              setNote(`${line}: no executable by that name on PATH`);
              return;
            }
            const { agent, task } = step;
            setStep({ kind: 'working', what: `adding task ${task}…` });
            void (async () => {
              try {
                const p = pass.current;
                if (p === null) throw new Error('the setup lost its passphrase; run cr tui again');
                const current = parsePolicy(await call((s) => s.getPolicy()));
                const next = addTask(current, task, {
                  secrets: [...added],
                  targets: [target],
                  via: [agent.path],
                });
                await call((s) => s.setPolicy(serializePolicy(next), p));
                setNote('');
                setStep({ kind: 'done', task, target: command ?? target });
              } catch (error) {
                setNote(messageOf(error));
                setStep({ kind: 'task-target', agent, task });
              }
            })();
          }}
        />
      );
      break;
    case 'done':
      body = (
        <Box flexDirection="column">
          <Text {...color('green')} bold>
            Cora is set up.
          </Text>
          {step.task === null ? (
            <Text>Add a task later with: cr policy task add NAME --target PATH SECRETS…</Text>
          ) : (
            <Text>
              Tell your agent to run:{' '}
              <Text bold>
                cr exec {step.task} -- {step.target} …
              </Text>
            </Text>
          )}
          <Text>Press Enter for the dashboard.</Text>
        </Box>
      );
      break;
  }
  return (
    <Box flexDirection="column">
      {body}
      {note === '' ? null : <Text>{note}</Text>}
      {step.kind === 'intro' ? (
        <Text dimColor>
          Ctrl-C quits · <QuitKey onQuit={props.onQuit} />
        </Text>
      ) : null}
    </Box>
  );
}

function QuitKey(props: { onQuit: () => void }): ReactElement {
  useInput((text) => {
    if (text === 'q') props.onQuit();
  });
  return <Text>q quits</Text>;
}

function AgentPicker(props: {
  agents: readonly AgentBinary[];
  onPick: (agent: AgentBinary | null) => void;
}): ReactElement {
  const [i, setI] = useState(0);
  useInput((text, key) => {
    if (key.upArrow) setI((x) => Math.max(0, x - 1));
    else if (key.downArrow) setI((x) => Math.min(Math.max(0, props.agents.length - 1), x + 1));
    else if (text === 's' || key.escape) props.onPick(null);
    else if (key.return) props.onPick(props.agents[i] ?? null);
  });
  if (props.agents.length === 0) {
    return (
      <Text>
        No agent binaries found on PATH (claude, codex, gemini, aider, cursor-agent…). Press s to skip.
      </Text>
    );
  }
  return (
    <Box flexDirection="column">
      <Text>Agents found on PATH: pick one to create a first task it may run (Enter), or s to skip.</Text>
      {props.agents.map((a, x) => (
        <Text key={a.path} inverse={x === i}>
          {a.name} <Text dimColor>{a.path}</Text>
        </Text>
      ))}
    </Box>
  );
}
