// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Checks that make a policy check itself (architecture §7): secret names a task refers to
 * must exist in the vault, a secret tasks use is not deleted unasked, and a target that the
 * user (hence an agent of the same uid) can replace is named as such, and a target that runs
 * code its caller chooses needs saying so. The service applies
 * the secret checks where the names are known (the decrypted vault); the CLI and the service
 * both use the target check, which reads only file metadata.
 */
import { closeSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { RequestParams } from '@cora/ipc';
import { isInterpreter, type Policy } from '@cora/policy';

/** What a policy write may accept on purpose (`policy.set`). */
export type PolicyWriteOptions = Omit<RequestParams['policy.set'], 'policy'>;

/**
 * Programs that run code named by their arguments, environment or working directory, beyond
 * the interpreters `@cora/policy` knows: wrappers (`env`, `sudo`, `xargs`…), package runners
 * (`npm`, `npx`…, which run scripts from package.json), build tools and `git` (hooks,
 * aliases and config choose what runs).
 */
const LAUNCHERS: ReadonlySet<string> = new Set(
  [
    'env xargs find sudo doas su runuser nohup timeout nice ionice stdbuf setsid chroot',
    'unshare nsenter flock script watch parallel strace ltrace gdb lldb valgrind time exec',
    'command builtin npm npx pnpm pnpx yarn corepack bunx uv uvx pipx poetry pip pip3 cargo',
    'go make gmake cmake ninja java dotnet mono git ssh vim nvim vi emacs docker podman',
    'kubectl',
  ]
    .join(' ')
    .split(' '),
);

/**
 * Whether `target` runs code that whoever calls it chooses: an interpreter or shell
 * (`@cora/policy` isInterpreter) or a launcher ({@link LAUNCHERS}). A task with such a
 * target hands its secrets to code the agent writes.
 * @param target - the target's path (as stored: its realpath)
 */
export function runsCallersCode(target: string): boolean {
  return isInterpreter(target) || LAUNCHERS.has(basename(target));
}

/** A target of a task that runs code its caller chooses. */
export interface CodeRunnerRef {
  readonly task: string;
  readonly target: string;
}

/**
 * The (task, target) pairs of `next` that run caller-chosen code and that `before` did not
 * have (one accepted on purpose earlier does not block later changes).
 * @param before - the stored policy
 * @param next - the policy about to be written
 * @returns the new code-running targets, in task order
 */
export function newCodeRunnerTargets(before: Policy, next: Policy): CodeRunnerRef[] {
  const out: CodeRunnerRef[] = [];
  for (const [task, spec] of Object.entries(next.tasks)) {
    const old = Object.hasOwn(before.tasks, task) ? before.tasks[task] : undefined;
    for (const target of spec.targets) {
      if (runsCallersCode(target) && old?.targets.includes(target) !== true) out.push({ task, target });
    }
  }
  return out;
}

/**
 * The refusal for new code-running targets: each one, why it matters, and the way to accept it.
 * @param runners - from {@link newCodeRunnerTargets}, not empty
 */
export function codeRunnersMessage(runners: readonly CodeRunnerRef[]): string {
  const parts = runners.map(({ task, target }) => `task ${task} targets ${target}`);
  return `${parts.join('; ')}: a shell, interpreter or launcher runs whatever code its caller passes, so the caller (an agent) would choose the code that receives the secrets. Name the real tool as the target instead, or pass --allow-interpreter to accept this`;
}

/** One secret a task names and the vault does not hold. */
export interface MissingRef {
  readonly task: string;
  readonly secret: string;
}

/**
 * The (task, secret) references of `next` that `before` did not have and the vault does not
 * hold. References that were already there stay allowed (a task added with
 * `--allow-missing-secret` must not block every later change of the policy).
 * @param before - the stored policy
 * @param next - the policy about to be written
 * @param held - the names the vault holds
 * @returns the new references to missing secrets, in task order
 */
export function newMissingSecrets(before: Policy, next: Policy, held: ReadonlySet<string>): MissingRef[] {
  const out: MissingRef[] = [];
  for (const [task, spec] of Object.entries(next.tasks)) {
    const old = Object.hasOwn(before.tasks, task) ? before.tasks[task] : undefined;
    for (const secret of spec.secrets) {
      if (held.has(secret) || old?.secrets.includes(secret) === true) continue;
      out.push({ task, secret });
    }
  }
  return out;
}

/**
 * The message for references to missing secrets: each name, the closest held name when one
 * is near (`GH_TOKNE` → did you mean `GH_TOKEN`?), and the way to allow it on purpose.
 * @param missing - from {@link newMissingSecrets}, not empty
 * @param held - the names the vault holds
 * @returns one sentence per missing name, then the advice
 */
export function missingSecretsMessage(missing: readonly MissingRef[], held: readonly string[]): string {
  const parts = missing.map(({ task, secret }) => {
    const near = closestName(secret, held);
    return `task ${task} names ${secret}, which the vault does not hold${near === null ? '' : ` (did you mean ${near}?)`}`;
  });
  return `${parts.join('; ')}. Add it first (cr secrets set NAME), fix the name, or pass --allow-missing-secret for a secret you will add later`;
}

/**
 * Optimal-string-alignment distance (Levenshtein plus the swap of two neighbours, the
 * commonest typo: `TOKNE` for `TOKEN`).
 */
function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = best;
    }
  }
  return at(rows - 1, cols - 1);
}

