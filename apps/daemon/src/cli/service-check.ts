// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Is the process behind the socket this installation's Cora service for this home (issue 13)?
 * A same-user process can kill the service and listen in its place; before the CLI sends a
 * passphrase or a value it ties the socket's peer (the kernel's SO_PEERCRED pid) to what the
 * launcher starts: this installation's service entry point with no code-loading flag, for this
 * home, and not dumpable (checked as a non-root user: its executable link is then unreadable;
 * as root: its executable is this CLI's Node). A command line can be rewritten by the process
 * itself, and a same-uid process can make itself non-dumpable: this raises the bar, it is not
 * proof (SECURITY.md; inside `cr agent` the socket cannot be replaced at all). Linux, and
 * Windows from the pipe server's command line.
 */
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDangerousNodeFlag } from '../shared/harden.ts';

/** Where the service entry point sits: beside this module (dist/ when built, src/ in tests). */
export function serviceMainPath(): string {
  const source = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(source ? '../service/main.ts' : './service-main.js', import.meta.url));
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Why the process `pid` is not the Cora service of `home`, or null when it is (Linux; see
 * {@link notOurServiceWin32} for Windows; other platforms: null).
 * @param pid - the socket peer's pid (SO_PEERCRED)
 * @param home - the Cora home the CLI uses
 * @returns a reason for people, or null
 */
export function notOurService(pid: number, home: string): string | null {
  if (process.platform !== 'linux') return null;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8')
      .split('\0')
      .slice(0, -1);
  } catch {
    return 'its command line cannot be read';
  }
  // A non-dumpable process's executable link is readable by root only: for anyone else, a
  // readable link means a dumpable process, which a Cora service never is.
  let exe: string | null = null;
  try {
    exe = readlinkSync(`/proc/${String(pid)}/exe`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES') return 'its executable cannot be read';
  }
  const root = process.getuid?.() === 0;
  if (exe === null && root) return 'its executable cannot be read';
  if (exe !== null && !root) return 'it is dumpable (a Cora service never is)';
  return commandProblem(exe, argv, home);
}

/**
 * Windows: the same question of the pipe's server process (GetNamedPipeServerProcessId), read
 * through @cora/identity: this CLI's node.exe, running this installation's service entry point
 * with no code-loading flag, for this home. Windows has no non-dumpable flag to check, and
 * its command line is the process's own word (SECURITY.md "Windows").
 * @param pid - the pipe server's pid
 * @param home - the Cora home the CLI uses
 * @returns a reason for people, or null
 */
export async function notOurServiceWin32(pid: number, home: string): Promise<string | null> {
  const { processIdentity } = await import('@cora/identity');
  let verified;
  try {
    verified = await processIdentity(pid);
  } catch {
    return 'it cannot be identified';
  }
  try {
    const { exe, argv } = verified.identity;
    if (argv.length === 0) return 'its command line cannot be read';
    return commandProblem(exe, argv, home);
  } finally {
    verified.close();
  }
}

/** The checks both platforms share: executable, flags, entry point, home. */
function commandProblem(exe: string | null, argv: readonly string[], home: string): string | null {
  if (exe !== null && real(exe) !== real(process.execPath))
    return `it runs ${exe}, not ${real(process.execPath)}`;
  const main = argv.findIndex((arg, i) => i > 0 && !arg.startsWith('-'));
  const flags = argv.slice(1, main === -1 ? argv.length : main);
  const bad = flags.find((flag) => isDangerousNodeFlag(flag));
  if (bad !== undefined) return `it was started with ${bad}`;
  if (main === -1 || real(argv[main] ?? '') !== real(serviceMainPath()))
    return 'it does not run this installation’s service';
  const at = argv.indexOf('--home', main);
  if (at === -1 || real(argv[at + 1] ?? '') !== real(home)) return `it serves another home than ${home}`;
  return null;
}
