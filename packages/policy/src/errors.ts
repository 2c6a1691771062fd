// SPDX-License-Identifier: AGPL-3.0-only

/** Stable error codes of `@cora/policy`. Policies hold no secrets, so messages may name paths. */
export const PolicyErrorCode = {
  /** The policy (or a rule or task given to a helper) breaks the schema; `path` names where. */
  INVALID_POLICY: 'INVALID_POLICY',
  /** A `PATH[@sha256=HEX]` caller spec could not be read. */
  INVALID_CALLER_SPEC: 'INVALID_CALLER_SPEC',
  /** An interpreter (node, python, sh…) was allowed without a script (architecture §6, §7). */
  INTERPRETER_NEEDS_SCRIPT: 'INTERPRETER_NEEDS_SCRIPT',
  /** `denyCaller` named an exe no rule allows. */
  CALLER_NOT_FOUND: 'CALLER_NOT_FOUND',
  /** `addTask` named a task that already exists (edit or replace it instead). */
  TASK_EXISTS: 'TASK_EXISTS',
  /** `removeTask` or `replaceTask` named a task that does not exist. */
  UNKNOWN_TASK: 'UNKNOWN_TASK',
} as const;

export type PolicyErrorCode = (typeof PolicyErrorCode)[keyof typeof PolicyErrorCode];

/** The one error class of `@cora/policy`; branch on `code`, not on `message`. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly code: PolicyErrorCode;
  /** For `INVALID_POLICY`: where, e.g. `tasks.deploy.targets[0]` (empty for the root). */
  readonly path: string | undefined;

  constructor(code: PolicyErrorCode, message: string, options?: { cause?: unknown; path?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options?.path;
  }
}

/** Type guard for {@link PolicyError}, optionally for one code. */
export function isPolicyError(value: unknown, code?: PolicyErrorCode): value is PolicyError {
  return value instanceof PolicyError && (code === undefined || value.code === code);
}
