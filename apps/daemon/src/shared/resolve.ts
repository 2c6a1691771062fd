// SPDX-License-Identifier: AGPL-3.0-only
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, resolve } from 'node:path';

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
 * regular file is realpath'd, so a symlink is judged by what it points to.
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
