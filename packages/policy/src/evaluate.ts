// SPDX-License-Identifier: AGPL-3.0-only
import type { CallerIdentity } from '@cora/identity';
import { durationMs } from './internal/duration.ts';
import { isInterpreterPath } from './internal/names.ts';
import type { CallerRule, Policy, Task } from './schema.ts';
import { describeConfinement, landlockAbiNeeded } from './confine.ts';

/**
 * Why a decision was taken: a closed list, audited with every decision (architecture §7, §10).
 * Branch on these, not on `message`.
 */
export const ReasonCode = {
  /** No rule in `callers` names the caller's exe (or the list is empty). */
  CALLER_NOT_ALLOWED: 'CALLER_NOT_ALLOWED',
  /** A rule names the exe but its `@sha256=` pin differs from the running binary. */
  CALLER_PIN_MISMATCH: 'CALLER_PIN_MISMATCH',
  /** A rule pins the exe but the service did not hash the running binary. */
  CALLER_HASH_UNAVAILABLE: 'CALLER_HASH_UNAVAILABLE',
  /** A rule names the exe but for another uid. */
  CALLER_UID_MISMATCH: 'CALLER_UID_MISMATCH',
  /** The caller is an interpreter and only rules without a script name it. */
  INTERPRETER_NEEDS_SCRIPT: 'INTERPRETER_NEEDS_SCRIPT',
  /** Rules name the interpreter, but not the script it runs (or it runs none). */
  SCRIPT_NOT_ALLOWED: 'SCRIPT_NOT_ALLOWED',
  UNKNOWN_TASK: 'UNKNOWN_TASK',
  /** An executable of `via` is neither the caller nor among its (readable) ancestors. */
  VIA_MISSING: 'VIA_MISSING',
  /** argv[0] was not found (no such file, not on PATH). */
  TARGET_NOT_FOUND: 'TARGET_NOT_FOUND',
  /** argv[0] resolved to a binary the task's `targets` does not list (or `targets` is empty). */
  TARGET_NOT_ALLOWED: 'TARGET_NOT_ALLOWED',
  /** The task pins the target (`target_sha256`) and the file's SHA-256 differs. */
  TARGET_PIN_MISMATCH: 'TARGET_PIN_MISMATCH',
  /** The task pins the target but the service did not hash the file. */
  TARGET_HASH_UNAVAILABLE: 'TARGET_HASH_UNAVAILABLE',
  /** The task's `ttl` after unlock has passed. */
  TTL_EXPIRED: 'TTL_EXPIRED',
  /** `max_spawns` spawns already happened within `window_ms`. */
  RATE_LIMITED: 'RATE_LIMITED',
  /**
   * The task confines its child (`write`, `connect`) and the kernel's Landlock ABI is too old
   * (or was not given): refused rather than run unconfined.
   */
  CONFINE_UNSUPPORTED: 'CONFINE_UNSUPPORTED',
  /** The task needs a human's approval and no live grant covers this caller. */
  APPROVAL_REQUIRED: 'APPROVAL_REQUIRED',
  ALLOWED: 'ALLOWED',
  /** Allowed because a live approval grant covers (task, caller exe, parent). */
  ALLOWED_BY_GRANT: 'ALLOWED_BY_GRANT',
} as const;

export type ReasonCode = (typeof ReasonCode)[keyof typeof ReasonCode];

/**
 * The reasons of the caller step (architecture §7, step 1): the caller itself is refused, not
 * its request. A gate that admits callers before any request checks for these.
 */
export const CALLER_REASONS: readonly ReasonCode[] = Object.freeze([
  'CALLER_NOT_ALLOWED',
  'CALLER_PIN_MISMATCH',
  'CALLER_HASH_UNAVAILABLE',
  'CALLER_UID_MISMATCH',
  'INTERPRETER_NEEDS_SCRIPT',
  'SCRIPT_NOT_ALLOWED',
] as const);

