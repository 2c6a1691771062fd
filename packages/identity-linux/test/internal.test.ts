// SPDX-License-Identifier: AGPL-3.0-only
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, waitForLine } from '@cora/test-utils';
import { parseStat, readStat } from '../src/internal/proc.ts';
import { scriptEvidence } from '../src/internal/script.ts';
import { Children, PYTHON } from './helpers.ts';

const children = new Children();
afterEach(() => children.killAll());

describe('parseStat', () => {
  it('should find the fields after the last ")" when comm holds spaces and parentheses', () => {
    const line = '4242 (a) b (c) R 17 4242 4242 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100\n';
    expect(parseStat(line)).toEqual({ state: 'R', ppid: 17, startTime: 987654n });
  });

  it('should reject a line without ")" or with a short or non-numeric start time', () => {
    expect(parseStat('4242 a R 1')).toBeNull();
    expect(parseStat('4242 (a) R 1 2 3')).toBeNull();
    expect(parseStat('4242 (a) R 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 x')).toBeNull();
  });

  it('should read a real process whose name is "a) S 1 (b"', async () => {
    // A hostile name that would shift every field for a parser that splits on spaces.
    await using dir = await makeTempDir('cora-comm-');
    const link = join(dir.path, 'a) S 1 (b');
    symlinkSync(PYTHON, link);
    const child = children.spawn(link, ['-c', 'import sys; print("up", flush=True); sys.stdin.read()']);
    await waitForLine(child.stdout!, (line) => line === 'up');
    expect(readFileSync(`/proc/${child.pid}/comm`, 'latin1')).toBe('a) S 1 (b\n');
    const stat = readStat(child.pid!);
    expect(stat?.ppid).toBe(process.pid);
    expect(['R', 'S']).toContain(stat?.state);
  });
});

describe('scriptEvidence', () => {
  const cwd = '/home/u/proj';
  const cases: [string, string[], string | undefined][] = [
    ['/usr/bin/python3.11', ['python3', 'tool.py', '--flag'], '/home/u/proj/tool.py'],
    ['/usr/bin/python3.11', ['python3', '-u', '-W', 'ignore', '/opt/t.py'], '/opt/t.py'],
    ['/usr/bin/python3.11', ['python3', '-c', 'print(1)'], undefined],
    ['/usr/bin/python3.11', ['python3', '-Sc', 'print(1)'], undefined],
    ['/usr/bin/python3.11', ['python3', '-m', 'http.server'], undefined],
    ['/usr/bin/python3.11', ['python3'], undefined],
    ['/usr/local/bin/node', ['node', '--conditions=x', '-r', 'hook.cjs', 'app.mjs'], '/home/u/proj/app.mjs'],
    ['/usr/local/bin/node', ['node', '-e', 'x'], undefined],
    ['/usr/local/bin/node', ['node', '-pe', 'x'], undefined],
    ['/usr/bin/bash', ['bash', '-e', 'run.sh'], '/home/u/proj/run.sh'],
    ['/usr/bin/bash', ['bash', '-ec', 'echo hi'], undefined],
    ['/usr/bin/dash', ['sh', '-o', 'errexit', 'x.sh'], '/home/u/proj/x.sh'],
    ['/usr/bin/dash', ['sh', '-s'], undefined],
    ['/usr/bin/perl', ['perl', '-ne', 'print'], undefined],
    ['/usr/bin/perl', ['perl', '-w', 'a.pl'], '/home/u/proj/a.pl'],
    ['/usr/bin/deno', ['deno', 'run', '--allow-net', 'main.ts'], '/home/u/proj/main.ts'],
    ['/usr/bin/deno', ['deno', 'eval', 'x'], undefined],
    ['/usr/bin/bun', ['bun', 'run', 'x.ts'], '/home/u/proj/x.ts'],
    ['/usr/bin/ruby3.1', ['ruby', '--', 'r.rb'], '/home/u/proj/r.rb'],
    ['/usr/bin/sleep', ['sleep', 'x.py'], undefined],
  ];
  it.each(cases)('should read %s %j as %s', (exe, argv, expected) => {
    const evidence = scriptEvidence(exe, argv, cwd);
    expect(evidence?.path).toBe(expected);
    if (evidence) expect(evidence).toMatchObject({ interpreter: exe.split('/').pop(), weak: true });
  });

  it('should keep a relative script unresolved when the cwd is unknown', () => {
    expect(scriptEvidence('/usr/bin/python3', ['python3', 'a.py'], null)?.path).toBe('a.py');
  });
});
