// SPDX-License-Identifier: AGPL-3.0-only
/**
 * What else shapes an approved command besides its argv (architecture §7 "Approvals", issue 12):
 * the environment the child gets from the caller, and files in the child's HOME or working
 * directory that common targets read on their own. The agent can set both (same uid), so the
 * approver is shown both. See SECURITY.md "What the approver is shown".
 */
import { stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { APPROVAL_LIMITS, type ApprovalEnvVar, type ApprovalFile } from '@cora/ipc';
import { childEnvironment, type Task } from '@cora/policy';

/**
 * Files known to steer common targets, relative to the child's HOME: each can send the output,
 * the request or the credentials elsewhere, run a command, or change the trust of a connection
 * (`.curlrc` `output =`, `.netrc` hosts, `.gitconfig` `core.sshCommand` / `credential.helper`,
 * `.npmrc` `registry` / `script-shell`, `.ssh/config` `ProxyCommand`, `.aws/config`
 * `credential_process`, `.docker/config.json` `credsStore`…). The list is a decision, kept
 * short; SECURITY.md says what it does not cover.
 */
export const HOME_STEERING_FILES: readonly string[] = Object.freeze([
  '.curlrc',
  '.netrc',
  '.wgetrc',
  '.gitconfig',
  '.config/git/config',
  '.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  '.pypirc',
  '.pip/pip.conf',
  '.config/pip/pip.conf',
  '.ssh/config',
  '.docker/config.json',
  '.aws/config',
  '.config/gh/config.yml',
  '.cargo/config.toml',
]);

/** The same for the child's working directory (project-level configuration). */
export const CWD_STEERING_FILES: readonly string[] = Object.freeze([
  '.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  '.git/config',
  '.cargo/config.toml',
]);

/**
 * The variables the child gets from the caller's environment, as `@cora/policy` builds them
 * (base names, `LC_*`, the task's `env_pass`; hooks never), without those a secret of the
 * same name replaces, each value cut at {@link APPROVAL_LIMITS}.
 *
 * @param env - the caller's environment sent with `exec`
 * @param task - the task (its `env_pass` and `secrets`)
 * @returns the variables by name, and how many were left out past the count limit
 */
export function passedEnvironment(
  env: Readonly<Record<string, string>>,
  task: Pick<Task, 'env_pass' | 'secrets'>,
): { env: ApprovalEnvVar[]; omitted: number } {
  const secrets = new Set(task.secrets);
  const decoder = new TextDecoder();
  const all = childEnvironment(env, task, [])
    .filter((entry) => !secrets.has(entry.name) && entry.value instanceof Uint8Array)
    .map((entry) => {
      // Plain entries only (no secret was given): the caller's own bytes.
      const bytes = entry.value as Uint8Array;
      const kept = cutUtf8(bytes, APPROVAL_LIMITS.maxEnvValueBytes);
      return { name: entry.name, value: decoder.decode(kept), more: bytes.length - kept.length };
    });
  return {
    env: all.slice(0, APPROVAL_LIMITS.maxEnv),
    omitted: Math.max(0, all.length - APPROVAL_LIMITS.maxEnv),
  };
}

/** `bytes` cut to at most `max`, never inside a UTF-8 sequence. */
export function cutUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut falls before a lead byte.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end);
}

/** A stat that gives up after `ms` (a hung mount must not hold the approval back). */
async function statWithin(path: string, ms: number): Promise<Date | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      resolve(null);
    }, ms);
  });
  try {
    return await Promise.race([
      stat(path).then(
        (st) => (st.isFile() ? st.mtime : null),
        () => null,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The steering files present for a child run in `cwd` with the caller's `env`: regular files
 * (a symlink is followed, as the target would) from {@link HOME_STEERING_FILES} in its HOME
 * (the caller's `HOME`, else this user's home from the password database, which the tools
 * fall back to) and {@link CWD_STEERING_FILES} in `cwd`.
 *
 * @param env - the caller's environment sent with `exec`
 * @param cwd - the child's working directory
 * @returns the files found, HOME first
 */
export async function steeringFiles(
  env: Readonly<Record<string, string>>,
  cwd: string,
): Promise<ApprovalFile[]> {
  const passedHome = env['HOME'];
  const home = passedHome !== undefined && isAbsolute(passedHome) ? passedHome : userInfo().homedir;
  const candidates = [
    ...HOME_STEERING_FILES.map((path) => ({ where: 'home' as const, dir: home, path })),
    ...CWD_STEERING_FILES.map((path) => ({ where: 'cwd' as const, dir: cwd, path })),
  ];
  const found = await Promise.all(
    candidates.map(async ({ where, dir, path }) => {
      const modified = await statWithin(join(dir, path), 1000);
      return modified === null ? [] : [{ where, path, modified: modified.toISOString() }];
    }),
  );
  return found.flat().slice(0, APPROVAL_LIMITS.maxFiles);
}