/** What the caller asks for: run `target` under `task`. */
export interface EvaluationRequest {
  /** The kernel-verified identity of the peer (architecture §6). */
  readonly caller: CallerIdentity;
  /** SHA-256 of the caller's exe when computed apart from the identity; else `caller.exeSha256`. */
  readonly callerExeSha256?: string;
  readonly task: string;
  readonly target: {
    /** argv[0] as the caller wrote it. */
    readonly requested: string;
    /** realpath of argv[0] after the PATH lookup (done by the service), `null` when not found. */
    readonly resolved: string | null;
    /**
     * SHA-256 of the resolved file, computed by the service (from the very file it will
     * run) when the task pins the target; a pin is never satisfied without it.
     */
    readonly sha256?: string;
  };
}

/** Which live approval grant would cover a request (architecture §7: a recycled pid inherits nothing). */
export interface GrantQuery {
  readonly task: string;
  readonly callerExe: string;
  readonly parentPid: number;
  readonly parentStartTime: bigint;
}

/** Everything {@link evaluate} needs besides the policy and the request. It does no I/O. */
export interface EvaluationContext {
  /** Now, in ms since the epoch. */
  readonly now: number;
  /** When the vault was unlocked, in ms since the epoch. */
  readonly unlockedAt: number;
  /** Start times (ms since the epoch) of this task's recent spawns. */
  readonly recentSpawns: (task: string) => readonly number[];
  /** Whether a live grant covers the query. Called only for tasks with `approve` ≠ `never`. */
  readonly grants: (query: GrantQuery) => boolean;
  /** `true` when the peer is the `cr` CLI itself, as the service established it. */
  readonly isCli: boolean;
  /**
   * realpath of each target entry as written in the policy (`null` when it does not
   * resolve), computed by the service with {@link targetsToResolve}. Without it, entries
   * are compared as written only.
   */
  readonly targetRealpaths?: ReadonlyMap<string, string | null>;
  /**
   * The kernel's Landlock ABI (0: none), as the service measured it. A task that confines its
   * child with `write` or `connect` is refused (`CONFINE_UNSUPPORTED`) when it is missing or
   * older than the task needs: never run unconfined.
   */
  readonly landlockAbi?: number;
}

/** The answer: allow, deny or ask a human, with a reason code and a message for people. */
export interface Decision {
  readonly outcome: 'allow' | 'deny' | 'needs-approval';
  readonly reason: ReasonCode;
  /** For people: what failed, with the resolved path and how to allow it. Holds no secret. */
  readonly message: string;
  /** On allow: the secret names to inject. */
  readonly secrets?: readonly string[];
  /** On allow: how the child's output reaches the caller. */
  readonly output?: 'masked' | 'passthrough';
  /**
   * `true` when the caller was let through on weaker evidence: an interpreter's script
   * (architecture §6), or an identity not pinned by a pidfd (start-time check only).
   */
  readonly weakEvidence: boolean;
}

/** One step of the order, as {@link explain} reports it. */
interface Step {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: string;
}

interface Outcome {
  readonly decision: Decision;
  readonly steps: readonly Step[];
}

/**
 * The policy's target entries the service should realpath before {@link evaluate}, so a
 * symlinked entry (e.g. `/usr/bin/python3` → `python3.12`) matches the resolved argv[0].
 *
 * @returns The entries of `task`'s targets (empty for an unknown task).
 */
export function targetsToResolve(policy: Policy, task: string): readonly string[] {
  return Object.hasOwn(policy.tasks, task) ? (policy.tasks[task] as Task).targets : [];
}

/** The short form of a SHA-256 in messages: 12 hex digits, like a short commit id. */
function shortHash(hex: string): string {
  return hex.slice(0, 12);
}

function sameCaller(rule: CallerRule, caller: CallerIdentity): boolean {
  return rule.exe === caller.exe;
}

