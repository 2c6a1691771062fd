// SPDX-License-Identifier: AGPL-3.0-only
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { isIdentityError, processIdentity, type CallerIdentity } from '@cora/identity';
import {
  IpcError,
  type PolicyExplainResult,
  type PolicyExplainStep,
  type PolicyGetResult,
  type PolicySetResult,
  type PolicyVerifyGate,
  type PolicyVerifyResult,
  type PolicyVerifyRule,
} from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import {
  evaluate,
  explain,
  isPolicyError,
  parsePolicy,
  serializePolicy,
  type CallerRule,
  type EvaluationContext,
  type EvaluationRequest,
  type Policy,
} from '@cora/policy';
import {
  callerStep,
  policyNeedsHash,
  policyRefusal,
  refusalReason,
  type CliFingerprint,
  type GateRefusal,
} from './authorize.ts';
import { childLandlockAbi } from './exec/confine.ts';
import { closestName, targetWarnings, type PolicyWriteOptions } from '../shared/policy-checks.ts';
import { resolveCommand } from '../shared/resolve.ts';
import type { ServiceState } from './state.ts';

/** The caller of a `policy.explain`, as the handlers know it. */
export interface ExplainPeer {
  readonly identity: CallerIdentity;
  readonly isCli: boolean;
}

/** PATH used to resolve bare names when the service's own environment has none. */
const FALLBACK_PATH = '/usr/local/bin:/usr/bin:/bin';

function requireUnlocked(state: ServiceState): void {
  if (!state.unlocked) {
    throw new IpcError('LOCKED', 'the policy is inside the locked vault; run cr unlock');
  }
}

/**
 * `policy.get`: the current policy as stored JSON (architecture §7). It is not secret, but it lives
 * in the encrypted vault, so while locked there is none to show.
 * @throws IpcError `LOCKED`.
 */
export function policyGet(state: ServiceState): PolicyGetResult {
  requireUnlocked(state);
  return { policy: serializePolicy(state.policy()) };
}

/**
 * `policy.set`: validate and store a new policy (G6: the passphrase decides), effective at
 * once for every connection.
 * @throws IpcError `BAD_REQUEST` naming the invalid path, `NOT_FOUND` for a task naming a
 *   secret the vault does not hold (unless `allowMissingSecrets`), `NOT_ALLOWED` for a new
 *   target that runs code its caller chooses (unless `allowInterpreterTargets`); IpcError `AUTH_FAILED`,
 *   `NO_VAULT`.
 */
