// SPDX-License-Identifier: AGPL-3.0-only
import { isValidSecretName } from '@cora/memstore';
import * as v from 'valibot';
import { PolicyError } from './errors.ts';
import { isHookVariable } from './env.ts';
import { CONFINE_FIELDS, confinementFields, type TaskConfinement } from './confine.ts';
import { durationMs } from './internal/duration.ts';
import { ENV_NAME, isAbsolutePath, isInterpreterPath, SHA256_HEX, TASK_NAME } from './internal/names.ts';

/** The policy format version this package reads and writes. */
export const POLICY_VERSION = 1;

/** Size limits of a policy (a policy lives in the vault's JSON section, architecture §4). */
export const POLICY_LIMITS = Object.freeze({
  callers: 1000,
  tasks: 1000,
  secretsPerTask: 256,
  targetsPerTask: 256,
  viaPerTask: 16,
  envPassPerTask: 256,
  maxSpawns: 1_000_000,
  /** One day. */
  maxWindowMs: 86_400_000,
});

/** One allowlist entry of `callers` (architecture §7). */
export interface CallerRule {
  /** Resolved absolute path of the caller's executable. */
  readonly exe: string;
  /** Lower-case hex SHA-256 the executable must have (`cr policy allow PATH --pin`). */
  readonly sha256?: string;
  /** For an interpreter exe: the script it must be running (weaker evidence, architecture §6). */
  readonly script?: string;
  /** The uid the caller must run as. */
  readonly uid?: number;
}

/** How often a human approves a task's spawns (architecture §7, "Approvals"). */
export type Approve = 'never' | 'once' | 'session' | `window:${string}`;

/** One task: what it may run, with which secrets, under which limits (architecture §7). */
export interface Task extends TaskConfinement {
  /** Secret names (memstore's rule), at least one. */
  readonly secrets: readonly string[];
  /** Binaries allowed as argv[0], absolute. Empty refuses every spawn (never "allow all"). */
  readonly targets: readonly string[];
  /**
   * Pins, like a caller rule's `sha256`: for a target path (an entry of `targets`), the
   * lower-case hex SHA-256 the file must have when it runs (`cr policy task add --pin`).
   */
  readonly target_sha256?: Readonly<Record<string, string>>;
  /** Executables that must all be the caller or among its ancestors (e.g. an agent). */
  readonly via?: readonly string[];
  /** Default `never`. */
  readonly approve: Approve;
  /** With `window_ms`: at most this many spawns per window. */
  readonly max_spawns?: number;
  readonly window_ms?: number;
  /** The task can be run for this long after unlock (`30m`, `8h`…). */
  readonly ttl?: string;
  /** Caller variables passed on to the child (hook variables refused). */
  readonly env_pass?: readonly string[];
  /** Default `masked`; `passthrough` is an explicit, audited opt-out of masking (G10). */
  readonly output: 'masked' | 'passthrough';
}

/** A parsed, valid policy. Build one with {@link parsePolicy} or {@link emptyPolicy}. */
export interface Policy {
  readonly version: 1;
  readonly callers: readonly CallerRule[];
  readonly tasks: Readonly<Record<string, Task>>;
  /** Extra callers allowed to ask for `status` only (architecture §7). */
  readonly status_callers?: readonly CallerRule[];
}

const AbsPath = v.pipe(v.string(), v.check(isAbsolutePath, 'must be a normalized absolute path'));
const Count = (max: number) =>
  v.pipe(v.number(), v.integer('must be an integer'), v.minValue(1, 'must be at least 1'), v.maxValue(max));
const Duration = v.pipe(
  v.string(),
  v.check(
    (text) => durationMs(text) !== null,
    'must be a duration like 30s, 15m, 1h30m, 1.5h or 7d (at most a year)',
  ),
);

const CallerRuleSchema = v.strictObject({
  exe: AbsPath,
  sha256: v.exactOptional(v.pipe(v.string(), v.regex(SHA256_HEX, 'must be 64 lower-case hex digits'))),
  script: v.exactOptional(AbsPath),
  uid: v.exactOptional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff))),
});

