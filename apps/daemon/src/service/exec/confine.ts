// SPDX-License-Identifier: AGPL-3.0-only
/**
 * A task's confinement of its child, on the service's side (architecture §8, issue 13 item 2):
 * the clean HOME, and the exec helper (`confine-main.ts`) that confines itself with Landlock
 * and then execs the target, so the service itself is never confined. posix_spawn gives no
 * hook between fork and exec, hence the helper: the service spawns Node on it, with the
 * child's environment under a name prefix (Node reads none of it), and the helper execs the
 * target with the names restored, the pinned descriptor kept as fd 3.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TaskConfinement } from '@cora/policy';
import { landlockAbiNeeded } from '@cora/policy';
import {
  DEVICE_ACCESS,
  DEVICE_PATHS,
  READ_ACCESS,
  WRITE_ACCESS,
  canonicalPath,
  landlockAbi,
  type SandboxSpec,
} from '@cora/sandbox';
import { becomeSubreaper } from './descendants.ts';
import { CHILD_ENV_PREFIX } from './internal/child-env.ts';

/** Name prefix of the clean HOME directories in the run directory. */
const HOME_PREFIX = 'child-home-';
/** Every filesystem right (unconfined writes when a task confines only TCP). */
const ALL_ACCESS = 0xffff;
/** Everything but listing names: the Cora home stays out of the child's reach. */
const NO_ACCESS = ALL_ACCESS & ~(1 << 3);

/**
 * With a clean HOME these variables would point a tool back to configuration an agent can
 * write, so they are not passed even when `env_pass` names them (a secret of that name is).
 */
const HOME_REDIRECTS: ReadonlySet<string> = new Set([
  'XDG_CONFIG_HOME',
  'XDG_CONFIG_DIRS',
  'XDG_DATA_HOME',
  'XDG_DATA_DIRS',
  'XDG_CACHE_HOME',
  'XDG_STATE_HOME',
  'CURL_HOME',
  'WGETRC',
  'NETRC',
  'PIP_CONFIG_FILE',
  'DOCKER_CONFIG',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'CARGO_HOME',
  'GNUPGHOME',
  'GH_CONFIG_DIR',
  'KUBECONFIG',
  // Replaced: HOME by the clean directory, TMPDIR by the same (a private temp directory).
  'HOME',
  'TMPDIR',
]);

/**
 * Whether a clean HOME replaces or drops the caller's variable `name` (so the approver is not
 * shown it as passed).
 * @param name - a variable name
 * @returns true for HOME, TMPDIR and the variables that point to configuration elsewhere
 */
export function cleanHomeDrops(name: string): boolean {
  return HOME_REDIRECTS.has(name);
}

interface Configured {
  /** Where clean HOMEs are made: the service's run directory (0700, the Cora home's). */
  readonly runDir: string;
  /** The Cora home, canonical: no confined child reads or writes it. */
  readonly coraHome: string;
}

let configured: Configured | undefined;
let abi: number | undefined;

/**
 * Set the service up for children (once, at start): subreaper (descendants.ts), the run
 * directory for clean HOMEs (leftovers of a crashed service are removed).
 * @param coraHome - the Cora home
 * @param runDir - its run directory (the socket's)
 */
export function configureChildren(coraHome: string, runDir: string): void {
  becomeSubreaper();
  configured = { runDir, coraHome: canonicalPath(coraHome) };
  for (const name of readdirSync(runDir)) {
    if (name.startsWith(HOME_PREFIX)) rmSync(join(runDir, name), { recursive: true, force: true });
  }
}

/** The run directory set by {@link configureChildren} (null before: tests without a service). */
export function childRunDir(): string | null {
  return configured?.runDir ?? null;
}

/** The kernel's Landlock ABI (0: none), asked once; `evaluate` refuses a task it cannot confine. */
export function childLandlockAbi(): number {
  abi ??= process.platform === 'linux' ? landlockAbi() : 0;
  return abi;
}

/** The exec helper: the built `child-confine.js` next to the service, or the source when run from it. */
function helperPath(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? join(dirname(here), 'confine-main.ts')
    : join(dirname(here), 'child-confine.js');
}

