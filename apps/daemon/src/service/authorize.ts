// SPDX-License-Identifier: AGPL-3.0-only
import { realpathSync } from 'node:fs';
import type { CallerIdentity } from '@cora/identity';
import { IpcError, type IpcHandler, type IpcHandlers, type RequestType } from '@cora/ipc';
import { CALLER_REASONS, evaluate, type Policy } from '@cora/policy';

/** What a caller must look like to be the `cr` CLI of this installation. */
export interface CliFingerprint {
  readonly uid: number;
  /** Resolved path of the Node binary the service runs on (the CLI runs on the same one). */
  readonly nodeExe: string;
  /** Resolved path of this installation's `cli.js` (or `cli.ts` when run from sources). */
  readonly cliScript: string;
}

/**
 * Node flags the CLI may run with: `bin/cr` adds `--disable-sigusr1`; running from sources
 * needs `--conditions=cora-source` (module resolution only, no code). Anything else that could
 * load code or a debugger before the script (`--require`, `--import`, `--inspect`…) refuses
 * the caller.
 */
const ALLOWED_FLAGS = new Set(['--disable-sigusr1', '--conditions=cora-source', '--no-warnings']);

/** Why a caller was refused (for the service log and the audit log of a later issue). */
export type RefusalReason = 'uid' | 'exe' | 'script' | 'flags' | null;

/**
 * Whether the caller is this installation's `cr` CLI (architecture §7: "an empty list allows no one
 * but the cr CLI"; the CLI passes the caller step whatever the policy says, see
 * {@link policyRefusal}): the caller runs under our uid, on the same Node binary as the
 * service, with this installation's CLI script as its entry point and no code-loading flags.
 *
 * The script is weaker evidence than the executable (architecture §6): any process of the same uid
 * can run `node …/dist/cli.js` with arguments of its choosing. That gains it no more than the
 * user's own `cr` has — status, lock, list of names; every change needs the passphrase (G6),
 * and no request returns a value (G2). `callers` gates every other program.
 *
 * @param identity - the kernel-verified caller
 * @param expected - this installation's fingerprint
 * @returns null when allowed, otherwise which check failed
 */
export function refusalReason(identity: CallerIdentity, expected: CliFingerprint): RefusalReason {
  if (identity.uid !== expected.uid) return 'uid';
  if (identity.exe !== expected.nodeExe) return 'exe';
  const script = identity.script;
  if (script === undefined) return 'script';
  let scriptPath: string;
  try {
    scriptPath = realpathSync(script.path);
  } catch {
    return 'script';
  }
  if (scriptPath !== expected.cliScript) return 'script';
  // argv = [node, ...flags, script, ...args]: every flag before the script must be harmless.
  const at = identity.argv.findIndex((arg, i) => i > 0 && !arg.startsWith('-'));
  if (at < 0) return 'script';
  for (const flag of identity.argv.slice(1, at)) {
    if (!ALLOWED_FLAGS.has(flag)) return 'flags';
  }
  return null;
}

/**
 * The fingerprint of this installation, computed by the service at start.
 * @param cliScript - path of the CLI entry beside the service entry
 * @returns resolved paths and our uid
 */
export function ownFingerprint(cliScript: string): CliFingerprint {
  return {
    uid: process.getuid?.() ?? -1,
    nodeExe: realpathSync(process.execPath),
    cliScript: realpathSync(cliScript),
  };
}

/** A caller as the gate sees it: the kernel identity and whether it is this installation's CLI. */
export interface GatePeer {
  readonly identity: CallerIdentity;
  readonly isCli: boolean;
}

/** Why the policy refused a caller: a reason code of `@cora/policy` and a message for people. */
export interface GateRefusal {
  readonly reason: string;
  readonly message: string;
}

/**
 * Step 1 of `evaluate` alone (the caller step), against `rules` used as the `callers` list.
 * `evaluate` is asked about a task that cannot exist (the empty name is not a valid task
 * name), so any reason past the caller step means the caller passed.
 * @returns null when `identity` passes, else the policy's reason
 */
