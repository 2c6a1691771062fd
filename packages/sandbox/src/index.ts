// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/sandbox`: confine this process with Landlock and exec a program (architecture §13).
 * No root, no user namespaces: path rules, signal and abstract-socket scopes, no_new_privs.
 * @packageDocumentation
 */
export {
  landlockAbi,
  confineAndExec,
  confineSelf,
  planForKernel,
  canonicalPath,
  realFsView,
} from './confine.ts';
export type { ConfineOptions } from './confine.ts';
export { planRules, isWithin, accessAt } from './plan.ts';
export type { SandboxSpec, SandboxGrant, SandboxProtection, SandboxRule, FsView, PathKind } from './plan.ts';
export {
  Access,
  Scope,
  NetAccess,
  FILE_ACCESS,
  READ_ACCESS,
  WRITE_ACCESS,
  DEVICE_ACCESS,
  DEVICE_PATHS,
  MODIFY_ACCESS,
  handledAccess,
} from './access.ts';
export { SandboxError, SandboxErrorCode, isSandboxError } from './errors.ts';
