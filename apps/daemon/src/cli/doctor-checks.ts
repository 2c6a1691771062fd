// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The judgements of `cr doctor`, kept pure so each can be tested with the values a machine may
 * show (a Yama setting, a core pattern, a limit) that a test cannot set on the machine it runs
 * on. `commands/doctor.ts` reads the facts and prints.
 */

/** How a check came out: `fail` makes `cr doctor` exit 1. */
type DoctorStatus = 'ok' | 'warn' | 'fail';

/** One line of `cr doctor` (and one object of `--json`). */
export interface DoctorResult {
  readonly check: string;
  readonly status: DoctorStatus;
  /** What was found, for people. */
  readonly detail: string;
  /** What to do about it; null when there is nothing to do. */
  readonly fix: string | null;
}

/** What a check returns before it is named. */
export type Finding = Omit<DoctorResult, 'check'>;

export function ok(detail: string): Finding {
  return { status: 'ok', detail, fix: null };
}

export function warn(detail: string, fix: string): Finding {
  return { status: 'warn', detail, fix };
}

export function fail(detail: string, fix: string): Finding {
  return { status: 'fail', detail, fix };
}

const MIB = 1024 * 1024;

/** A size for people: KiB under 1 MiB, else MiB with at most one decimal. */
function mib(bytes: bigint | number): string {
  const n = Number(bytes);
  if (n < MIB) return `${String(Math.ceil(n / 1024))} KiB`;
  return `${String(Math.round((n / MIB) * 10) / 10)} MiB`;
}

/**
 * The Node that runs `cr` (architecture §3: `crypto.argon2` with p=4 needs 24.7).
 * @param version - `process.versions.node`
 * @param path - the resolved path of that Node
 */
export function classifyNode(version: string, path: string): Finding {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > 24 || (major === 24 && minor >= 7)) return ok(`v${version} at ${path}`);
  return fail(
    `v${version} at ${path}; Cora needs 24.7 or newer`,
    'install Node 24.7+ and put it first on PATH (or set CORA_NODE to it)',
  );
}

/** A soft limit read from `/proc/<pid>/limits`: bytes, or null for `unlimited`. */
export type Limit = bigint | null;

/**
 * The soft and hard value of one row of `/proc/<pid>/limits`.
 * @param text - the file's content
 * @param row - the row's name, e.g. `Max locked memory`
 * @returns the values, or null when the row is missing or unreadable
 */
export function parseLimit(text: string, row: string): { soft: Limit; hard: Limit } | null {
  const line = text.split('\n').find((l) => l.startsWith(row));
  const fields = line?.slice(row.length).trim().split(/\s+/);
  const value = (field: string | undefined): Limit | undefined =>
    field === 'unlimited' ? null : field !== undefined && /^\d+$/.test(field) ? BigInt(field) : undefined;
  const soft = value(fields?.[0]);
  const hard = value(fields?.[1]);
  return soft === undefined || hard === undefined ? null : { soft, hard };
}

/**
 * Secure memory the service locks for a vault whose values take `valueBytes`: a write holds the
 * values up to four times at its peak (the store, the file read again, the new copies, the
 * plaintext being sealed), plus a margin for the request's own buffers and the audit key.
 * @param valueBytes - the values' size (the vault file's size bounds it)
 */
export function memlockNeeded(valueBytes: number): number {
  return 4 * valueBytes + MIB;
}

/**
 * `RLIMIT_MEMLOCK` against what the vault needs (SECURITY.md "Swap"): libsodium locks secure
 * memory while the limit allows and carries on unlocked past it, so pages may then be swapped.
 * @param soft - the service's soft limit (null: unlimited)
 * @param vaultBytes - the vault file's size, or null when there is none
 * @param budgetBytes - the most values a vault may hold (64 MiB)
 * @param swapActive - whether any swap area is in use (`/proc/swaps`)
 */
export function classifyMemlock(
  soft: Limit,
  vaultBytes: number | null,
  budgetBytes: number,
  swapActive: boolean,
): Finding {
  const full = memlockNeeded(budgetBytes);
  if (soft === null || soft >= BigInt(full)) {
    return ok(
      `${soft === null ? 'unlimited' : mib(soft)}: enough for a full vault (${mib(budgetBytes)} of values)`,
    );
  }
  const need = memlockNeeded(vaultBytes ?? 0);
  const what = vaultBytes === null ? 'a new vault' : `this vault (${mib(vaultBytes)} on disk)`;
  if (soft >= BigInt(need)) {
    return ok(
      `${mib(soft)}: enough for ${what} (about ${mib(need)}), not for a full one (about ${mib(full)})`,
    );
  }
  const fix =
    'raise it where the service starts: ulimit -l in the shell that runs cr unlock, LimitMEMLOCK= in a systemd unit, or memlock in /etc/security/limits.conf; or use encrypted swap';
  if (!swapActive) {
    return ok(
      `${mib(soft)}, under the about ${mib(need)} ${what} needs; no swap is active, so unlocked pages stay in memory`,
    );
  }
  return warn(
    `${mib(soft)}, under the about ${mib(need)} ${what} needs: past the limit secret pages are not locked and may be written to swap`,
    fix,
  );
}

