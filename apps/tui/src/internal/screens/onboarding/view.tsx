// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import type { PolicyExplainResult } from '@cora/ipc';
import { visible } from '@cora/display';
import type { AgentBinary, DotenvImport } from '../../../types.ts';
import { useColor } from '../../context.tsx';
import { Confirm, MaskedInput, TextField } from '../../fields.tsx';
import { canImport } from '../../util.ts';
import { APPROVE_CHOICES, type Step, type TaskDraft } from './state.ts';
import { useOnboarding, type OnboardingModel, type OnboardingProps } from './use-onboarding.ts';

/**
 * First run (no vault): what Cora does, the passphrase twice with a strength meter, the
 * vault, first secrets, an agent and a first task, and the `cr exec` line to use.
 */
export function Onboarding(props: OnboardingProps): ReactElement {
  return <OnboardingView {...useOnboarding(props)} />;
}

/** The setup drawn from its model: one step, its note, and the quit hint on the intro. */
function OnboardingView(model: OnboardingModel): ReactElement {
  const { step, note, seq } = model.state;
  return (
    <Box flexDirection="column">
      {/* Keyed by the prompt: each step's field is new, so a masked one captures afresh. */}
      <StepView key={seq} step={step} model={model} />
      {note === '' ? null : <Text>{note}</Text>}
      {step.kind === 'intro' ? <Text dimColor>Ctrl-C quits · q quits</Text> : null}
    </Box>
  );
}

function StepView({ step, model }: { step: Step; model: OnboardingModel }): ReactElement {
  const color = useColor();
  const { added } = model.state;
  switch (step.kind) {
    case 'intro':
      return <Intro vaultPath={model.vaultPath} />;
    case 'pass1':
      return (
        <MaskedInput
          label="New passphrase:"
          kind="passphrase"
          measure={model.measure}
          onCancel={model.cancel}
          onSubmit={model.passphrase}
        />
      );
    case 'pass2':
      return (
        <MaskedInput
          label="Repeat the passphrase:"
          kind="passphrase"
          onCancel={model.cancel}
          onSubmit={model.repeat}
        />
      );
    case 'working':
      return <Text>{step.what}</Text>;
    case 'secrets':
      return (
        <Box flexDirection="column">
          <Text {...color('green')}>Vault created at {model.vaultPath} and unlocked.</Text>
          <Text>Secrets so far: {added.length === 0 ? 'none' : added.join(', ')}</Text>
          <Text>
            <Text bold>a</Text> add a secret · <Text bold>i</Text> import a .env file · <Text bold>n</Text>{' '}
            next
          </Text>
        </Box>
      );
    case 'secret-name':
      return (
        <TextField
          label="Secret name (e.g. OPENAI_API_KEY):"
          onCancel={() => {
            model.cancel('cancel');
          }}
          onSubmit={model.secretName}
        />
      );
    case 'secret-value':
      return (
        <MaskedInput
          label={`Value for ${step.name} (hidden):`}
          kind="value"
          onCancel={model.cancel}
          onSubmit={model.secretValue}
        />
      );
    case 'import-path':
      return (
        <TextField
          label="Path of the .env file:"
          onCancel={() => {
            model.cancel('cancel');
          }}
          onSubmit={model.importPath}
        />
      );
    case 'import-preview':
      return <ImportPreview parsed={step.parsed} answer={model.importAnswer} />;
    case 'agents':
      return <AgentList agents={step.agents} selected={step.selected} />;
    case 'task-name':
      return (
        <TextField
          label={`Name of the task ${step.agent.name} will run:`}
          initial="deploy"
          onCancel={() => {
            model.cancel('cancel');
          }}
          onSubmit={model.taskName}
        />
      );
    case 'task-secrets':
      return <SecretPicker names={added} picked={step.picked} cursor={step.cursor} task={step.task} />;
    case 'task-target':
      return (
        <TextField
          label={`Command ${step.draft.task} may run with ${step.draft.secrets.join(', ')}:`}
          hint="the tool that uses the secret itself, e.g. curl, gh · Enter to confirm · Esc to skip"
          onCancel={() => {
            model.cancel('cancel');
          }}
          onSubmit={model.taskTarget}
        />
      );
    case 'task-interpreter':
      return <InterpreterWarning draft={step.draft} answer={model.interpreterAnswer} />;
    case 'task-approve':
      return <ApprovePicker draft={step.draft} selected={step.selected} />;
    case 'done':
      return <Done task={step.task} target={step.target} explain={step.explain} />;
  }
}

function Intro({ vaultPath }: { vaultPath: string }): ReactElement {
  return (
    <Box flexDirection="column">
      <Text>Cora keeps your API keys and tokens encrypted, and out of your agents' reach.</Text>
      <Text>
        Agents and scripts name a task; Cora runs the command with that task's secrets and hands back masked
        output, never a value.
      </Text>
      <Text>Every request is checked against your policy and written to a tamper-evident audit log.</Text>
      <Text> </Text>
      <Text>
        There is no vault at <Text bold>{vaultPath}</Text> yet. Press <Text bold>Enter</Text> to create one.
      </Text>
    </Box>
  );
}

