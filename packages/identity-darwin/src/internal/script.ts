// SPDX-License-Identifier: AGPL-3.0-only
// Script evidence for interpreters (architecture §6): a heuristic over argv, marked weak.
// Kept in step with @cora/identity-linux src/internal/script.ts (platform packages share no
// runtime code; a shared home in @cora/identity is a follow-up).
import { basename, isAbsolute, resolve } from 'node:path';
import type { ScriptEvidence } from '@cora/identity';

/** Interpreter binaries by basename (with version suffixes such as python3.11, perl5.36). */
const INTERPRETER =
  /^(?:node|nodejs|bun|deno|sh|bash|dash|zsh|ksh|mksh|ash|perl[\d.]*|ruby[\d.]*|python[\d.]*|pypy[\d.]*)$/;

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
 * against `cwd`. `undefined` when `exe` is not an interpreter or argv has no script (inline
 * code with -c/-e, a module with -m, stdin).
 */
export function scriptEvidence(
  exe: string,
  argv: readonly string[],
  cwd: string | null,
): ScriptEvidence | undefined {
  const interpreter = basename(exe);
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
  if ((kind === 'deno' || kind === 'bun') && !/[./]/.test(script)) return undefined;
  const path = isAbsolute(script) || cwd === null ? script : resolve(cwd, script);
  return { interpreter, path, weak: true };
}
