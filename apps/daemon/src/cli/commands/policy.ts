// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr policy …` (architecture §7, §11): show the policy, allow and deny callers, add and remove
 * tasks, explain a decision. Every change reads the current policy, edits it with the
 * `@cora/policy` helpers (which validate it and name the offending path) and writes it back
 * with the passphrase (G6); the service applies it at once, no lock / unlock needed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { SecretBuf } from '@cora/memstore';
import {
  addTask,
  allowCaller,
  describeConfinement,
  denyCaller,
  formatCallerSpec,
  isPolicyError,
  parsePolicy,
  removeTask,
  replaceTask,
  serializePolicy,
  type CallerRule,
  type Policy,
  type PolicyErrorCode,
  type Task,
} from '@cora/policy';
import { CrError, type CrErrorCode } from '../../shared/errors.ts';
import { withRunningService, type Service } from '../client.ts';
import type { PassOptions } from '../options.ts';
import { coraHome } from '../../shared/paths.ts';
import { readPassphrase } from '../passphrase.ts';
import { resolveCommand } from '../../shared/resolve.ts';
import { targetWarnings, type PolicyWriteOptions } from '../../shared/policy-checks.ts';
import { note } from '../output.ts';

/** Exit code of `cr policy explain` when the request would be denied or need approval. */
const EXIT_EXPLAIN_DENY = 9;

/** `@cora/policy` errors as CLI errors (exit codes in the README). */
const FROM_POLICY: Readonly<Record<PolicyErrorCode, CrErrorCode>> = {
  INVALID_POLICY: 'INVALID_INPUT',
  INVALID_CALLER_SPEC: 'INVALID_INPUT',
  INTERPRETER_NEEDS_SCRIPT: 'INVALID_INPUT',
  TASK_EXISTS: 'INVALID_INPUT',
  UNKNOWN_TASK: 'NOT_FOUND',
  CALLER_NOT_FOUND: 'NOT_FOUND',
};

/**
 * Run `fn` with the running service; the policy's own errors become CLI errors here (the
 * service's are already, through the client).
 */
async function withClient<T>(fn: (service: Service) => Promise<T>): Promise<T> {
  try {
    return await withRunningService(
      coraHome(),
      fn,
      'the service is not running, so the policy is locked away; run cr unlock',
    );
  } catch (error) {
    if (isPolicyError(error)) throw new CrError(FROM_POLICY[error.code], error.message, { cause: error });
    throw error;
  }
}

async function currentPolicy(service: Service): Promise<Policy> {
  return parsePolicy(await service.getPolicy());
}

/**
 * Read the passphrase, read the policy, change it, write it back. The passphrase is read
 * before connecting (a prompt must not hold a connection open) and wiped in every case.
 */
