// SPDX-License-Identifier: AGPL-3.0-only
// Script evidence for interpreters on Windows (architecture §6): a heuristic over argv, marked
// weak, with Windows names (`node.exe`, any case) and paths (drive-absolute, or resolved against
// the caller's current directory).
import { win32 } from 'node:path';
import type { ScriptEvidence } from '@cora/identity';

/** Interpreter executables by name without `.exe` (with version suffixes such as python3.12). */
const INTERPRETER = /^(?:node|bun|deno|bash|sh|perl[\d.]*|ruby[\d.]*|python[\d.]*|pythonw|pypy[\d.]*)$/;

/** Options that take the next argument, and those after which the program is not a file. */
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

function family(name: string): string {
  if (/^(?:python|pythonw|pypy)/.test(name)) return 'python';
  if (name.startsWith('perl')) return 'perl';
  if (name.startsWith('ruby')) return 'ruby';
  if (name === 'bash' || name === 'sh') return 'sh';
  return name;
}

/**
 * The script an interpreter runs: the first non-option argument after argv[0], resolved against
 * `cwd` when it is not drive-absolute (and left out when `cwd` is unknown: a relative path
 * names nothing certain). `undefined` when `exe` is no interpreter or argv names no script.
 * @param exe - the caller's executable (a Win32 path)
 * @param argv - its command line, split
 * @param cwd - its current directory, when read
 * @returns the evidence, or undefined
 */
export function scriptEvidenceWin32(
  exe: string,
  argv: readonly string[],
  cwd: string | null,
): ScriptEvidence | undefined {
  const interpreter = win32
    .basename(exe)
    .toLowerCase()
    .replace(/\.exe$/, '');
  if (!INTERPRETER.test(interpreter)) return undefined;
  const kind = family(interpreter);
  const rules = FAMILIES[kind];
  if (rules === undefined) return undefined;
  let i = 1;
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
  if ((kind === 'deno' || kind === 'bun') && !/[./\\]/.test(script)) return undefined;
  const absolute = /^[A-Za-z]:[\\/]/.test(script);
  if (!absolute && cwd === null) return undefined;
  return {
    interpreter,
    path: absolute ? win32.normalize(script) : win32.resolve(cwd ?? '', script),
    weak: true,
  };
}
