// SPDX-License-Identifier: AGPL-3.0-only
import { realpathSync } from 'node:fs';
import type { CallerIdentity } from '@cora/identity';

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
 * The interim caller rule of issue 3, before policy exists (DESIGN §7: "an empty list allows
 * no one but the cr CLI"): the caller runs under our uid, on the same Node binary as the
 * service, with this installation's CLI script as its entry point and no code-loading flags.
 *
 * The script is weaker evidence than the executable (DESIGN §6): any process of the same uid
 * can run `node …/dist/cli.js` with arguments of its choosing. That gains it no more than the
 * user's own `cr` has — status, lock, list of names; every change needs the passphrase (G6),
 * and no request returns a value (G2). Policy (a later issue) narrows who may call at all.
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