function ImportPreview(props: { parsed: DotenvImport; answer: (yes: boolean) => void }): ReactElement {
  const { parsed } = props;
  return (
    <Box flexDirection="column">
      {parsed.problems.map((p) => (
        <Text key={p}>{p}</Text>
      ))}
      <Text>
        {parsed.names.length} secret(s): <Text bold>{parsed.names.join(', ') || '—'}</Text>
      </Text>
      <Confirm
        question={canImport(parsed) ? 'Import them?' : 'Nothing can be imported. Back?'}
        onNo={() => {
          props.answer(false);
        }}
        onYes={() => {
          props.answer(true);
        }}
      />
    </Box>
  );
}

function AgentList(props: { agents: readonly AgentBinary[]; selected: number }): ReactElement {
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
        <Text key={a.path} inverse={x === props.selected}>
          {a.name} <Text dimColor>{visible(a.path)}</Text>
        </Text>
      ))}
    </Box>
  );
}

function SecretPicker(props: {
  names: readonly string[];
  picked: readonly string[];
  cursor: number;
  task: string;
}): ReactElement {
  return (
    <Box flexDirection="column">
      <Text>Secrets task {props.task} gets (only these reach its command; none is picked for you):</Text>
      {props.names.map((name, x) => (
        <Text key={name} inverse={x === props.cursor}>
          {props.picked.includes(name) ? '[x]' : '[ ]'} {name}
        </Text>
      ))}
      <Text dimColor>↑↓ move · Space pick · Enter confirm · Esc skip the task</Text>
    </Box>
  );
}

function InterpreterWarning(props: { draft: TaskDraft; answer: (yes: boolean) => void }): ReactElement {
  const color = useColor();
  return (
    <Box flexDirection="column">
      {props.draft.check.warnings.map((line) => (
        <Text key={line} {...color('yellow')}>
          warning: {visible(line)}
        </Text>
      ))}
      <Confirm
        question={`Let ${props.draft.task} run ${props.draft.target} anyway? (n: name the real tool instead)`}
        onNo={() => {
          props.answer(false);
        }}
        onYes={() => {
          props.answer(true);
        }}
      />
    </Box>
  );
}

function ApprovePicker(props: { draft: TaskDraft; selected: number }): ReactElement {
  const color = useColor();
  const { draft } = props;
  return (
    <Box flexDirection="column">
      {draft.check.warnings.map((line) => (
        <Text key={line} {...color('yellow')}>
          warning: {visible(line)}
        </Text>
      ))}
      <Text>
        When {draft.agent.name} runs task {draft.task}, ask you first?
      </Text>
      {APPROVE_CHOICES.map((mode, x) => (
        <Text key={mode} inverse={x === props.selected}>
          {mode.padEnd(11)} <Text dimColor>{APPROVE_HELP[x]}</Text>
        </Text>
      ))}
      <Text dimColor>↑↓ select · Enter add the task · Esc skip</Text>
    </Box>
  );
}

/** One line per {@link APPROVE_CHOICES} entry, in the same order. */
const APPROVE_HELP: readonly string[] = [
  'ask once per caller, then allow it for 15 min (recommended)',
  'ask every time',
  'ask once per caller, then allow it until the vault locks',
  'never ask: the agent runs it whenever it likes',
];

function ExplainLines({ explain }: { explain: PolicyExplainResult }): ReactElement {
  const color = useColor();
  const ok = explain.outcome !== 'deny';
  return (
    <Box flexDirection="column">
      <Text>Checked by the service, as {'cr exec'} from inside the agent would be:</Text>
      {explain.steps.map((step, x) => (
        <Text key={`${String(x)} ${step.step}`}>
          {step.step === 'warning' ? '!' : step.ok ? '✓' : '✗'} {step.step}: {visible(step.detail)}
        </Text>
      ))}
      <Text bold {...color(ok ? 'green' : 'red')}>
        → {explain.outcome} ({visible(explain.reason)})
        {explain.outcome === 'needs-approval' ? ': it runs once you approve it (cr approve, or view 5)' : ''}
      </Text>
    </Box>
  );
}

function Done(props: {
  task: string | null;
  target: string | null;
  explain: PolicyExplainResult | null;
}): ReactElement {
  const color = useColor();
  return (
    <Box flexDirection="column">
      {props.explain === null ? null : <ExplainLines explain={props.explain} />}
      {props.task !== null && props.explain === null ? (
        <Text {...color('yellow')}>
          The service could not explain the task; check it with cr policy explain.
        </Text>
      ) : null}
      <Text {...color('green')} bold>
        Cora is set up.
      </Text>
      {props.task === null ? (
        <Text>Add a task later with: cr policy task add NAME --target PATH SECRETS…</Text>
      ) : (
        <Text>
          Tell your agent to run:{' '}
          <Text bold>
            cr exec {props.task} -- {props.target} …
          </Text>
        </Text>
      )}
      <Text>Press Enter for the dashboard.</Text>
    </Box>
  );
}
