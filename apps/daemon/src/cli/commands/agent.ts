// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr agent [--profile NAME] [--allow-read P] [--allow-write P] [--protect P] -- CMD…`
 * (issue 13, architecture §13): run an agent inside a Landlock sandbox it and its descendants
 * cannot leave, then get out of the way (`execve`: the agent replaces this process).
 */
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  canonicalPath,
  confineAndExec,
  isSandboxError,
  landlockAbi,
  planForKernel,
  type SandboxSpec,
} from '@cora/sandbox';
import { parsePolicy } from '@cora/policy';
import { coraHome } from '../../shared/paths.ts';
import { CrError } from '../../shared/errors.ts';
import { isRuntimeHook } from '../../shared/harden.ts';
import { resolveCommand } from '../../shared/resolve.ts';
import { AGENT_PROFILES, agentSpec } from '../agent-spec.ts';
import { connectService } from '../client.ts';
import { out } from '../output.ts';

/** The Landlock ABI `cr agent` needs: 6 brings the signal and abstract-socket scopes. */
export const AGENT_MIN_ABI = 6;

/** Exit code when the kernel cannot confine the agent (README "Exit codes"); nothing was run. */
const EXIT_NO_SANDBOX = 78;

/** Options of `cr agent`. */
export interface AgentOptions {
  profile?: string;
  allowRead?: string[];
  allowWrite?: string[];
  protect?: string[];
  unconfined?: boolean;
  dryRun?: boolean;
}

/**
 * The agent's environment: the user's, minus every variable that loads code into a runtime or
 * steers the loader (`NODE_OPTIONS`, `NODE_*`, `LD_*`, `*_PRELOAD`…, harden.ts), plus
 * `CORA_AGENT=1` so tools can tell they run confined (a hint, not a proof).
 * @param env - the user's environment
 * @returns a new object of strings
 */
function agentEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value.includes('\0') || isRuntimeHook(name)) continue;
    result[name] = value;
  }
  result['CORA_AGENT'] = '1';
  return result;
}

/**
 * The installation `cr` runs from, kept read-only inside the sandbox (an agent that rewrites
 * the CLI would run its code in the user's next `cr unlock`): the workspace root when `cr`
 * runs from a checkout (its `pnpm-workspace.yaml`), else the app's package directory; and the
 * Node binary.
 */
function installationPaths(): string[] {
  const app = dirname(dirname(fileURLToPath(import.meta.url)));
  let root = realpathSync(app);
  for (let dir = root; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) {
      root = dir;
      break;
    }
  }
  // dist/ or src/cli/: the app directory is the first parent that holds package.json.
  while (!existsSync(join(root, 'package.json')) && root !== dirname(root)) root = dirname(root);
  return [root, realpathSync(process.execPath)];
}

function tempDirs(env: NodeJS.ProcessEnv): string[] {
  const dirs = new Set(['/tmp', '/var/tmp']);
  const fromEnv = env['TMPDIR'];
  if (fromEnv !== undefined && fromEnv.startsWith('/')) dirs.add(fromEnv);
  dirs.add(tmpdir());
  return [...dirs].filter((dir) => existsSync(dir)).map((dir) => canonicalPath(dir));
}

/** A path with its directory resolved but not its last component (a symlink stays itself). */
function entryPath(path: string): string {
  const parent = canonicalPath(dirname(path));
  return parent === '/' ? `/${basename(path)}` : `${parent}/${basename(path)}`;
}

/**
 * The targets of the vault's tasks, as their directory entries and the files they resolve to,
 * asked of the running service; null when none runs unlocked (the policy is in the vault).
 * @param home - the Cora home
 */
async function taskTargets(home: string): Promise<string[] | null> {
  const service = await connectService(home).catch(() => null);
  if (service === null) return null;
  try {
    if ((await service.status()).state !== 'unlocked') return null;
    const policy = parsePolicy(await service.getPolicy());
    const paths = new Set<string>();
    for (const task of Object.values(policy.tasks)) {
      for (const target of task.targets) {
        paths.add(entryPath(target));
        paths.add(canonicalPath(target));
      }
    }
    return [...paths];
  } catch {
    return null;
  } finally {
    service.close();
  }
}

/**
 * Build the sandbox spec of this invocation from the environment and options.
 * @param options - the command's options
 * @param env - the user's environment
 * @param targets - the tasks' targets (kept unwritable)
 * @returns the spec
 * @throws CrError `USAGE` for an unknown profile
 */
