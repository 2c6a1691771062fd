// SPDX-License-Identifier: AGPL-3.0-only
// Script evidence for interpreters (architecture §6): a heuristic over argv, marked weak. One
// home for every platform package, lent to them through PlatformHost (they take no runtime
// code from this package by import: it loads them).
import { posix, win32 } from 'node:path';
import type { PathStyle, ScriptEvidence } from './types.ts';

/**
 * Interpreter executables by name (`.exe` dropped and case folded on Windows), with version
 * suffixes such as python3.11 or perl5.36.
 */
const INTERPRETER =
  /^(?:node|nodejs|bun|deno|sh|bash|dash|zsh|ksh|mksh|ash|perl[\d.]*|ruby[\d.]*|python[\d.]*|pythonw|pypy[\d.]*)$/;

/** Per interpreter family: options that take the next argument as their value, and the
 * (possibly combined) short options after which the program is inline code, a module or
 * stdin rather than a script file. */
interface Family {
  readonly withValue: ReadonlySet<string>;
  readonly inline: RegExp;
}

const FAMILIES: Readonly<Record<string, Family>> = {
  node: {
    withValue: new Set([
      '-r',
      '--require',
      '--import',
      '-C',
      '--conditions',
      '--loader',
      '--experimental-loader',
      '--input-type',
      '--env-file',
      '--title',
    ]),
    inline: /^(?:-[a-z]*[epi]|--eval|--print|--interactive|-)$/,
  },
  python: { withValue: new Set(['-W', '-X', '-Q']), inline: /^(?:-[A-Za-z]*[cm]|-)$/ },
  perl: { withValue: new Set(['-I', '-M']), inline: /^(?:-[A-Za-z]*[eE]|-)$/ },
  ruby: { withValue: new Set(['-I', '-r', '-C']), inline: /^(?:-[A-Za-z]*e|-)$/ },
  sh: { withValue: new Set(['-o', '+o', '-O', '+O']), inline: /^(?:-[A-Za-z]*[cs][A-Za-z]*|-)$/ },
  deno: { withValue: new Set(), inline: /^(?:-|--eval)$/ },
  bun: { withValue: new Set(['-r', '--preload']), inline: /^(?:-e|--eval|-p|--print|-)$/ },
};

function family(interpreter: string): string {
  if (interpreter === 'nodejs') return 'node';
  if (/^(?:python|pypy)/.test(interpreter)) return 'python';
  if (interpreter.startsWith('perl')) return 'perl';
  if (interpreter.startsWith('ruby')) return 'ruby';
  if (/^(?:sh|bash|dash|zsh|ksh|mksh|ash)$/.test(interpreter)) return 'sh';
  return interpreter;
}

/**
 * The script an interpreter runs: the first non-option argument after argv[0], resolved
 * against `cwd`. `undefined` when `exe` is not an interpreter or argv names no script (inline
 * code with -c/-e, a module with -m, stdin). POSIX: a relative script stays as written when
 * the cwd is unknown. Windows (`style` win32): names without `.exe` and case, drive-absolute
 * paths kept, a relative one resolved against `cwd` or, without it, no evidence at all.
 *
 * @param exe - the process's executable
 * @param argv - its arguments, argv[0] included
 * @param cwd - its working directory, when it could be read
 * @param style - the platform's path rules (default posix)
 * @returns the evidence, weak by construction, or undefined
 * @example
 * ```ts
 * scriptEvidence('/usr/bin/python3.12', ['python3', 'tool.py'], '/home/me');
 * // { interpreter: 'python3.12', path: '/home/me/tool.py', weak: true }
 * ```
 */
export function scriptEvidence(
  exe: string,
  argv: readonly string[],
  cwd: string | null,
  style: PathStyle = 'posix',
): ScriptEvidence | undefined {
  const windows = style === 'win32';
  const interpreter = windows
    ? win32
        .basename(exe)
        .toLowerCase()
        .replace(/\.exe$/, '')
    : posix.basename(exe);
  if (!INTERPRETER.test(interpreter)) return undefined;
  const kind = family(interpreter);
  const rules = FAMILIES[kind];
  if (rules === undefined) return undefined;
  let i = 1;
  // deno and bun: `deno run [opts] file`, `bun run file`; other subcommands name no script.
  if ((kind === 'deno' || kind === 'bun') && argv[1] === 'run') i = 2;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === undefined) break;
    if (arg === '--') {
      i++;
      break;
    }
    if (rules.inline.test(arg)) return undefined;
    if (!arg.startsWith('-') && !(kind === 'sh' && arg.startsWith('+'))) break;
    if (rules.withValue.has(arg)) i++;
  }
  const script = argv[i];
  if (script === undefined || script === '') return undefined;
  // `deno eval …`, `bun x …`: a subcommand, not a file.
  if ((kind === 'deno' || kind === 'bun') && !/[./\\]/.test(script)) return undefined;
  if (windows) {
    if (/^[A-Za-z]:[\\/]/.test(script)) return { interpreter, path: win32.normalize(script), weak: true };
    return cwd === null ? undefined : { interpreter, path: win32.resolve(cwd, script), weak: true };
  }
  const path = posix.isAbsolute(script) || cwd === null ? script : posix.resolve(cwd, script);
  return { interpreter, path, weak: true };
}