/** Step 1: the caller. Returns the failing reason, or the evidence strength. */
function checkCaller(
  policy: Policy,
  request: EvaluationRequest,
  context: EvaluationContext,
): { ok: true; weak: boolean; detail: string } | { ok: false; reason: ReasonCode; detail: string } {
  const caller = request.caller;
  const weakPin = !caller.pinned;
  if (context.isCli) {
    return { ok: true, weak: weakPin, detail: 'the cr CLI is always allowed' };
  }
  const rules = policy.callers.filter((rule) => sameCaller(rule, caller));
  const allowHint = `cr policy allow ${caller.exe}${caller.script === undefined ? '' : ` --script ${caller.script.path}`}`;
  if (rules.length === 0) {
    return {
      ok: false,
      reason: 'CALLER_NOT_ALLOWED',
      detail:
        policy.callers.length === 0
          ? `no caller is allowed yet (only the cr CLI); to allow ${caller.exe}: ${allowHint}`
          : `${caller.exe} is not in callers; to allow it: ${allowHint}`,
    };
  }
  const interpreter = isInterpreterPath(caller.exe);
  const hash = request.callerExeSha256 ?? caller.exeSha256;
  // The most telling failure among the rules for this exe, reported when none matches.
  const failures: { reason: ReasonCode; detail: string }[] = [];
  for (const rule of rules) {
    if (rule.uid !== undefined && rule.uid !== caller.uid) {
      failures.push({
        reason: 'CALLER_UID_MISMATCH',
        detail: `${caller.exe} is allowed for uid ${rule.uid}, not ${caller.uid}`,
      });
      continue;
    }
    if (interpreter && rule.script === undefined) {
      // architecture §6: an interpreter's exe says nothing about the program it runs.
      failures.push({
        reason: 'INTERPRETER_NEEDS_SCRIPT',
        detail: `${caller.exe} is an interpreter and its rule names no script; allow the script: ${allowHint}`,
      });
      continue;
    }
    if (rule.script !== undefined && caller.script?.path !== rule.script) {
      failures.push({
        reason: 'SCRIPT_NOT_ALLOWED',
        detail:
          caller.script === undefined
            ? `${caller.exe} runs no script file; only ${rule.script} is allowed`
            : `${caller.exe} runs ${caller.script.path}, not ${rule.script}; to allow it: ${allowHint}`,
      });
      continue;
    }
    if (rule.sha256 !== undefined) {
      if (hash === undefined) {
        failures.push({
          reason: 'CALLER_HASH_UNAVAILABLE',
          detail: `${caller.exe} is pinned but its hash was not computed`,
        });
        continue;
      }
      if (hash !== rule.sha256) {
        failures.push({
          reason: 'CALLER_PIN_MISMATCH',
          detail: `${caller.exe} has sha256 ${hash}, the pin is ${rule.sha256}; if the update is expected: cr policy allow ${caller.exe} --pin`,
        });
        continue;
      }
    }
    const weak = weakPin || rule.script !== undefined;
    return {
      ok: true,
      weak,
      detail: `${caller.exe}${rule.script === undefined ? '' : ` running ${rule.script} (weaker evidence: script)`}${rule.sha256 === undefined ? '' : ' (pin matches)'} is allowed`,
    };
  }
  const order: readonly ReasonCode[] = [
    'CALLER_PIN_MISMATCH',
    'CALLER_HASH_UNAVAILABLE',
    'SCRIPT_NOT_ALLOWED',
    'INTERPRETER_NEEDS_SCRIPT',
    'CALLER_UID_MISMATCH',
  ];
  failures.sort((a, b) => order.indexOf(a.reason) - order.indexOf(b.reason));
  const first = failures[0] ?? {
    reason: 'CALLER_NOT_ALLOWED' as const,
    detail: `${caller.exe} is not allowed`,
  };
  return { ok: false, ...first };
}