function buildAgentSpec(
  options: AgentOptions,
  env: NodeJS.ProcessEnv,
  targets: readonly string[],
): SandboxSpec {
  const profile = options.profile ?? 'generic';
  if (!Object.hasOwn(AGENT_PROFILES, profile)) {
    throw new CrError(
      'USAGE',
      `unknown profile '${profile}'; one of: ${Object.keys(AGENT_PROFILES).join(', ')} (add paths with --allow-write)`,
    );
  }
  const home = canonicalPath(env['HOME'] ?? '/');
  // A profile's directories are made (0700) when missing, so the agent can keep its state.
  for (const relative of AGENT_PROFILES[profile] ?? []) {
    if (!relative.endsWith('.json')) mkdirSync(join(home, relative), { recursive: true, mode: 0o700 });
  }
  return agentSpec({
    home,
    coraHome: canonicalPath(coraHome(env)),
    cwd: canonicalPath(process.cwd()),
    tmp: tempDirs(env),
    profile,
    allowRead: (options.allowRead ?? []).map(canonicalPath),
    allowWrite: (options.allowWrite ?? []).map(canonicalPath),
    protect: (options.protect ?? []).map(canonicalPath),
    installation: installationPaths(),
    targets,
  });
}

/**
 * `cr agent -- CMD…`: confine this process (Landlock, no_new_privs, signal and abstract
 * socket scopes) and exec CMD in it with the user's environment minus runtime hooks.
 *
 * @param argv - the agent's command line
 * @param options - profile, extra paths, `--unconfined`, `--dry-run`
 * @returns an exit code when nothing was run (no sandbox, dry run); on success it never settles
 * @throws CrError `USAGE` (no command, unknown profile), `NOT_FOUND` (the command is not on PATH)
 */
export async function cmdAgent(argv: readonly string[], options: AgentOptions): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) throw new CrError('USAGE', 'usage: cr agent [--profile NAME] -- COMMAND [ARG…]');
  // Landlock is the confinement (@cora/sandbox): there is nothing to confine with elsewhere.
  if (process.platform !== 'linux') {
    throw new CrError(
      'UNAVAILABLE',
      `cr agent confines an agent with Landlock, which ${process.platform} does not have; run the agent as it is and give it only cr exec (SECURITY.md, per platform)`,
    );
  }
  const env = agentEnvironment(process.env);
  const file = resolveCommand(command, env['PATH'] ?? '', process.cwd()).resolved;
  if (file === null) throw new CrError('NOT_FOUND', `${command}: command not found on PATH`);
  const targets = options.unconfined === true ? [] : await taskTargets(coraHome(process.env));
  if (targets === null) {
    process.stderr.write(
      'cr: warning: no unlocked service, so the targets of your tasks are not known and stay writable to this agent; run cr unlock first, or pin targets (cr policy task edit --pin).\n',
    );
  }
  const spec = buildAgentSpec(options, process.env, targets ?? []);
  const abi = landlockAbi();
  if (options.dryRun === true) {
    out(`landlock abi ${String(abi)} (cr agent needs ${String(AGENT_MIN_ABI)})`);
    out(`task targets kept unwritable: ${targets === null ? 'unknown (locked)' : String(targets.length)}`);
    out(`exec ${file}`);
    for (const rule of planForKernel(spec, Math.max(abi, 1))) {
      out(`${rule.access.toString(16).padStart(4, '0')} ${rule.path}`);
    }
    return 0;
  }
  if (options.unconfined === true) {
    process.stderr.write(
      'cr: warning: --unconfined: the agent runs WITHOUT a sandbox. It can read the Cora home (vault, audit log), signal or impersonate the service, read /proc/<pid>/environ of the children it spawns and rewrite files that steer tasks (SECURITY.md "Same-uid processes").\n',
    );
    process.execve?.(file, [command, ...rest], env);
    throw new CrError('INTERNAL', 'process.execve is missing (Node ≥ 23.11 is needed)');
  }
  if (abi < AGENT_MIN_ABI) {
    process.stderr.write(
      abi === 0
        ? 'cr: this kernel has no Landlock (or it is disabled), so cr agent cannot confine the agent; nothing was run. Landlock ABI 6 (Linux 6.12) is needed; --unconfined runs it anyway, without the protections.\n'
        : `cr: this kernel's Landlock ABI is ${String(abi)}; cr agent needs ${String(AGENT_MIN_ABI)} (Linux 6.12) to keep the agent from signalling the service; nothing was run. --unconfined runs it anyway, without the protections.\n`,
    );
    return EXIT_NO_SANDBOX;
  }
  try {
    return confineAndExec(spec, file, [command, ...rest], env, { minAbi: AGENT_MIN_ABI });
  } catch (error) {
    if (isSandboxError(error, 'UNSUPPORTED') || isSandboxError(error, 'ARCH_UNSUPPORTED')) {
      process.stderr.write(`cr: cannot confine the agent: ${error.message}; nothing was run\n`);
      return EXIT_NO_SANDBOX;
    }
    if (isSandboxError(error, 'EXEC_FAILED')) throw new CrError('NOT_FOUND', error.message, { cause: error });
    throw error;
  }
}