async function changePolicy(
  options: PassOptions,
  prompt: string,
  change: (policy: Policy) => Policy,
  write: PolicyWriteOptions = {},
): Promise<Policy> {
  const passphrase: SecretBuf = await readPassphrase(
    { fd: options.passphraseFd, file: options.passphraseFile },
    prompt,
  );
  try {
    return await withClient(async (service) => {
      const next = change(await currentPolicy(service));
      await service.setPolicy(serializePolicy(next), passphrase, write);
      return next;
    });
  } finally {
    passphrase.wipe();
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The realpath of an executable (callers and `via` are compared with /proc/<pid>/exe; targets with the resolved command). */
function realCommand(command: string, option: string): string {
  const { resolved } = resolveCommand(command, process.env['PATH'] ?? '', process.cwd());
  if (resolved === null)
    throw new CrError('NOT_FOUND', `${option} ${command}: no executable file by that name`);
  return resolved;
}

function describeRule(rule: CallerRule): string {
  const extra = [
    rule.script === undefined ? '' : ` running ${rule.script}`,
    rule.uid === undefined ? '' : ` as uid ${String(rule.uid)}`,
  ].join('');
  return `  ${formatCallerSpec(rule)}${extra}`;
}

function printPolicy(policy: Policy): void {
  out('callers (besides the cr CLI, which is always allowed):');
  if (policy.callers.length === 0) out('  (none)');
  for (const rule of policy.callers) out(describeRule(rule));
  if ((policy.status_callers ?? []).length > 0) {
    out('status_callers (may ask for status only):');
    for (const rule of policy.status_callers ?? []) out(describeRule(rule));
  }
  const names = Object.keys(policy.tasks).sort();
  out('tasks:');
  if (names.length === 0) out('  (none)');
  for (const name of names) {
    const task = policy.tasks[name] as Task;
    out(`  ${name}`);
    out(`    secrets: ${task.secrets.join(', ')}`);
    out(`    targets: ${task.targets.length === 0 ? '(none: runs nothing)' : task.targets.join(', ')}`);
    for (const [path, pin] of Object.entries(task.target_sha256 ?? {})) {
      out(`    pinned: ${path} at sha256 ${pin}`);
    }
    if (task.via !== undefined) out(`    via: ${task.via.join(', ')}`);
    out(`    approve: ${task.approve}`);
    if (task.max_spawns !== undefined && task.window_ms !== undefined) {
      out(`    rate: at most ${String(task.max_spawns)} spawns per ${String(task.window_ms)} ms`);
    }
    if (task.ttl !== undefined) out(`    ttl: ${task.ttl} after unlock`);
    if (task.env_pass !== undefined) out(`    env_pass: ${task.env_pass.join(', ')}`);
    out(`    output: ${task.output}`);
    for (const line of describeConfinement(task)) out(`    child: ${line}`);
  }
}

export async function cmdShow(options: { json?: boolean }): Promise<void> {
  const policy = await withClient(currentPolicy);
  if (options.json === true) out(JSON.stringify(serializePolicy(policy), null, 2));
  else printPolicy(policy);
}

export interface AllowOptions extends PassOptions {
  pin?: boolean;
  script?: string;
  uid?: number;
  status?: boolean;
}

export async function cmdAllow(path: string, options: AllowOptions): Promise<void> {
  const exe = realCommand(path, 'allow');
  let rule: CallerRule = { exe };
  if (options.pin === true)
    rule = { ...rule, sha256: createHash('sha256').update(readFileSync(exe)).digest('hex') };
  if (options.script !== undefined) rule = { ...rule, script: resolve(process.cwd(), options.script) };
  if (options.uid !== undefined) rule = { ...rule, uid: options.uid };
  const list = options.status === true ? 'status_callers' : 'callers';
  await changePolicy(options, `Passphrase to allow ${exe}: `, (policy) => allowCaller(policy, rule, list));
  out(`Allowed ${describeRule(rule).trim()}${list === 'status_callers' ? ' (status only)' : ''}.`);
}

export async function cmdDeny(
  path: string,
  options: PassOptions & { script?: string; status?: boolean },
): Promise<void> {
  const absolute = isAbsolute(path) ? resolve(path) : resolve(process.cwd(), path);
  const { resolved } = resolveCommand(absolute, '', process.cwd());
  const list: 'callers' | 'status_callers' = options.status === true ? 'status_callers' : 'callers';
  const deny =
    options.script === undefined ? { list } : { list, script: resolve(process.cwd(), options.script) };
  let denied = absolute;
  await changePolicy(options, `Passphrase to deny ${absolute}: `, (policy) => {
    // A rule names a realpath; a binary since removed is still denied by the path given.
    if (resolved !== null && (policy[list] ?? []).some((rule) => rule.exe === resolved)) {
      denied = resolved;
      return denyCaller(policy, resolved, deny);
    }
    return denyCaller(policy, absolute, deny);
  });
  out(`Denied ${denied}.`);
}

export interface TaskAddOptions extends PassOptions {
  target: string[];
  via: string[];
  maxSpawns?: number;
  windowMs?: number;
  ttl?: string;
  envPass: string[];
  approve?: string;
  output?: string;
  /** Store each target's sha256; `cr exec` refuses a changed file. */
  pin?: boolean;
  /** Accept secret names the vault does not hold (yet). */
  allowMissingSecret?: boolean;
  /** Accept a target that runs code its caller chooses (a shell, interpreter, launcher). */
  allowInterpreter?: boolean;
  /** `task add` only: replace an existing task whole. */
  replace?: boolean;
  /** The child's confinement (exec/confine.ts): clean HOME, write directories, TCP ports, detached. */
  cleanHome?: boolean;
  write: string[];
  writeNowhere?: boolean;
  connect: string[];
  connectNowhere?: boolean;
  killDetached?: boolean;
}

export interface TaskEditOptions extends TaskAddOptions {
  /** Fields to remove: via, ttl, rate, env-pass, pin, home, write, connect, detached. */
  clear: string[];
}

type TaskInput = Omit<Task, 'approve' | 'output'> & Partial<Pick<Task, 'approve' | 'output'>>;

/** The sha256 of a file, for `--pin` (the service checks it again at every exec, from the file it runs). */
function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Pins for every target of `targets`. */
function pinsFor(targets: readonly string[]): Record<string, string> {
  return Object.fromEntries(targets.map((t) => [t, sha256File(t)]));
}

/** The fields of a task the options set (targets stored as realpaths, architecture §7). */
function fieldsFrom(options: TaskAddOptions): Record<string, unknown> {
  const task: Record<string, unknown> = {};
  // Stored as realpaths and matched exactly (architecture §7): a target later swapped for a
  // symlink resolves elsewhere and is refused; a moved binary needs the task edited.
  if (options.target.length > 0) task['targets'] = options.target.map((t) => realCommand(t, '--target'));
  if (options.via.length > 0) task['via'] = options.via.map((v) => realCommand(v, '--via'));
  if (options.maxSpawns !== undefined) task['max_spawns'] = options.maxSpawns;
  if (options.windowMs !== undefined) task['window_ms'] = options.windowMs;
  if (options.ttl !== undefined) task['ttl'] = options.ttl;
  if (options.envPass.length > 0) task['env_pass'] = options.envPass;
  if (options.approve !== undefined) task['approve'] = options.approve;
  if (options.output !== undefined) task['output'] = options.output;
  return { ...task, ...confinementFrom(options) };
}

/** A `--write` directory: absolute, existing, a directory; stored as its realpath (Landlock rules name real paths). */
function writeDir(dir: string): string {
  if (!isAbsolute(dir)) {
    throw new CrError('USAGE', `--write ${dir}: give an absolute path (the service does not share your cwd)`);
  }
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    throw new CrError('NOT_FOUND', `--write ${dir}: no such directory; create it first`);
  }
  if (!statSync(real).isDirectory()) throw new CrError('USAGE', `--write ${dir}: not a directory`);
  if (real === '/')
    throw new CrError('USAGE', '--write /: that is every directory; leave --write out instead');
  return real;
}

/** A `--connect` port: a whole number from 1 to 65535. */
function tcpPort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new CrError('USAGE', `--connect must be a TCP port from 1 to 65535, got '${text}'`);
  }
  return port;
}

