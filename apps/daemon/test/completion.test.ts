// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr completion bash|zsh|fish` and `cr help COMMAND…`: the generated scripts run in the real
 * shells (bash always; zsh and fish when installed) and must offer, at every command path of
 * the program `program.ts` builds, exactly its subcommands and every one of its options — so a
 * command added there and missing from the completions fails here. `cr help A B` must print
 * what `cr A B --help` prints.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/program.ts';
import { CR, requireBuild, useCoraHomes } from './e2e-helpers.ts';

const newHome = useCoraHomes('completion-test-passphrase');
const has = (shell: string): boolean => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;

/** Every command of the program with its subcommands and flags, read through commander's API. */
interface Walked {
  readonly words: readonly string[];
  readonly subs: readonly string[];
  readonly flags: readonly string[];
}
function walk(command: Command, words: readonly string[] = []): Walked[] {
  const flags = command.options.flatMap((o) => [o.short, o.long]).filter((f): f is string => f !== undefined);
  return [
    { words, subs: command.commands.map((c) => c.name()), flags: [...flags, '-h', '--help'] },
    ...command.commands.flatMap((sub) => walk(sub, [...words, sub.name()])),
  ];
}
const program = walk(buildProgram());

function script(shell: string): string {
  requireBuild();
  const run = spawnSync(CR, ['completion', shell], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout;
}

const scratch = mkdtempSync(join(tmpdir(), 'cora-completion-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});
/** The script for `shell`, in a file (zsh and fish read it from there). */
function scriptFile(shell: string): string {
  const path = join(scratch, `cr.${shell}`);
  writeFileSync(path, script(shell));
  return path;
}

const sorted = (words: readonly string[]): string[] => [...words].sort();
const line = (words: readonly string[]): string => words.map((w) => `'${w}'`).join(' ');

describe('cr completion bash', () => {
  it('should complete policy for po in a real bash, with files as the fallback', () => {
    const run = spawnSync(
      'bash',
      [
        '-c',
        `source <("${CR}" completion bash); complete -p cr; COMP_WORDS=(cr po); COMP_CWORD=1; _cr; echo "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    );
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('complete -o default -F _cr cr\npolicy\n');
  });

  it('should offer, at every command of the program, exactly its subcommands and all its options', () => {
    const queries = program.flatMap((node) => [
      `COMP_WORDS=(cr ${line(node.words)} ''); COMP_CWORD=${String(node.words.length + 1)}; _cr; echo "S|${node.words.join('/')}|\${COMPREPLY[*]}"`,
      `COMP_WORDS=(cr ${line(node.words)} -); COMP_CWORD=${String(node.words.length + 1)}; _cr; echo "O|${node.words.join('/')}|\${COMPREPLY[*]}"`,
    ]);
    const run = spawnSync(
      'bash',
      ['-c', `source /dev/stdin <<'EOF'\n${script('bash')}EOF\n${queries.join('\n')}`],
      {
        encoding: 'utf8',
      },
    );
    expect(run.stderr).toBe('');
    const got = new Map(
      run.stdout
        .trimEnd()
        .split('\n')
        .map((l) => {
          const [kind, path, words] = l.split('|');
          return [`${kind ?? ''}|${path ?? ''}`, sorted((words ?? '').split(' ').filter((w) => w !== ''))];
        }),
    );
    expect(program.length).toBeGreaterThan(30);
    for (const node of program) {
      const path = node.words.join('/');
      // `cr help` takes command names, not options.
      const [subs, flags] = path === 'help' ? [program[0]?.subs ?? [], []] : [node.subs, node.flags];
      expect(got.get(`S|${path}`), `subcommands of cr ${path}`).toEqual(sorted(subs));
      expect(got.get(`O|${path}`), `options of cr ${path}`).toEqual(sorted(flags));
    }
  });

  it('should complete command names after help, at any depth, and no options there', () => {
    const run = spawnSync(
      'bash',
      [
        '-c',
        `source <("${CR}" completion bash)
COMP_WORDS=(cr help policy task ''); COMP_CWORD=4; _cr; echo "\${COMPREPLY[*]}"
COMP_WORDS=(cr help se); COMP_CWORD=2; _cr; echo "\${COMPREPLY[*]}"
COMP_WORDS=(cr help policy --); COMP_CWORD=3; _cr; echo "[\${COMPREPLY[*]}]"
COMP_WORDS=(cr policy task add --target ./x ''); COMP_CWORD=6; _cr; echo "[\${COMPREPLY[*]}]"`,
      ],
      { encoding: 'utf8' },
    );
    expect(run.stdout).toBe('add edit remove\nsecrets service\n[]\n[]\n');
  });
});

describe('cr completion zsh and fish', () => {
  it.skipIf(!has('zsh'))('should be valid zsh that walks the same tree', () => {
    const file = scriptFile('zsh');
    expect(script('zsh').startsWith('#compdef cr\n')).toBe(true);
    expect(spawnSync('zsh', ['-n', file]).status).toBe(0);
    // compadd and compdef exist only inside zsh's completion system: stand-ins that print.
    const stubs = 'compdef() { :; }; compadd() { print -r -- ${(P)2}; }; _files() { print FILES; }';
    const ask = (words: string, current: number, prefix: string): string =>
      spawnSync(
        'zsh',
        [
          '-f',
          '-c',
          `${stubs}\nsource ${file}\nwords=(${words}); CURRENT=${String(current)}; PREFIX='${prefix}'; _cr`,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    expect(ask("cr policy task ''", 4, '')).toBe('add edit remove');
    const policy = program.find((n) => n.words.join('/') === 'policy')?.subs.join(' ');
    expect(ask("cr help policy ''", 4, '')).toBe(policy);
    expect(ask("cr policy ''", 3, '')).toBe(policy);
    expect(ask("cr exec t ''", 4, '')).toBe('FILES');
    expect(ask('cr status --j', 3, '--j').split(' ')).toContain('--json');
  });

  it.skipIf(!has('fish'))(
    'should be valid fish that completes commands and options with their descriptions',
    () => {
      const file = scriptFile('fish');
      expect(spawnSync('fish', ['--no-execute', file], { encoding: 'utf8' }).stderr).toBe('');
      const ask = (line: string): string =>
        spawnSync('fish', ['-c', `source ${file}; complete -C '${line}'`], { encoding: 'utf8' }).stdout;
      expect(ask('cr po')).toBe(
        'policy\twho may call the service and which tasks it runs (changes need the passphrase)\n',
      );
      expect(
        ask('cr help policy task ')
          .split('\n')
          .map((l) => l.split('\t')[0]),
      ).toEqual(['add', 'edit', 'remove', '']);
      expect(ask('cr policy task add --ta')).toContain('--target\t');
    },
  );

  it('should refuse a shell it does not know', () => {
    const run = spawnSync(CR, ['completion', 'tcsh'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe("cr: no completion for 'tcsh': cr completes in bash, zsh, fish\n");
  });
});

describe('cr help', () => {
  /** What the program prints for `argv`, in this process (commander throws instead of exiting). */
  async function printed(argv: readonly string[]): Promise<string> {
    let text = '';
    const cli = buildProgram();
    const capture = (command: Command): void => {
      command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
      command.commands.forEach(capture);
    };
    capture(cli);
    // outputHelp() writes through the same configured output.
    try {
      await cli.parseAsync(['node', 'cr', ...argv]);
    } catch {
      // --help ends in commander's exitOverride
    }
    return text;
  }

  it('should print for every command what COMMAND --help prints', async () => {
    for (const node of program) {
      const viaHelp = await printed(['help', ...node.words]);
      const viaFlag = await printed([...node.words, '--help']);
      expect(viaHelp, `cr help ${node.words.join(' ')}`).toBe(viaFlag);
      expect(viaHelp).toContain(`Usage: cr ${node.words.join(' ')}`.trimEnd());
    }
  });

  it('should print cr help policy task add as cr policy task add --help does, from the built CLI', async () => {
    const home = await newHome();
    const help = await home.cr(['help', 'policy', 'task', 'add']);
    const flag = await home.cr(['policy', 'task', 'add', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(flag.stdout);
    expect(help.stdout).toContain('--allow-interpreter');
    const unknown = await home.cr(['help', 'policy', 'nosuch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("cr: 'cr policy' has no command 'nosuch' (cr policy --help lists them)\n");
  });
});