function run(policy: Policy, request: EvaluationRequest, context: EvaluationContext): Outcome {
  const steps: Step[] = [];
  let weak = false;
  const deny = (
    reason: ReasonCode,
    step: string,
    detail: string,
    outcome: Decision['outcome'] = 'deny',
  ): Outcome => {
    steps.push({ name: step, pass: false, detail });
    return { decision: { outcome, reason, message: detail, weakEvidence: weak }, steps };
  };

  // 1. caller allowed
  const caller = checkCaller(policy, request, context);
  if (!caller.ok) return deny(caller.reason, 'caller', caller.detail);
  weak = caller.weak;
  steps.push({ name: 'caller', pass: true, detail: caller.detail });

  // 2. task exists
  const name = request.task;
  if (!Object.hasOwn(policy.tasks, name)) {
    return deny(
      'UNKNOWN_TASK',
      'task',
      `there is no task ${JSON.stringify(name)}; see cr policy show, or add it: cr policy task add ${name} --target PATH SECRET…`,
    );
  }
  const task = policy.tasks[name] as Task;
  steps.push({ name: 'task', pass: true, detail: `task ${name} exists` });

  // 3. via satisfied: every entry is the caller or one of its readable ancestors, by its exe or,
  // for an interpreter, the script it runs (an npm agent is a node script: the way a caller
  // rule's `script` matches, and as weak, architecture §6)
  if (task.via !== undefined) {
    const chain = new Set<string>([request.caller.exe]);
    for (const ancestor of request.caller.ancestry) {
      if (ancestor.exe !== null) chain.add(ancestor.exe);
      if (ancestor.script !== undefined) chain.add(ancestor.script);
    }
    const missing = task.via.filter((exe) => !chain.has(exe));
    if (missing.length > 0) {
      return deny(
        'VIA_MISSING',
        'via',
        `task ${name} must be run from ${missing.join(', ')}, which is neither the caller nor among its ancestors (${[...chain].join(' ← ')})`,
      );
    }
    steps.push({ name: 'via', pass: true, detail: `${task.via.join(', ')} found in the caller's ancestry` });
  } else {
    steps.push({ name: 'via', pass: true, detail: 'no via required' });
  }

  // 4. target allowed: the resolved argv[0], compared with each entry as written and as resolved
  const { requested, resolved } = request.target;
  if (resolved === null) {
    return deny('TARGET_NOT_FOUND', 'target', `command not found: ${requested} (not a file and not on PATH)`);
  }
  const hint = `cr policy task edit ${name} ${[...task.targets, resolved].map((t) => `--target ${t}`).join(' ')}`;
  if (task.targets.length === 0) {
    return deny(
      'TARGET_NOT_ALLOWED',
      'target',
      `task ${name} lists no targets, so it runs nothing; to allow ${resolved}: ${hint}`,
    );
  }
  const entry = task.targets.find(
    (candidate) => candidate === resolved || context.targetRealpaths?.get(candidate) === resolved,
  );
  if (entry === undefined) {
    return deny(
      'TARGET_NOT_ALLOWED',
      'target',
      `${requested} resolves to ${resolved}, which task ${name} does not allow (targets: ${task.targets.join(', ')}); to allow it: ${hint}`,
    );
  }
  // A pin, like a caller rule's sha256: the file that runs must be the file that was pinned.
  const pin = task.target_sha256 === undefined ? undefined : task.target_sha256[entry];
  if (pin !== undefined) {
    const hash = request.target.sha256;
    if (hash === undefined) {
      return deny('TARGET_HASH_UNAVAILABLE', 'target', `${resolved} is pinned but its hash was not computed`);
    }
    if (hash !== pin) {
      return deny(
        'TARGET_PIN_MISMATCH',
        'target',
        `${resolved} changed since task ${name} pinned it (sha256 ${shortHash(hash)}…, pinned ${shortHash(pin)}…); if the change is expected: cr policy task edit ${name} --pin`,
      );
    }
  }
  steps.push({
    name: 'target',
    pass: true,
    detail: `${requested} resolves to ${resolved}, an allowed target${pin === undefined ? '' : ' (pin matches)'}`,
  });

  // 5. ttl after unlock
  if (task.ttl !== undefined) {
    const ttl = durationMs(task.ttl) ?? 0;
    const age = context.now - context.unlockedAt;
    if (age >= ttl) {
      return deny(
        'TTL_EXPIRED',
        'ttl',
        `task ${name} may run for ${task.ttl} after unlock, and the vault was unlocked ${Math.floor(age / 1000)} s ago; run cr lock and cr unlock`,
      );
    }
    steps.push({ name: 'ttl', pass: true, detail: `within ${task.ttl} of unlock` });
  } else {
    steps.push({ name: 'ttl', pass: true, detail: 'no ttl' });
  }

  // 6. rate: spawns in the window (now - window_ms, now]
  if (task.max_spawns !== undefined && task.window_ms !== undefined) {
    const since = context.now - task.window_ms;
    const count = context.recentSpawns(name).filter((t) => t > since && t <= context.now).length;
    if (count >= task.max_spawns) {
      return deny(
        'RATE_LIMITED',
        'rate',
        `task ${name} allows ${task.max_spawns} spawns per ${task.window_ms} ms and ${count} already ran; try again later`,
      );
    }
    steps.push({
      name: 'rate',
      pass: true,
      detail: `${count} of ${task.max_spawns} spawns in the last ${task.window_ms} ms`,
    });
  } else {
    steps.push({ name: 'rate', pass: true, detail: 'no rate limit' });
  }

  // 7. the child's confinement can be applied (architecture §8): refuse, never run unconfined
  const needed = landlockAbiNeeded(task);
  const abi = context.landlockAbi ?? 0;
  if (needed > abi) {
    return deny(
      'CONFINE_UNSUPPORTED',
      'confine',
      `task ${name} confines its child (${task.connect === undefined ? 'write' : 'connect'}), which needs Landlock ABI ${needed}; ${context.landlockAbi === undefined ? 'the kernel was not asked' : abi === 0 ? 'this kernel has no Landlock' : `this kernel has ABI ${abi}`}, so it is refused rather than run unconfined`,
    );
  }
  const confined = describeConfinement(task);
  steps.push({
    name: 'confine',
    pass: true,
    detail:
      confined.length === 0 ? 'the child is not confined' : `the child is confined: ${confined.join('; ')}`,
  });

  // 8. approval, remembered per (task, caller exe, parent pid, parent start time)
  const done = (reason: ReasonCode, detail: string): Outcome => {
    steps.push({ name: 'decision', pass: true, detail });
    return {
      decision: {
        outcome: 'allow',
        reason,
        message: detail,
        secrets: task.secrets,
        output: task.output,
        weakEvidence: weak,
      },
      steps,
    };
  };
  if (task.approve !== 'never') {
    const parent = request.caller.ancestry[0];
    const granted =
      parent !== undefined &&
      parent.startTime !== null &&
      context.grants({
        task: name,
        callerExe: request.caller.exe,
        parentPid: parent.pid,
        parentStartTime: parent.startTime,
      });
    if (!granted) {
      return deny(
        'APPROVAL_REQUIRED',
        'approval',
        `task ${name} needs approval (${task.approve}); approve it in cr tui or cr approve`,
        'needs-approval',
      );
    }
    steps.push({ name: 'approval', pass: true, detail: `a live grant (${task.approve}) covers this caller` });
    return done('ALLOWED_BY_GRANT', `allowed: ${name} runs ${resolved} (approved)`);
  }
  steps.push({ name: 'approval', pass: true, detail: 'no approval needed' });
  return done('ALLOWED', `allowed: ${name} runs ${resolved}`);
}