/** The confinement fields the options set (absent options leave the stored ones in `task edit`). */
function confinementFrom(options: TaskAddOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (options.writeNowhere === true && options.write.length > 0) {
    throw new CrError('USAGE', '--write and --write-nowhere exclude each other');
  }
  if (options.connectNowhere === true && options.connect.length > 0) {
    throw new CrError('USAGE', '--connect and --connect-nowhere exclude each other');
  }
  if (options.cleanHome === true) fields['home'] = 'clean';
  if (options.writeNowhere === true) fields['write'] = [];
  if (options.write.length > 0) fields['write'] = [...new Set(options.write.map(writeDir))];
  if (options.connectNowhere === true) fields['connect'] = [];
  if (options.connect.length > 0) fields['connect'] = [...new Set(options.connect.map(tcpPort))];
  if (options.killDetached === true) fields['detached'] = 'kill';
  return fields;
}

/** Write the task with `change`, then say what was stored and warn about replaceable targets. */
async function writeTask(
  name: string,
  options: TaskAddOptions,
  verb: string,
  change: (policy: Policy) => Policy,
): Promise<void> {
  const policy = await changePolicy(options, `Passphrase to ${verb} task ${name}: `, change, {
    allowMissingSecrets: options.allowMissingSecret === true,
    allowInterpreterTargets: options.allowInterpreter === true,
  });
  const stored = policy.tasks[name] as Task;
  const pins = stored.target_sha256 ?? {};
  const verbed = verb === 'add' ? 'Added' : verb === 'replace' ? 'Replaced' : 'Changed';
  out(
    `${verbed} task ${name}: ${stored.secrets.join(', ')} for ${stored.targets.join(', ') || 'no target'}.`,
  );
  for (const target of stored.targets) {
    const pin = pins[target];
    if (pin !== undefined) out(`  ${target} pinned at sha256 ${pin.slice(0, 12)}…`);
    for (const line of targetWarnings(target, pin !== undefined)) note(`warning: ${line}`);
  }
  if (stored.targets.length === 0) out('It has no --target, so it runs nothing until you add one.');
  for (const line of describeConfinement(stored)) out(`  child: ${line}`);
}

