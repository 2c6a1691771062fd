// SPDX-License-Identifier: AGPL-3.0-only
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, resolve, win32 } from 'node:path';

/** argv[0] as written, and the binary it resolves to. */
export interface ResolvedCommand {
  /** argv[0] as the caller wrote it. */
  readonly requested: string;
  /** realpath of the executable regular file it names, or null when there is none. */
  readonly resolved: string | null;
}

/** The realpath of `path` when it is an executable regular file, else null. */
function executable(path: string): string | null {
  try {
    const real = realpathSync(path);
    if (!statSync(real).isFile()) return null;
    accessSync(real, constants.X_OK);
    return real;
  } catch {
    return null;
  }
}

/**
 * Resolve argv[0] the way the service does before a policy decision (architecture §7 "target"):
 * a name with a `/` is taken relative to `cwd`, a bare name is looked up in each directory of
 * `searchPath` (empty entries mean `cwd`, as in POSIX shells), and the first executable
 * regular file is realpath'd, so a symlink is judged by what it points to. Windows: see
 * {@link resolveWindows} (`.exe`/`.com` only, `;`-separated PATH, never the current directory).
 *
 * @param command - argv[0]
 * @param searchPath - the caller's PATH (`:`-separated)
 * @param cwd - the caller's working directory (absolute)
 * @returns the request and its realpath, `resolved: null` when nothing executable matches
 * @example
 * ```ts
 * resolveCommand('curl', '/usr/local/bin:/usr/bin', '/home/me'); // { requested: 'curl', resolved: '/usr/bin/curl' }
 * ```
 */
export function resolveCommand(command: string, searchPath: string, cwd: string): ResolvedCommand {
  if (command === '' || command.includes('\0')) return { requested: command, resolved: null };
  if (process.platform === 'win32') return resolveWindows(command, searchPath, cwd);
  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    return { requested: command, resolved: executable(path) };
  }
  for (const dir of searchPath.split(delimiter)) {
    const base = dir === '' ? cwd : isAbsolute(dir) ? dir : resolve(cwd, dir);
    const found = executable(resolve(base, command));
    if (found !== null) return { requested: command, resolved: found };
  }
  return { requested: command, resolved: null };
}

/**
 * Extensions a Windows target may have. `.bat` and `.cmd` run through cmd.exe, whose parsing
 * of the arguments cannot be quoted safely (the "BatBadBut" class of injection): refused, as a
 * target of a task or a bare name's match.
 */
const WINDOWS_RUNNABLE = ['.exe', '.com'] as const;

/**
 * Windows: a name with `\` or `/` is a path (relative to `cwd`); a bare name is looked up in
 * each `;`-separated directory of `searchPath` as given when it ends in `.exe`/`.com`, else
 * with those added. Unlike cmd.exe and CreateProcess, the current directory is never searched
 * first (an agent chooses what is there) and `PATHEXT` is not followed past `.exe`/`.com`.
 */
function resolveWindows(command: string, searchPath: string, cwd: string): ResolvedCommand {
  const runnable = (path: string): string | null => {
    const found = executable(path);
    return found !== null && WINDOWS_RUNNABLE.some((ext) => found.toLowerCase().endsWith(ext)) ? found : null;
  };
  if (/[\\/]/.test(command)) {
    return { requested: command, resolved: runnable(win32.resolve(cwd, command)) };
  }
  const named = WINDOWS_RUNNABLE.some((ext) => command.toLowerCase().endsWith(ext));
  const candidates = named ? [command] : WINDOWS_RUNNABLE.map((ext) => command + ext);
  for (const dir of searchPath.split(';')) {
    if (dir === '' || !win32.isAbsolute(dir)) continue;
    for (const name of candidates) {
      const found = runnable(win32.resolve(dir, name));
      if (found !== null) return { requested: command, resolved: found };
    }
  }
  return { requested: command, resolved: null };
}