export function callerStep(
  policy: Policy,
  rules: Policy['callers'],
  identity: CallerIdentity,
): GateRefusal | null {
  const decision = evaluate(
    { ...policy, callers: rules },
    { caller: identity, task: '', target: { requested: '', resolved: null } },
    { now: 0, unlockedAt: 0, recentSpawns: () => [], grants: () => false, isCli: false },
  );
  return CALLER_REASONS.includes(decision.reason)
    ? { reason: decision.reason, message: decision.message }
    : null;
}

/**
 * Whether the policy lets `peer` make a request of `type` (architecture §7: "every op on the socket
 * is gated by callers; status may be opened wider"). The `cr` CLI of this installation is
 * always allowed (the human must never be locked out of their own tool, and every change
 * still needs the passphrase, G6). Any other caller needs a matching rule in `callers`, or in
 * `status_callers` for `status`. `type` `connect` asks whether the caller could be allowed
 * anything at all. While locked the policy is unknown (it is inside the ciphertext), so only
 * the CLI is allowed: fail closed. `policy.verify` is the CLI's alone.
 *
 * @param peer - the caller and whether it is the CLI
 * @param policy - the unlocked vault's policy, or null while locked
 * @param type - the request type, or `connect`
 * @returns null when allowed, else why not
 */
export function policyRefusal(
  peer: GatePeer,
  policy: Policy | null,
  type: RequestType | 'connect',
): GateRefusal | null {
  if (peer.isCli) return null;
  // What the service would decide for another process is the user's question, not a caller's.
  if (type === 'policy.verify') {
    return { reason: 'NOT_CLI', message: 'only the cr CLI may ask what the service decides for a process' };
  }
  if (policy === null) {
    return { reason: 'LOCKED', message: 'the vault is locked, and while it is only the cr CLI may call' };
  }
  const refusal = callerStep(policy, policy.callers, peer.identity);
  if (refusal === null) return null;
  if (
    (type === 'status' || type === 'connect') &&
    callerStep(policy, policy.status_callers ?? [], peer.identity) === null
  ) {
    return null;
  }
  return refusal;
}

/**
 * Whether a rule pins an executable, so the service must hash callers' binaries when they
 * connect (`peerIdentity(socket, { hashExe: true })`).
 * @param policy - the current policy, or null while locked
 * @returns true when any rule of `callers` or `status_callers` has a `sha256`
 */
export function policyNeedsHash(policy: Policy | null): boolean {
  if (policy === null) return false;
  return [...policy.callers, ...(policy.status_callers ?? [])].some((rule) => rule.sha256 !== undefined);
}

/**
 * Wrap every handler so that the caller and the policy are checked again before each request:
 * the process may have changed (G5) and the policy can change (or the vault lock) while a
 * caller stays connected. A refusal is `NOT_ALLOWED`.
 *
 * @param handlers - the service's handlers
 * @param check - returns the refusal for (type, peer), or null to go on
 * @returns the same handlers, gated
 */
export function gateHandlers<P>(
  handlers: IpcHandlers<P>,
  check: (type: RequestType, peer: P) => GateRefusal | null,
): IpcHandlers<P> {
  const gated: Record<string, IpcHandler<RequestType, P>> = {};
  for (const [type, handler] of Object.entries(handlers) as [
    RequestType,
    IpcHandler<RequestType, P> | undefined,
  ][]) {
    if (handler === undefined) continue;
    gated[type] = async (request, context) => {
      const refusal = check(type, context.peer);
      if (refusal !== null) {
        throw new IpcError(
          'NOT_ALLOWED',
          refusal.reason === 'PEER_CHANGED'
            ? refusal.message
            : `not allowed by the policy: ${refusal.message}`,
        );
      }
      return await handler(request, context);
    };
  }
  return gated as unknown as IpcHandlers<P>;
}