export async function cmdTaskAdd(name: string, secrets: string[], options: TaskAddOptions): Promise<void> {
  if ((options.maxSpawns === undefined) !== (options.windowMs === undefined)) {
    throw new CrError('USAGE', '--max-spawns and --window-ms go together');
  }
  const task: Record<string, unknown> = { secrets, targets: [], ...fieldsFrom(options) };
  if (options.pin === true) task['target_sha256'] = pinsFor(task['targets'] as string[]);
  const replace = options.replace === true;
  await writeTask(name, options, replace ? 'replace' : 'add', (current) =>
    // Validated by addTask / replaceTask: any error names tasks.<name>.<field>.
    replace && Object.hasOwn(current.tasks, name)
      ? replaceTask(current, name, task as unknown as TaskInput)
      : addTask(current, name, task as unknown as TaskInput),
  );
}

const CLEARABLE = ['via', 'ttl', 'rate', 'env-pass', 'pin', 'home', 'write', 'connect', 'detached'] as const;

/**
 * `cr policy task edit`: change the fields given, keep the others. Secrets or targets given
 * replace the whole list; a pin is kept for a target that stays (its stored hash, not the
 * file's current one), `--pin` pins every target afresh, `--clear pin` drops them.
 */
export async function cmdTaskEdit(name: string, secrets: string[], options: TaskEditOptions): Promise<void> {
  const clear = new Set(options.clear);
  for (const field of clear) {
    if (!(CLEARABLE as readonly string[]).includes(field)) {
      throw new CrError('USAGE', `--clear takes ${CLEARABLE.join(', ')}; got '${field}'`);
    }
  }
  const fields = fieldsFrom(options);
  await writeTask(name, options, 'edit', (current) => {
    if (!Object.hasOwn(current.tasks, name)) {
      throw new CrError('NOT_FOUND', `there is no task ${name}; add it with cr policy task add ${name} …`);
    }
    const old = current.tasks[name] as Task;
    const next: Record<string, unknown> = { ...old, ...fields };
    if (secrets.length > 0) next['secrets'] = secrets;
    if (clear.has('via')) delete next['via'];
    if (clear.has('ttl')) delete next['ttl'];
    if (clear.has('env-pass')) delete next['env_pass'];
    if (clear.has('home')) delete next['home'];
    if (clear.has('write')) delete next['write'];
    if (clear.has('connect')) delete next['connect'];
    if (clear.has('detached')) delete next['detached'];
    if (clear.has('rate')) {
      delete next['max_spawns'];
      delete next['window_ms'];
    }
    const targets = next['targets'] as readonly string[];
    const kept = Object.entries(old.target_sha256 ?? {}).filter(([path]) => targets.includes(path));
    if (options.pin === true) next['target_sha256'] = pinsFor(targets);
    else if (clear.has('pin') || kept.length === 0) delete next['target_sha256'];
    else next['target_sha256'] = Object.fromEntries(kept);
    return replaceTask(current, name, JSON.parse(JSON.stringify(next)) as TaskInput);
  });
}

export async function cmdTaskRemove(name: string, options: PassOptions): Promise<void> {
  await changePolicy(options, `Passphrase to remove task ${name}: `, (policy) => removeTask(policy, name));
  out(`Removed task ${name}.`);
}

export async function cmdExplain(
  task: string,
  argv: string[],
  options: { caller?: string; json?: boolean },
): Promise<void> {
  const [argv0, ...rest] = argv;
  if (argv0 === undefined)
    throw new CrError('USAGE', 'name the command: cr policy explain TASK -- COMMAND [ARG…]');
  // The service resolves bare names on PATH; a relative path only means something here.
  const first = argv0.includes('/') && !isAbsolute(argv0) ? resolve(process.cwd(), argv0) : argv0;
  const caller = options.caller === undefined ? undefined : realCommand(options.caller, '--caller');
  const result = await withClient((service) =>
    service.explain(task, [first, ...rest], caller === undefined ? {} : { caller }),
  );
  if (options.json === true) {
    out(JSON.stringify(result, null, 2));
  } else {
    for (const step of result.steps) {
      out(`${step.step === 'warning' ? '!' : step.ok ? '✓' : '✗'} ${step.step}: ${step.detail}`);
    }
    out(`→ ${result.outcome} (${result.reason})`);
  }
  if (result.outcome !== 'allow') process.exitCode = EXIT_EXPLAIN_DENY;
}