export async function policySet(
  state: ServiceState,
  json: unknown,
  passphrase: SecretBuf,
  options: PolicyWriteOptions = {},
): Promise<PolicySetResult> {
  let policy;
  try {
    policy = parsePolicy(json);
  } catch (error) {
    if (isPolicyError(error)) throw new IpcError('BAD_REQUEST', `invalid policy: ${error.message}`);
    throw error;
  }
  await state.setPolicy(passphrase, policy, options);
  return { ok: true };
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

function sha256Of(path: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * `policy.explain`: walk architecture §7's order for a would-be `exec` without running anything.
 * argv[0] is resolved here like `exec` does it (service PATH; the CLI makes relative paths
 * absolute). With `caller`, the decision is for that executable (as if it connected from
 * the same process tree, without a script), else for the real caller; with `under`, as if
 * that program were an ancestor too. Spawn history and
 * approval grants belong to `exec`: explain assumes no recent spawn and no grant.
 *
 * @throws IpcError `LOCKED`, `BAD_REQUEST` for an empty argv, a relative caller or `under`,
 *   `NOT_ALLOWED` for `caller` or `under` from any caller but the cr CLI.
 */
export function policyExplain(
  state: ServiceState,
  params: {
    readonly task: string;
    readonly argv: readonly string[];
    readonly caller?: string;
    readonly under?: string;
  },
  peer: ExplainPeer,
): PolicyExplainResult {
  requireUnlocked(state);
  // Asking for another program is the human's question: an admitted agent that could name any
  // executable would map the policy for programs it might then imitate, and have the service
  // hash files its sandbox keeps it from reading. About itself it may ask (why was I refused?).
  if (!peer.isCli && (params.caller !== undefined || params.under !== undefined)) {
    throw new IpcError(
      'NOT_ALLOWED',
      'policy.explain for another program (caller, under) is answered to the cr CLI only; ask without them',
    );
  }
  const policy = state.policy();
  const argv0 = params.argv[0];
  if (argv0 === undefined) throw new IpcError('BAD_REQUEST', 'argv is empty: name the command after --');
  let caller: CallerIdentity = peer.identity;
  let isCli = peer.isCli;
  let callerExeSha256: string | undefined;
  if (params.caller !== undefined) {
    if (!isAbsolute(params.caller)) throw new IpcError('BAD_REQUEST', 'caller must be an absolute path');
    const exe = realpathOrNull(params.caller) ?? params.caller;
    // Another exe: the real caller's script and hash say nothing about it.
    const { uid, gid, pid, argv, startTime, ancestry, pinned } = peer.identity;
    caller = { uid, gid, pid, exe, argv, startTime, ancestry, pinned };
    isCli = false;
    if (policyNeedsHash(policy)) callerExeSha256 = sha256Of(exe);
  }
  if (params.under !== undefined) {
    if (!isAbsolute(params.under)) throw new IpcError('BAD_REQUEST', 'under must be an absolute path');
    // One more, outermost ancestor known by that path, as an executable or as the script an
    // interpreter runs (an npm agent): what `via` meets when `cr exec` runs inside that agent.
    // Last, so the parent (approval grants) stays the real one.
    const path = realpathOrNull(params.under) ?? params.under;
    const outer = { pid: caller.pid, uid: caller.uid, exe: path, argv0: null, startTime: null, script: path };
    caller = { ...caller, ancestry: [...caller.ancestry, outer] };
  }
  const resolved = resolveCommand(argv0, process.env['PATH'] ?? FALLBACK_PATH, process.cwd());
  const spec = Object.hasOwn(policy.tasks, params.task) ? policy.tasks[params.task] : undefined;
  const pinned =
    resolved.resolved !== null && spec?.target_sha256 !== undefined
      ? spec.target_sha256[resolved.resolved] !== undefined
      : false;
  // Hashed like exec hashes it (exec hashes the very file it then runs, see exec-handler.ts).
  const hash = pinned && resolved.resolved !== null ? sha256Of(resolved.resolved) : undefined;
  const target = hash === undefined ? resolved : { ...resolved, sha256: hash };
  const request: EvaluationRequest =
    callerExeSha256 === undefined
      ? { caller, task: params.task, target }
      : { caller, callerExeSha256, task: params.task, target };
  const now = Date.now();
  const context: EvaluationContext = {
    now,
    unlockedAt: state.unlockedAt() ?? now,
    recentSpawns: () => [],
    grants: () => false,
    isCli,
    landlockAbi: childLandlockAbi(),
  };
  const decision = evaluate(policy, request, context);
  const steps: PolicyExplainStep[] = [];
  const invalid = state.policyError();
  if (invalid !== null) {
    steps.push({
      step: 'policy',
      ok: false,
      detail: `the stored policy is invalid (${invalid}); it is treated as empty until a cr policy command writes a new one`,
    });
  }
  for (const line of explain(policy, request, context)) {
    const match = /^([✓✗]) ([^:]+): (.*)$/su.exec(line);
    if (match === null) continue; // the closing "→ outcome" line: reported below
    steps.push({ step: match[2] ?? '', ok: match[1] === '✓', detail: match[3] ?? '' });
    // A target the user can replace: said right after the target step (not a failure).
    if (match[2] === 'target' && match[1] === '✓' && target.resolved !== null) {
      for (const detail of targetWarnings(target.resolved, pinned))
        steps.push({ step: 'warning', ok: true, detail });
    }
  }
  if (decision.outcome === 'deny' || spec === undefined) {
    return { steps, outcome: decision.outcome, reason: decision.reason };
  }
  return withSecretsStep(steps, spec.secrets, state, decision.outcome, decision.reason);
}

/**
 * The `secrets` step, which `exec` checks after the policy (a task naming a secret the vault
 * does not hold fails there with exit 5): before the closing `decision` step when every
 * secret is held; when one is missing it is the failing last step and the outcome is a deny
 * with reason `SECRET_MISSING`.
 */
function withSecretsStep(
  steps: PolicyExplainStep[],
  names: readonly string[],
  state: ServiceState,
  outcome: PolicyExplainResult['outcome'],
  reason: string,
): PolicyExplainResult {
  const held = new Set(state.list().map((s) => s.name));
  const missing = names.filter((name) => !held.has(name));
  const last = steps.at(-1);
  // allow ends with `decision`, needs-approval with the failing `approval` step.
  const tail = last !== undefined && (last.step === 'decision' || last.step === 'approval') ? [last] : [];
  const head = steps.slice(0, steps.length - tail.length);
  if (missing.length === 0) {
    const detail = `the vault holds ${names.join(', ')}`;
    return { steps: [...head, { step: 'secrets', ok: true, detail }, ...tail], outcome, reason };
  }
  const all = [...held];
  const detail = missing
    .map((name) => {
      const near = closestName(name, all);
      return `the task needs ${name}, which the vault does not hold${near === null ? '' : ` (did you mean ${near}?)`}; add it: cr secrets set ${name}`;
    })
    .join('; ');
  return {
    steps: [...head, { step: 'secrets', ok: false, detail }],
    outcome: 'deny',
    reason: 'SECRET_MISSING',
  };
}

/** Details are cut to what the reply schema carries (`policy.verify`, 1024 characters). */
function cut(text: string): string {
  return text.length <= 1024 ? text : `${text.slice(0, 1020)} […]`;
}

/** The identity of `pid` as the service would read it at connect, or why it cannot be read. */
async function identify(pid: number, hashExe: boolean): ReturnType<typeof processIdentity> {
  try {
    return await processIdentity(pid, { hashExe });
  } catch (error) {
    if (!isIdentityError(error)) throw error;
    switch (error.code) {
      case 'PEER_GONE':
        throw new IpcError('NOT_FOUND', `no process has pid ${String(pid)} (or it exited meanwhile)`);
      case 'PID_REUSED':
      case 'PEER_CHANGED':
        throw new IpcError(
          'NOT_FOUND',
          `pid ${String(pid)} changed while it was read (it exited or ran another program); try again`,
        );
      case 'PROC_UNREADABLE':
        throw new IpcError(
          'BAD_REQUEST',
          `the service cannot read pid ${String(pid)}: it is another user's process or a non-dumpable one (such as the Cora service itself), and either would be refused as a caller`,
        );
      case 'EXE_DELETED':
        throw new IpcError(
          'BAD_REQUEST',
          `pid ${String(pid)} runs a binary that was deleted or replaced since it started: the service refuses such a caller`,
        );
      default:
        throw new IpcError(
          'BAD_REQUEST',
          `the service cannot identify pid ${String(pid)} here (${error.code})`,
        );
    }
  }
}

function ruleVerdict(
  policy: Policy,
  list: PolicyVerifyRule['list'],
  rule: CallerRule,
  identity: CallerIdentity,
): PolicyVerifyRule {
  const fields = {
    list,
    exe: rule.exe,
    script: rule.script ?? null,
    uid: rule.uid ?? null,
    sha256: rule.sha256 ?? null,
    pin: rule.sha256 === undefined ? null : identity.exeSha256 === rule.sha256,
  };
  if (rule.exe !== identity.exe) {
    const detail = `the rule names ${rule.exe}; the process runs ${identity.exe}`;
    return { ...fields, match: false, reason: 'CALLER_NOT_ALLOWED', detail: cut(detail) };
  }
  // The caller step alone, with this rule as the only one: the same code the gate runs.
  const refusal = callerStep(policy, [rule], identity);
  if (refusal !== null)
    return { ...fields, match: false, reason: refusal.reason, detail: cut(refusal.message) };
  const detail = `${identity.exe}${rule.script === undefined ? '' : ` running ${rule.script} (weaker evidence: script)`} matches${rule.sha256 === undefined ? '' : ' (pin matches)'}`;
  return { ...fields, match: true, reason: 'ALLOWED', detail: cut(detail) };
}

function gateVerdict(refusal: GateRefusal | null, isCli: boolean, what: string): PolicyVerifyGate {
  if (refusal !== null) return { allowed: false, reason: refusal.reason, detail: cut(refusal.message) };
  const detail = isCli ? 'the cr CLI is always allowed' : `a rule of the policy allows ${what}`;
  return { allowed: true, reason: 'ALLOWED', detail };
}

/** `via` of one task for `identity`: the via step of `evaluate`, the caller step skipped. */
function viaVerdict(
  policy: Policy,
  task: string,
  identity: CallerIdentity,
): PolicyVerifyResult['tasks'][number] {
  const via = policy.tasks[task]?.via;
  const decision = evaluate(
    policy,
    { caller: identity, task, target: { requested: '', resolved: null } },
    { now: 0, unlockedAt: 0, recentSpawns: () => [], grants: () => false, isCli: true },
  );
  if (decision.reason === 'VIA_MISSING') return { task, via: false, detail: cut(decision.message) };
  const detail = via === undefined ? 'no via required' : `${via.join(', ')} found in its ancestry`;
  return { task, via: true, detail: cut(detail) };
}

/**
 * `policy.verify`: what the service would decide for the process holding `pid` as a caller,
 * now — read as at connect (architecture §6), then the gate (`callers`, `status_callers`, the
 * CLI fingerprint) and `via` of every task (architecture §7). Runs nothing. A pid names a
 * process only for a moment: a caller is identified again when it connects.
 *
 * @param state - the service state (the policy is inside the unlocked vault)
 * @param pid - the process to verify
 * @param cli - this installation's CLI fingerprint
 * @throws IpcError `LOCKED`, `NOT_FOUND` (no such process), `BAD_REQUEST` (unreadable).
 */
export async function policyVerify(
  state: ServiceState,
  pid: number,
  cli: CliFingerprint,
): Promise<PolicyVerifyResult> {
  requireUnlocked(state);
  const policy = state.policy();
  const verified = await identify(pid, policyNeedsHash(policy));
  try {
    const identity = verified.identity;
    const why = refusalReason(identity, cli);
    const peer = { identity, isCli: why === null };
    const rules = [
      ...policy.callers.map((rule) => ruleVerdict(policy, 'callers', rule, identity)),
      ...(policy.status_callers ?? []).map((rule) => ruleVerdict(policy, 'status_callers', rule, identity)),
    ];
    const result: PolicyVerifyResult = {
      process: {
        pid,
        uid: identity.uid,
        startTime: identity.startTime.toString(),
        exe: identity.exe,
        exeSha256: identity.exeSha256 ?? null,
        script: identity.script?.path ?? null,
        ancestry: identity.ancestry.map((a) => ({ pid: a.pid, uid: a.uid, exe: a.exe })),
        pinned: identity.pinned,
      },
      cli: {
        match: why === null,
        detail: why === null ? "this installation's cr" : `not this installation's cr (${why} differs)`,
      },
      rules,
      requests: gateVerdict(policyRefusal(peer, policy, 'exec'), peer.isCli, 'requests'),
      status: gateVerdict(policyRefusal(peer, policy, 'status'), peer.isCli, 'status'),
      tasks: Object.keys(policy.tasks).map((task) => viaVerdict(policy, task, identity)),
    };
    // Everything above is about the process that held the pid when it was pinned.
    if (!verified.stillSame()) {
      throw new IpcError(
        'NOT_FOUND',
        `pid ${String(pid)} exited or ran another program while it was verified`,
      );
    }
    return result;
  } finally {
    verified.close();
  }
}