const CallersSchema = v.pipe(v.array(CallerRuleSchema), v.maxLength(POLICY_LIMITS.callers));

const ApproveSchema = v.union(
  [
    v.picklist(['never', 'once', 'session']),
    v.pipe(
      v.string(),
      v.check(
        (text) => text.startsWith('window:') && durationMs(text.slice(7)) !== null,
        'must be never, once, session or window:<duration>',
      ),
    ),
  ],
  'must be never, once, session or window:<duration>',
);

const TaskSchema = v.strictObject({
  secrets: v.pipe(
    v.array(v.pipe(v.string(), v.check(isValidSecretName, 'must be a secret name ([A-Za-z_][A-Za-z0-9_]*)'))),
    v.minLength(1, 'must name at least one secret'),
    v.maxLength(POLICY_LIMITS.secretsPerTask),
  ),
  targets: v.pipe(v.array(AbsPath), v.maxLength(POLICY_LIMITS.targetsPerTask)),
  target_sha256: v.exactOptional(
    v.pipe(
      v.record(AbsPath, v.pipe(v.string(), v.regex(SHA256_HEX, 'must be 64 lower-case hex digits'))),
      v.check(
        (pins) => Object.keys(pins).length <= POLICY_LIMITS.targetsPerTask,
        `more than ${POLICY_LIMITS.targetsPerTask} pins`,
      ),
    ),
  ),
  via: v.exactOptional(
    v.pipe(
      v.array(AbsPath),
      v.minLength(1, 'must not be empty (leave it out instead)'),
      v.maxLength(POLICY_LIMITS.viaPerTask),
    ),
  ),
  approve: v.optional(ApproveSchema, 'never'),
  max_spawns: v.exactOptional(Count(POLICY_LIMITS.maxSpawns)),
  window_ms: v.exactOptional(Count(POLICY_LIMITS.maxWindowMs)),
  ttl: v.exactOptional(Duration),
  env_pass: v.exactOptional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.regex(ENV_NAME, 'must be a variable name'),
          v.check((name) => !isHookVariable(name), 'is a loader or interpreter hook and is never passed'),
        ),
      ),
      v.maxLength(POLICY_LIMITS.envPassPerTask),
    ),
  ),
  output: v.optional(v.picklist(['masked', 'passthrough'], 'must be masked or passthrough'), 'masked'),
  ...CONFINE_FIELDS,
});

const PolicySchema = v.strictObject({
  version: v.literal(POLICY_VERSION, 'must be 1'),
  callers: CallersSchema,
  tasks: v.pipe(
    v.record(v.pipe(v.string(), v.regex(TASK_NAME, 'is not a valid task name')), TaskSchema),
    v.check(
      (tasks) => Object.keys(tasks).length <= POLICY_LIMITS.tasks,
      `more than ${POLICY_LIMITS.tasks} tasks`,
    ),
  ),
  status_callers: v.exactOptional(CallersSchema),
});

