// SPDX-License-Identifier: AGPL-3.0-only
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { CallerIdentity } from '@cora/identity';
import {
  IpcError,
  type PolicyExplainResult,
  type PolicyExplainStep,
  type PolicyGetResult,
  type PolicySetResult,
} from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import {
  evaluate,
  explain,
  isPolicyError,
  parsePolicy,
  serializePolicy,
  type EvaluationContext,
  type EvaluationRequest,
} from '@cora/policy';
import { CrError } from '../shared/errors.ts';
import { policyNeedsHash } from './authorize.ts';
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
    throw new CrError('LOCKED', 'the policy is inside the locked vault; run cr unlock');
  }
}

/**
 * `policy.get`: the current policy as stored JSON (architecture §7). It is not secret, but it lives
 * in the encrypted vault, so while locked there is none to show.
 * @throws CrError `LOCKED`.
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
 *   target that runs code its caller chooses (unless `allowInterpreterTargets`); CrError `AUTH_FAILED`,
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
 * the same process tree, without a script), else for the real caller. Spawn history and
 * approval grants belong to `exec`: explain assumes no recent spawn and no grant.
 *
 * @throws CrError `LOCKED`; IpcError `BAD_REQUEST` for an empty argv or a relative caller.
 */
export function policyExplain(
  state: ServiceState,
  params: { readonly task: string; readonly argv: readonly string[]; readonly caller?: string },
  peer: ExplainPeer,
): PolicyExplainResult {
  requireUnlocked(state);
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