/**
 * The held name closest to `name`, when it is close enough to be a typo: the same name in
 * another case, or within 1 edit (2 for names of 8 characters or more, ⌊length / 4⌋ beyond).
 * @param name - the name asked for
 * @param held - the names that exist
 * @returns the suggestion, or null
 */
export function closestName(name: string, held: readonly string[]): string | null {
  const upper = name.toUpperCase();
  const sameCase = held.find((h) => h.toUpperCase() === upper && h !== name);
  if (sameCase !== undefined) return sameCase;
  const limit = Math.max(1, Math.min(Math.floor(name.length / 4), 3));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of held) {
    if (Math.abs(candidate.length - name.length) > limit) continue;
    const d = distance(upper, candidate.toUpperCase());
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The tasks whose `secrets` name `secret`.
 * @param policy - the policy
 * @param secret - a secret name
 * @returns task names, sorted
 */
export function tasksUsing(policy: Policy, secret: string): string[] {
  return Object.entries(policy.tasks)
    .filter(([, task]) => task.secrets.includes(secret))
    .map(([name]) => name)
    .sort();
}

/** What the target check found: where the user can write, and which interpreter runs a script. */
export interface TargetRisk {
  /** The file or the first directory on its path that the user can write, or null. */
  readonly writable: string | null;
  /** For a script with a `#!` line: the interpreter line (what really runs), else null. */
  readonly interpreter: string | null;
}

/**
 * Whether the user can change what `stat` describes: for an ordinary user, a file or
 * directory it owns (it can chmod it) or may write; for root, which may write anything, a
 * place another user owns or that group or others may write (root's own system directories
 * would otherwise all count). A sticky directory (`/tmp`) does not let anyone replace entries
 * they do not own.
 */
function userCanWrite(stat: Stats, uid: number, gids: readonly number[]): boolean {
  const sticky = stat.isDirectory() && (stat.mode & 0o1000) !== 0;
  const otherWritable = (stat.mode & 0o002) !== 0 && !sticky;
  if (uid === 0) return stat.uid !== 0 || otherWritable || ((stat.mode & 0o020) !== 0 && stat.gid !== 0);
  if (stat.uid === uid) return true;
  if (gids.includes(stat.gid) && (stat.mode & 0o020) !== 0 && !sticky) return true;
  return otherWritable;
}

/**
 * How `file` (a target's realpath) could be swapped by the user, hence by an agent of the
 * same uid: the file itself, or any directory from its own up to `/`, writable by the
 * user. Reads metadata and the first line of the file only; never throws.
 * @param file - an absolute realpath
 * @param uid - the user (default: this process's)
 * @returns the first writable place, and the interpreter of a script
 */
export function targetRisk(file: string, uid = process.getuid?.() ?? -1): TargetRisk {
  const gids = process.getgroups?.() ?? [];
  let writable: string | null = null;
  let path = file;
  for (;;) {
    try {
      if (userCanWrite(lstatSync(path), uid, gids)) {
        writable = path;
        break;
      }
    } catch {
      // unreadable or gone: nothing to say about it
    }
    const parent = dirname(path);
    if (parent === path) break;
    path = parent;
  }
  return { writable, interpreter: shebang(file) };
}

/** The `#!` line of a script (without `#!`, trimmed, at most 256 bytes read), or null. */
function shebang(file: string): string | null {
  let fd: number | null = null;
  try {
    if (!statSync(file).isFile()) return null;
    fd = openSync(file, 'r');
    const head = Buffer.alloc(256);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < 2 || head[0] !== 0x23 || head[1] !== 0x21) return null;
    const end = head.subarray(0, n).indexOf(0x0a);
    const line = head
      .subarray(2, end === -1 ? n : end)
      .toString('utf8')
      .trim();
    return line === '' ? null : line;
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/**
 * The warning lines for a target, for people (task add/edit, explain): where the user can
 * write, the interpreter of a script, and what `--pin` does about it.
 * @param file - the target's realpath
 * @param pinned - whether the task pins it
 * @param risk - the target check (default: computed now)
 * @returns zero or more lines
 */
export function targetWarnings(file: string, pinned: boolean, risk: TargetRisk = targetRisk(file)): string[] {
  const lines: string[] = [];
  if (risk.writable !== null) {
    lines.push(
      risk.writable === file
        ? `${file} can be written by you, so by an agent running as you: it could be changed to do anything with the secrets${pinned ? ' (pinned: a changed file is refused)' : '; pin it with --pin, or use a copy only root can write'}`
        : `${file} is under ${risk.writable}, which you (so an agent running as you) can write: the file could be replaced${pinned ? ' (pinned: a replaced file is refused)' : '; pin it with --pin, or use a copy only root can write'}`,
    );
  }
  if (runsCallersCode(file)) {
    lines.push(
      `${file} runs whatever code its caller passes (a shell, interpreter or launcher): the caller, an agent, chooses what receives the secrets`,
    );
  }
  if (risk.interpreter !== null) {
    lines.push(
      `${file} is a script: what runs is its interpreter (${risk.interpreter}), reading it; a pin covers the script file, not the interpreter or what the script loads`,
    );
  }
  return lines;
}