/** How the spawn changes for a confined task. */
export interface ConfinedLaunch {
  /** The program posix_spawn runs: the target, or Node on the helper. */
  readonly file: string;
  readonly argv: readonly string[];
  /** The variable names to give the spawn (prefixed for the helper). */
  rename(name: string): string;
  /** Which entries the child gets (a clean HOME drops the redirects). */
  keep(name: string, secret: boolean): boolean;
  /** Entries to add (HOME, TMPDIR of a clean HOME). */
  readonly extra: readonly { name: string; value: Uint8Array }[];
  /** Remove the clean HOME (after the child exited). Idempotent. */
  cleanup(): void;
}

/**
 * Plan the launch of `file` under `task`'s confinement: make the clean HOME, build the
 * helper's command line when Landlock is needed.
 * @param task - the task's confinement fields
 * @param file - the resolved target
 * @param argv - the caller's argv
 * @param fd - the pinned target's descriptor (executed as fd 3), if any
 * @param sha256 - the pinned hash the helper checks again through fd 3 just before exec
 * @returns the launch
 * @throws Error when a clean HOME is asked of a service that was not configured, or when the
 *   kernel lacks the ABI (evaluate refuses such a task first; this is the second check)
 */
export function planLaunch(
  task: TaskConfinement,
  file: string,
  argv: readonly string[],
  fd: number | undefined,
  sha256: string | undefined,
): ConfinedLaunch {
  const needed = landlockAbiNeeded(task);
  if (needed > childLandlockAbi()) {
    throw new Error(
      `the task's confinement needs Landlock ABI ${String(needed)}; this kernel has ${String(childLandlockAbi())}`,
    );
  }
  let home: string | undefined;
  if (task.home === 'clean') {
    if (configured === undefined) throw new Error('a clean HOME needs the service run directory');
    // mkdtemp: a new name, created 0700 and failing if it exists, so nothing can be planted
    // there in advance; canonical, because Landlock rules name real paths.
    home = canonicalPath(mkdtempSync(join(configured.runDir, HOME_PREFIX)));
  }
  const cleanup = (): void => {
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
    home = undefined;
  };
  const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
  const extra =
    home === undefined
      ? []
      : [
          { name: 'HOME', value: encode(home) },
          { name: 'TMPDIR', value: encode(home) },
        ];
  const keep = (name: string, secret: boolean): boolean =>
    home === undefined || secret || !cleanHomeDrops(name);
  if (needed === 0) return { file, argv, rename: (name) => name, keep, extra, cleanup };
  const spec = childSpec(task, home);
  const target = fd === undefined ? file : '/proc/self/fd/3';
  return {
    file: process.execPath,
    argv: [
      process.execPath,
      '--no-warnings',
      '--disable-sigusr1',
      helperPath(),
      JSON.stringify(spec),
      target,
      sha256 ?? '-',
      '--',
      ...argv,
    ],
    rename: (name) => `${CHILD_ENV_PREFIX}${name}`,
    keep,
    extra,
    cleanup,
  };
}

/** The Landlock spec of a child: read everywhere, write in `write` (or everywhere), TCP ports. */
function childSpec(task: TaskConfinement, home: string | undefined): SandboxSpec {
  const writes = task.write;
  const grants = [
    { path: '/', access: writes === undefined ? ALL_ACCESS : READ_ACCESS },
    ...(writes === undefined
      ? []
      : [
          ...DEVICE_PATHS.map((path) => ({ path, access: DEVICE_ACCESS })),
          // Stored as realpaths by `cr policy task add`; a path since swapped for a symlink
          // gets no rule (plan.ts), so the swap narrows the grant, never widens it.
          ...writes.map((path) => ({ path, access: WRITE_ACCESS })),
        ]),
    // Inside the Cora home (run/): an explicit grant reopens it within the soft protection.
    ...(home === undefined ? [] : [{ path: home, access: WRITE_ACCESS, explicit: true }]),
  ];
  const protect = configured === undefined ? [] : [{ path: configured.coraHome, withhold: NO_ACCESS }];
  return task.connect === undefined ? { grants, protect } : { grants, protect, connectTcp: task.connect };
}
