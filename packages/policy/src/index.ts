// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/policy`: the policy kept inside the vault (architecture §7): its schema, a pure
 * evaluation (allow / deny / needs-approval, with a reason) and the child environment.
 * @packageDocumentation
 */
export {
  parsePolicy,
  serializePolicy,
  emptyPolicy,
  allowCaller,
  denyCaller,
  addTask,
  removeTask,
  replaceTask,
  POLICY_VERSION,
  POLICY_LIMITS,
} from './schema.ts';
export type { Policy, CallerRule, Task, Approve } from './schema.ts';
export { evaluate, explain, targetsToResolve, ReasonCode, CALLER_REASONS } from './evaluate.ts';
export type { Decision, EvaluationRequest, EvaluationContext, GrantQuery } from './evaluate.ts';
export { childEnvironment, isHookVariable, BASE_ENV_NAMES, WINDOWS_BASE_ENV_NAMES } from './env.ts';
export { isInterpreter, parseDuration, parseCallerSpec, formatCallerSpec } from './helpers.ts';
export { describeConfinement, landlockAbiNeeded } from './confine.ts';
export type { TaskConfinement } from './confine.ts';
export { isValidTaskName } from './internal/names.ts';
export type { EnvEntry, NamedSecret } from './env.ts';
export { PolicyError, PolicyErrorCode, isPolicyError } from './errors.ts';