/**
 * Decide a spawn request, in the order of architecture §7: caller allowed → task exists → via
 * satisfied → target allowed → ttl → rate → confinement possible → approval → allow. Pure: it does no I/O and reads
 * the clock only through `context.now`; the service resolves argv[0], hashes binaries and
 * keeps spawn history and grants, and passes them in.
 *
 * @param policy - The unlocked vault's policy.
 * @param request - Who asks (kernel identity), which task, which target.
 * @param context - Clock, unlock time, spawn history, grants, whether the peer is the CLI.
 * @returns The decision, with a reason code to audit and a message for people.
 * @example
 * ```ts
 * const d = evaluate(policy, { caller, task: 'deploy', target: { requested: 'curl', resolved: '/usr/bin/curl' } }, ctx);
 * if (d.outcome === 'allow') spawnWith(d.secrets, d.output);
 * ```
 */
export function evaluate(policy: Policy, request: EvaluationRequest, context: EvaluationContext): Decision {
  return run(policy, request, context).decision;
}

/**
 * Each step of {@link evaluate}'s order with pass or fail, for `cr policy explain`. The
 * first failing step is the last line; steps after it were not reached.
 *
 * @returns Lines like `✓ caller: /usr/bin/agent is allowed` and `✗ target: …`.
 */
export function explain(policy: Policy, request: EvaluationRequest, context: EvaluationContext): string[] {
  const { decision, steps } = run(policy, request, context);
  const lines = steps.map((step) => `${step.pass ? '✓' : '✗'} ${step.name}: ${step.detail}`);
  lines.push(
    `→ ${decision.outcome} (${decision.reason})${decision.weakEvidence ? ' [weaker evidence]' : ''}`,
  );
  return lines;
}
