// SPDX-License-Identifier: AGPL-3.0-only
/**
 * What `cr agent` lets an agent touch (architecture §13), as a `@cora/sandbox` spec. Pure:
 * every path comes in absolute and resolved (commands/agent.ts canonicalizes them).
 */
import {
  Access,
  DEVICE_ACCESS,
  DEVICE_PATHS,
  MODIFY_ACCESS,
  READ_ACCESS,
  WRITE_ACCESS,
  type SandboxSpec,
} from '@cora/sandbox';

/** Agent profiles: the directories and files (relative to HOME) each agent writes its state in. */
export const AGENT_PROFILES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  generic: [],
  claude: ['.claude', '.claude.json', '.cache', '.npm'],
  codex: ['.codex'],
});

/**
 * Files in HOME that steer the targets of tasks (SECURITY.md "An allowed target can be steered"):
 * never writable inside `cr agent`, whatever a profile or `--allow-write` covers.
 */
export const STEERING_FILES: readonly string[] = [
  '.curlrc',
  '.netrc',
  '.wgetrc',
  '.gitconfig',
  '.config/git',
  '.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  '.pypirc',
  '.pip',
  '.config/pip',
  '.ssh',
  '.docker/config.json',
  '.aws',
  '.config/gh',
  '.cargo/config.toml',
  '.bashrc',
  '.bash_profile',
  '.profile',
  '.zshrc',
  '.zshenv',
];

/** Everything but listing names: a protected directory's entries stay listable (plan.ts). */
const NO_ACCESS: number = ~Access.READ_DIR & 0xffff;

/** Inputs of {@link agentSpec}; every path absolute with symlinks resolved. */
export interface AgentSpecInput {
  /** The user's HOME. */
  readonly home: string;
  /** The Cora home (vault, audit log, service.lock, service.log, run/). */
  readonly coraHome: string;
  /** The project: the directory `cr agent` runs in. */
  readonly cwd: string;
  /** Temporary directories (/tmp, $TMPDIR). */
  readonly tmp: readonly string[];
  /** Profile name, a key of {@link AGENT_PROFILES}. */
  readonly profile: string;
  /** `--allow-read` paths: readable even inside a `--protect`ed path. */
  readonly allowRead: readonly string[];
  /** `--allow-write` paths. */
  readonly allowWrite: readonly string[];
  /** `--protect` paths (`.env` files): neither readable nor writable. */
  readonly protect: readonly string[];
  /** The Cora installation (the CLI's files, the Node binary): readable, never writable. */
  readonly installation: readonly string[];
  /**
   * The targets of the vault's tasks, each as its directory entry and as the file it resolves
   * to: an agent that rewrites a target runs its own code with the task's secrets.
   */
  readonly targets: readonly string[];
}

function under(home: string, relative: string): string {
  return home === '/' ? `/${relative}` : `${home}/${relative}`;
}

/**
 * The sandbox spec of `cr agent`: read and execute everywhere but the Cora home and the
 * `--protect` paths; write in the project, the temp directories, the profile's paths and the
 * `--allow-write` paths, never in the Cora home, the steering files, the installation or the
 * tasks' targets.
 *
 * @param input - resolved paths and options
 * @returns the spec for `confineAndExec`
 * @throws RangeError when the profile is unknown
 */
export function agentSpec(input: AgentSpecInput): SandboxSpec {
  const profile = AGENT_PROFILES[input.profile];
  if (profile === undefined || !Object.hasOwn(AGENT_PROFILES, input.profile)) {
    throw new RangeError(
      `profile must be one of ${Object.keys(AGENT_PROFILES).join(', ')}, got ${JSON.stringify(input.profile)}`,
    );
  }
  const grants = [
    { path: '/', access: READ_ACCESS },
    ...DEVICE_PATHS.map((path) => ({ path, access: DEVICE_ACCESS })),
    { path: '/dev/shm', access: WRITE_ACCESS },
    { path: input.cwd, access: WRITE_ACCESS },
    ...input.tmp.map((path) => ({ path, access: WRITE_ACCESS })),
    ...profile.map((relative) => ({ path: under(input.home, relative), access: WRITE_ACCESS })),
    ...input.allowRead.map((path) => ({ path, access: READ_ACCESS, explicit: true })),
    ...input.allowWrite.map((path) => ({ path, access: WRITE_ACCESS, explicit: true })),
  ];
  const protect = [
    { path: input.coraHome, withhold: NO_ACCESS, hard: true },
    ...input.protect.map((path) => ({ path, withhold: NO_ACCESS })),
    ...STEERING_FILES.map((relative) => ({
      path: under(input.home, relative),
      withhold: MODIFY_ACCESS,
      hard: true,
    })),
    ...input.installation.map((path) => ({ path, withhold: MODIFY_ACCESS, hard: true })),
    ...input.targets.map((path) => ({ path, withhold: MODIFY_ACCESS, hard: true })),
  ];
  return { grants, protect };
}