type PathItem = string | number;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `tasks.deploy.targets[0]`: JS-like, and quoted where a key is not an identifier. */
function formatPath(path: readonly PathItem[]): string {
  let out = '';
  for (const item of path) {
    if (typeof item === 'number') out += `[${item}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(item)) out += out === '' ? item : `.${item}`;
    else out += `[${JSON.stringify(item)}]`;
  }
  return out;
}

function invalid(path: readonly PathItem[], what: string): PolicyError {
  const where = formatPath(path);
  return new PolicyError(
    'INVALID_POLICY',
    where === '' ? `invalid policy: ${what}` : `invalid policy at ${where}: ${what}`,
    {
      path: where,
    },
  );
}

function issuePath(issue: v.BaseIssue<unknown>): PathItem[] {
  const out: PathItem[] = [];
  for (const item of issue.path ?? []) {
    const key: unknown = item.key;
    out.push(typeof key === 'number' ? key : String(key));
  }
  return out;
}

function issueMessage(issue: v.BaseIssue<unknown>): string {
  // valibot's own messages quote the received value; ours are fixed strings. An unknown
  // key (strictObject) comes as `expected never`.
  if (issue.expected === 'never') return 'unknown key';
  if (issue.kind === 'schema' && issue.received === 'undefined') return 'is required';
  // A default valibot message quotes the received value; fall back to the expectation.
  return /received/i.test(issue.message) ? `must be ${issue.expected ?? 'valid'}` : issue.message;
}

function checkDuplicates(values: readonly string[], path: readonly PathItem[]): void {
  const seen = new Set<string>();
  values.forEach((value, index) => {
    if (seen.has(value)) throw invalid([...path, index], 'duplicate entry');
    seen.add(value);
  });
}

function ruleKey(rule: CallerRule): string {
  return JSON.stringify([rule.exe, rule.script ?? null, rule.uid ?? null]);
}

function checkCallers(rules: readonly CallerRule[], path: readonly PathItem[]): void {
  checkDuplicates(rules.map(ruleKey), path);
}

function checkTask(task: Task, path: readonly PathItem[]): void {
  checkDuplicates(task.secrets, [...path, 'secrets']);
  checkDuplicates(task.targets, [...path, 'targets']);
  // A pin names a target of this task: a pin for a path the task does not run would be a
  // rule that checks nothing.
  for (const pinned of Object.keys(task.target_sha256 ?? {})) {
    if (!task.targets.includes(pinned)) {
      throw invalid([...path, 'target_sha256', pinned], 'pins a path that is not in targets');
    }
  }
  if (task.via !== undefined) checkDuplicates(task.via, [...path, 'via']);
  if (task.env_pass !== undefined) checkDuplicates(task.env_pass, [...path, 'env_pass']);
  if (task.write !== undefined) checkDuplicates(task.write, [...path, 'write']);
  if (task.connect !== undefined) checkDuplicates(task.connect.map(String), [...path, 'connect']);
  if ((task.max_spawns === undefined) !== (task.window_ms === undefined)) {
    throw invalid(
      [...path, task.max_spawns === undefined ? 'window_ms' : 'max_spawns'],
      'max_spawns and window_ms go together',
    );
  }
}

/**
 * Validate a policy read from the vault's JSON section (or from `cr policy edit`).
 * Strict: unknown keys are refused, nothing is coerced; `approve` defaults to `never` and
 * `output` to `masked`. The result is deeply frozen.
 *
 * @param json - The parsed JSON value.
 * @returns The policy.
 * @throws {@link PolicyError} `INVALID_POLICY`, with `path` naming the first offending
 *   place (`tasks.deploy.targets[0]`).
 * @example
 * ```ts
 * const policy = parsePolicy(JSON.parse(text));
 * ```
 */
export function parsePolicy(json: unknown): Policy {
  // valibot's object schemas take arrays as objects; a policy is a JSON object.
  if (!isRecord(json)) throw invalid([], 'must be a JSON object');
  // JSON.parse makes "__proto__" an own key; valibot's record would drop it silently.
  if (isRecord(json['tasks']) && Object.hasOwn(json['tasks'], '__proto__')) {
    throw invalid(['tasks', '__proto__'], 'is not a valid task name');
  }
  const parsed = v.safeParse(PolicySchema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw invalid(issuePath(issue), issueMessage(issue));
  }
  const out = parsed.output;
  checkCallers(out.callers, ['callers']);
  if (out.status_callers !== undefined) checkCallers(out.status_callers, ['status_callers']);
  for (const [name, task] of Object.entries(out.tasks)) checkTask(task as Task, ['tasks', name]);
  return normalize(out as Policy);
}

/** Pins keyed in sorted order, frozen (a null-prototype record, like `tasks`). */
function pinsOf(pins: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const path of Object.keys(pins).sort()) out[path] = pins[path] as string;
  return Object.freeze(out);
}

/** A copy with keys in the one stable order, frozen (also used by serializePolicy). */
function normalize(policy: Policy): Policy {
  const rule = (r: CallerRule): CallerRule =>
    Object.freeze({
      exe: r.exe,
      ...(r.sha256 === undefined ? {} : { sha256: r.sha256 }),
      ...(r.script === undefined ? {} : { script: r.script }),
      ...(r.uid === undefined ? {} : { uid: r.uid }),
    });
  const task = (t: Task): Task =>
    Object.freeze({
      secrets: Object.freeze([...t.secrets]),
      targets: Object.freeze([...t.targets]),
      ...(t.target_sha256 === undefined ? {} : { target_sha256: pinsOf(t.target_sha256) }),
      ...(t.via === undefined ? {} : { via: Object.freeze([...t.via]) }),
      approve: t.approve,
      ...(t.max_spawns === undefined ? {} : { max_spawns: t.max_spawns }),
      ...(t.window_ms === undefined ? {} : { window_ms: t.window_ms }),
      ...(t.ttl === undefined ? {} : { ttl: t.ttl }),
      ...(t.env_pass === undefined ? {} : { env_pass: Object.freeze([...t.env_pass]) }),
      output: t.output,
      ...confinementFields(t),
    });
  // A null-prototype record: a task named like an Object.prototype member cannot shadow it.
  const tasks: Record<string, Task> = Object.create(null) as Record<string, Task>;
  for (const name of Object.keys(policy.tasks).sort()) tasks[name] = task(policy.tasks[name] as Task);
  return Object.freeze({
    version: POLICY_VERSION,
    callers: Object.freeze(policy.callers.map(rule)),
    tasks: Object.freeze(tasks),
    ...(policy.status_callers === undefined
      ? {}
      : { status_callers: Object.freeze(policy.status_callers.map(rule)) }),
  });
}

/**
 * The policy of a new vault: no callers (only the `cr` CLI gets in, architecture §7) and no tasks.
 *
 * @returns A frozen empty policy.
 */
export function emptyPolicy(): Policy {
  return parsePolicy({ version: POLICY_VERSION, callers: [], tasks: {} });
}

/**
 * The JSON value to store in the vault: plain objects, keys in a stable order (`version`,
 * `callers`, `tasks` sorted by name, `status_callers`; fields in schema order), defaults
 * written out. `parsePolicy(serializePolicy(p))` equals `p`.
 *
 * @param policy - A policy from {@link parsePolicy} or a helper.
 * @returns A JSON-ready value (`JSON.stringify` it).
 * @throws {@link PolicyError} `INVALID_POLICY` if `policy` is not valid.
 */
export function serializePolicy(policy: Policy): unknown {
  // Re-validate: a hand-built object must not reach the vault unchecked.
  return JSON.parse(JSON.stringify(parsePolicy(JSON.parse(JSON.stringify(policy)) as unknown))) as unknown;
}

/**
 * A copy of `policy` that allows `rule`. A rule with the same exe, script and uid is
 * replaced (so `--pin` updates a pin). An interpreter exe needs a `script`: allowing
 * `node` alone would allow every node program (architecture §6).
 *
 * @param policy - The current policy.
 * @param rule - The caller to allow.
 * @param list - `callers` (default) or `status_callers`.
 * @returns The new policy.
 * @throws {@link PolicyError} `INVALID_POLICY` for a bad rule (path `callers[i]…`),
 *   `INTERPRETER_NEEDS_SCRIPT` for an interpreter without a script.
 */
export function allowCaller(
  policy: Policy,
  rule: CallerRule,
  list: 'callers' | 'status_callers' = 'callers',
): Policy {
  // Untyped callers may pass anything: parsePolicy below reports it with its path.
  const given: unknown = rule;
  const exe = isRecord(given) ? given['exe'] : undefined;
  if (typeof exe === 'string' && isRecord(given) && given['script'] === undefined) {
    if (isInterpreterPath(exe)) {
      throw new PolicyError(
        'INTERPRETER_NEEDS_SCRIPT',
        `${exe} is an interpreter: allow it with the script it must run, or it would allow every program it can run`,
      );
    }
  }
  const current = policy[list] ?? [];
  const key = isRecord(given) ? ruleKey(rule) : '';
  const next = [...current.filter((r) => ruleKey(r) !== key), rule];
  return parsePolicy(JSON.parse(JSON.stringify({ ...policy, [list]: next })) as unknown);
}

/**
 * A copy of `policy` without the rules for `exe` (only those with `script`, when given).
 *
 * @param policy - The current policy.
 * @param exe - The executable path as allowed.
 * @param options - `script` narrows to one script; `list` picks `status_callers`.
 * @returns The new policy.
 * @throws {@link PolicyError} `CALLER_NOT_FOUND` when no rule matched.
 */
export function denyCaller(
  policy: Policy,
  exe: string,
  options: { readonly script?: string; readonly list?: 'callers' | 'status_callers' } = {},
): Policy {
  const list = options.list ?? 'callers';
  const current = policy[list] ?? [];
  const keep = current.filter(
    (r) => r.exe !== exe || (options.script !== undefined && r.script !== options.script),
  );
  if (keep.length === current.length) {
    throw new PolicyError('CALLER_NOT_FOUND', `no rule in ${list} allows ${exe}`);
  }
  return parsePolicy(JSON.parse(JSON.stringify({ ...policy, [list]: keep })) as unknown);
}

/**
 * A copy of `policy` with a new task (validated like the rest: errors name `tasks.NAME…`).
 * `approve` and `output` may be left out (`never`, `masked`).
 *
 * @param policy - The current policy.
 * @param name - The task name (`[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 characters).
 * @param task - The task.
 * @returns The new policy.
 * @throws {@link PolicyError} `TASK_EXISTS` when the name is taken, `INVALID_POLICY` for a
 *   bad task.
 */
export function addTask(
  policy: Policy,
  name: string,
  task: Omit<Task, 'approve' | 'output'> & Partial<Pick<Task, 'approve' | 'output'>>,
): Policy {
  if (Object.hasOwn(policy.tasks, name)) {
    throw new PolicyError(
      'TASK_EXISTS',
      `task ${name} exists; change it with cr policy task edit ${name}, or replace it whole with cr policy task add ${name} --replace`,
    );
  }
  const tasks = { ...policy.tasks, [name]: task };
  return parsePolicy(JSON.parse(JSON.stringify({ ...policy, tasks })) as unknown);
}

/**
 * A copy of `policy` where task `name` is replaced by `task` (validated like {@link addTask};
 * fields left out take their defaults, they are not kept from the old task).
 *
 * @param policy - The current policy.
 * @param name - An existing task's name.
 * @param task - The whole new task.
 * @returns The new policy.
 * @throws {@link PolicyError} `UNKNOWN_TASK` when there is no such task, `INVALID_POLICY`
 *   for a bad task.
 * @example
 * ```ts
 * const next = replaceTask(policy, 'github', { ...policy.tasks['github']!, approve: 'once' });
 * ```
 */
export function replaceTask(
  policy: Policy,
  name: string,
  task: Omit<Task, 'approve' | 'output'> & Partial<Pick<Task, 'approve' | 'output'>>,
): Policy {
  if (!Object.hasOwn(policy.tasks, name)) {
    throw new PolicyError(
      'UNKNOWN_TASK',
      `there is no task ${name}; add it with cr policy task add ${name} --target PATH SECRET…`,
    );
  }
  const tasks = { ...policy.tasks, [name]: task };
  return parsePolicy(JSON.parse(JSON.stringify({ ...policy, tasks })) as unknown);
}

/**
 * A copy of `policy` without task `name`.
 *
 * @throws {@link PolicyError} `UNKNOWN_TASK` when there is no such task.
 */
export function removeTask(policy: Policy, name: string): Policy {
  if (!Object.hasOwn(policy.tasks, name)) throw new PolicyError('UNKNOWN_TASK', `there is no task ${name}`);
  const tasks: Record<string, Task> = {};
  for (const [key, task] of Object.entries(policy.tasks)) if (key !== name) tasks[key] = task;
  return parsePolicy(JSON.parse(JSON.stringify({ ...policy, tasks })) as unknown);
}