/** Collectors that keep what a core pipe hands them (and honour a core limit of 0). */
const KNOWN_COLLECTORS = /(^|\/)(systemd-coredump|apport|abrt-hook-ccpp)$/;

/**
 * `/proc/sys/kernel/core_pattern` for the `cr` CLI, which is dumpable (the service never is:
 * it sets `PR_SET_DUMPABLE 0` and `RLIMIT_CORE 0` before it reads a secret).
 * @param pattern - the pattern (first line of the file)
 * @param coreLimit - the CLI's soft `RLIMIT_CORE` (null: unlimited)
 */
export function classifyCorePattern(pattern: string, coreLimit: Limit): Finding {
  const cliNote =
    'the service never dumps (non-dumpable, core limit 0); this is about cr itself, which holds a passphrase while you type it';
  if (pattern.startsWith('|')) {
    const program = pattern.slice(1).trim().split(/\s+/)[0] ?? '';
    if (coreLimit === 0n && KNOWN_COLLECTORS.test(program)) {
      return ok(`piped to ${program}, which stores nothing for a core limit of 0 (yours); ${cliNote}`);
    }
    return warn(
      `piped to ${program}, which keeps the memory of a crashed process; ${cliNote}`,
      KNOWN_COLLECTORS.test(program)
        ? 'ulimit -c 0 in your shell profile (the collector then stores nothing)'
        : 'sudo sysctl -w kernel.core_pattern=core and ulimit -c 0 in your shell profile',
    );
  }
  if (coreLimit === 0n) return ok(`core files (${pattern}) are off for cr: the core limit is 0; ${cliNote}`);
  return warn(
    `a crash of cr writes its memory to ${pattern} (core limit ${coreLimit === null ? 'unlimited' : coreLimit.toString()}); ${cliNote}`,
    'ulimit -c 0 in your shell profile',
  );
}

/**
 * Yama's `kernel.yama.ptrace_scope` (null: no Yama, which allows what 0 allows).
 * @param scope - the file's content, trimmed, or null when it does not exist
 */
export function classifyYama(scope: string | null): Finding {
  const open =
    'a process of yours (an agent) can attach to any other of yours and read its memory, such as cr while you type a passphrase; the service cannot be attached (non-dumpable), and inside cr agent Landlock forbids ptrace of processes outside the sandbox';
  const fix =
    'sudo sysctl -w kernel.yama.ptrace_scope=1 (and keep it in /etc/sysctl.d/); run agents inside cr agent';
  switch (scope) {
    case null:
      return warn(`no Yama: ${open}`, fix);
    case '0':
      return warn(`ptrace_scope 0: ${open}`, fix);
    case '1':
      return ok('ptrace_scope 1: a process can attach only to its own descendants');
    case '2':
      return ok('ptrace_scope 2: only a process with CAP_SYS_PTRACE can attach');
    case '3':
      return ok('ptrace_scope 3: no process can attach');
    default:
      return warn(`ptrace_scope ${scope}: a value this check does not know`, fix);
  }
}

/**
 * The kernel's Landlock ABI for `cr agent` and for tasks that confine their child.
 * @param abi - `landlockAbi()`: 0 when there is none
 * @param agentAbi - what `cr agent` needs
 * @param childAbi - what a task's `connect` rules need (its `write` rules need less)
 */
export function classifyLandlock(abi: number, agentAbi: number, childAbi: number): Finding {
  const fix = `a kernel with Landlock ABI ${String(agentAbi)} (Linux 6.12+) and landlock in its lsm= list`;
  if (abi >= agentAbi) return ok(`ABI ${String(abi)}: cr agent and every task confinement work`);
  if (abi >= childAbi) {
    return warn(
      `ABI ${String(abi)}: tasks can confine their child, but cr agent refuses to run (needs ${String(agentAbi)})`,
      fix,
    );
  }
  return warn(
    abi === 0
      ? 'no Landlock: cr agent refuses to run, and tasks that confine their child are refused'
      : `ABI ${String(abi)}: cr agent refuses to run (needs ${String(agentAbi)}); tasks with connect rules are refused (need ${String(childAbi)})`,
    fix,
  );
}

/**
 * The lines `cr doctor` prints: `status  check  detail`, then `fix: …` under each one that
 * is not ok.
 * @param results - the checks, in order
 * @returns the lines, without newlines
 */
export function formatDoctor(results: readonly DoctorResult[]): string[] {
  const width = Math.max(0, ...results.map((r) => r.check.length));
  const lines: string[] = [];
  for (const result of results) {
    lines.push(`${result.status.padEnd(4)}  ${result.check.padEnd(width)}  ${result.detail}`);
    if (result.status !== 'ok' && result.fix !== null)
      lines.push(`${' '.repeat(width + 8)}fix: ${result.fix}`);
  }
  return lines;
}
