// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The setup's hook: the reducer of `state.ts` wired to the service and the backend. Each
 * handler reports to the reducer, then sends the request the new state holds the bytes for;
 * the request's outcome comes back as an action.
 */
import { useInput } from 'ink';
import type { SecretBuf } from '@cora/memstore';
import { addTask as addPolicyTask, parsePolicy, serializePolicy, type Approve } from '@cora/policy';
import { useTui } from '../../context.tsx';
import type { CaptureEnd } from '../../raw-input.ts';
import { useSecretReducer } from '../../secret-state.ts';
import { messageOf, splitArgv } from '../../util.ts';
import {
  APPROVE_CHOICES,
  initialOnboarding,
  ONBOARDING,
  onboardingKey,
  readsKeys,
  type OnboardingAction,
  type OnboardingState,
  type TaskDraft,
} from './state.ts';

/** What the setup's view shows and calls. */
export interface OnboardingModel {
  readonly state: OnboardingState;
  readonly vaultPath: string;
  /** The strength meter's measure (warnings, never the bytes). */
  readonly measure: (value: SecretBuf) => readonly string[];
  readonly cancel: (why: CaptureEnd) => void;
  readonly passphrase: (value: SecretBuf) => void;
  readonly repeat: (value: SecretBuf) => void;
  readonly secretName: (name: string) => void;
  readonly secretValue: (value: SecretBuf) => void;
  readonly importPath: (file: string) => void;
  readonly importAnswer: (yes: boolean) => void;
  readonly taskName: (task: string) => void;
  readonly taskTarget: (line: string) => void;
  readonly interpreterAnswer: (yes: boolean) => void;
}

/** Props of the setup: where it goes when it ends. */
export interface OnboardingProps {
  readonly onDone: () => void;
  readonly onQuit: () => void;
}

/** The setup's state and handlers (see `state.ts` for the steps). */
export function useOnboarding(props: OnboardingProps): OnboardingModel {
  const { backend, call } = useTui();
  const { state, dispatch, current } = useSecretReducer(ONBOARDING, initialOnboarding);

  /** Run `request` with the setup's passphrase; its outcome, or `failed`, goes to the reducer. */
  const withPassphrase = (
    request: (passphrase: SecretBuf) => Promise<OnboardingAction>,
    failed: (message: string) => OnboardingAction = (message) => ({ type: 'failed', message }),
  ): void => {
    const passphrase = current().passphrase;
    // The passphrase lives as long as the setup: without it nothing can be written.
    const run =
      passphrase === null
        ? Promise.reject(new Error('the setup lost its passphrase; run cr tui again'))
        : request(passphrase);
    run.then(dispatch, (error: unknown) => dispatch(failed(messageOf(error))));
  };

  /**
   * Write the task (the service refuses a target that runs the caller's code unless accepted,
   * and secrets the vault lacks), then ask the service to explain it as the agent would run it:
   * `cr exec` under the agent, which `via` names.
   */
  const addTask = (draft: TaskDraft, approve: Approve): void => {
    const { agent, task, secrets, target, command, allowInterpreter } = draft;
    withPassphrase(async (passphrase) => {
      const policy = parsePolicy(await call((s) => s.getPolicy()));
      const next = addPolicyTask(policy, task, {
        secrets: [...secrets],
        targets: [target],
        via: [agent.path],
        approve,
      });
      await call((s) =>
        s.setPolicy(
          serializePolicy(next),
          passphrase,
          allowInterpreter ? { allowInterpreterTargets: true } : {},
        ),
      );
      const explain = await call((s) => s.explain(task, [target], { under: agent.path })).catch(() => null);
      return { type: 'task-added', task, target: command, explain };
    });
  };

  const act = (action: OnboardingAction | { readonly type: 'quit' }): void => {
    if (action.type === 'quit') {
      props.onQuit();
      return;
    }
    const before = current().step;
    const next = dispatch(action);
    if (action.type === 'approve-picked' && before.kind === 'task-approve' && next.step.kind === 'working') {
      addTask(before.draft, APPROVE_CHOICES[before.selected] ?? 'window:15m');
    } else if (action.type === 'menu' && action.choice === 'next' && next.step.kind === 'working') {
      backend.findAgents().then(
        (agents) => dispatch({ type: 'agents', agents }),
        () => dispatch({ type: 'agents', agents: [] }),
      );
    } else if (action.type === 'finish') {
      props.onDone();
    }
  };

  useInput(
    (input, key) => {
      const action = onboardingKey(current().step, input, key);
      if (action !== null) act(action);
    },
    { isActive: readsKeys(state.step) },
  );

  return {
    state,
    vaultPath: backend.vaultPath,
    measure: (value) => backend.passphraseWarnings(value),
    cancel: (why) => dispatch({ type: 'cancel', why }),
    passphrase: (value) => {
      // Warnings are computed on the bytes here, before the reducer takes them.
      const warnings = value.length === 0 ? [] : backend.passphraseWarnings(value);
      dispatch({ type: 'passphrase', value, warnings });
    },
    repeat: (value) => {
      if (dispatch({ type: 'repeat', value }).step.kind !== 'working') return;
      withPassphrase(
        async (passphrase) => {
          // One connection: it starts the service, creates the vault through it, then unlocks.
          await call((s) => s.init(passphrase, 'tui'));
          dispatch({ type: 'progress', what: 'unlocking…' });
          await call((s) => s.unlock(passphrase));
          return { type: 'unlocked' };
        },
        (message) => ({ type: 'setup-failed', message, vaultExists: backend.vaultExists() }),
      );
    },
    secretName: (name) => dispatch({ type: 'secret-name', name }),
    secretValue: (value) => {
      const { step } = current();
      // Held by the working step until the request settles (else wiped at once).
      if (dispatch({ type: 'secret-value', value }).step.kind !== 'working' || step.kind !== 'secret-value')
        return;
      const { name } = step;
      withPassphrase(async (passphrase) => {
        await call((s) => s.setSecret(name, value, passphrase));
        return { type: 'stored', name };
      });
    },
    importPath: (file) => {
      backend.readDotenv(file).then(
        (parsed) => dispatch({ type: 'import-read', parsed }),
        (error: unknown) => dispatch({ type: 'import-unreadable', message: messageOf(error) }),
      );
    },
    importAnswer: (yes) => {
      const { step } = current();
      const next = dispatch({ type: 'import-answer', yes });
      if (step.kind !== 'import-preview' || next.step.kind !== 'working') return;
      const { names, values } = step.parsed;
      withPassphrase(async (passphrase) => {
        await call((s) => s.importSecrets(names, values, passphrase));
        return { type: 'imported', names };
      });
    },
    taskName: (task) => dispatch({ type: 'task-name', task }),
    taskTarget: (line) => {
      const [command] = splitArgv(line);
      const target = command === undefined ? null : backend.resolveCommand(command);
      const check = target === null ? null : backend.checkTarget(target);
      dispatch({ type: 'task-target', line, target, check });
    },
    interpreterAnswer: (yes) => dispatch({ type: 'interpreter-answer', yes }),
  };
}
