// SPDX-License-Identifier: AGPL-3.0-only
// The interpreter heuristic every platform package gets through PlatformHost (architecture §6).
import { describe, expect, it } from 'vitest';
import { scriptEvidence } from '../src/index.ts';

const NODE = 'C:\\Program Files\\nodejs\\node.exe';

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

describe('scriptEvidence, Windows paths', () => {
  it('should name the script node.exe runs, past its options, in any case of the name', () => {
    expect(
      scriptEvidence(NODE, ['node', '--disable-sigusr1', 'C:\\cora\\cli.js', 'status'], null, 'win32'),
    ).toEqual({
      interpreter: 'node',
      path: 'C:\\cora\\cli.js',
      weak: true,
    });
    expect(
      scriptEvidence('C:\\N\\NODE.EXE', ['NODE', '-r', 'C:\\hook.js', 'C:\\app.js'], null, 'win32')?.path,
    ).toBe('C:\\app.js');
    expect(
      scriptEvidence('C:\\Py\\python3.12.exe', ['py', '-X', 'utf8', 'D:/x/run.py'], null, 'win32')?.path,
    ).toBe('D:\\x\\run.py');
  });

  it('should resolve a relative script against the caller cwd, and give none without one', () => {
    expect(scriptEvidence(NODE, ['node', '..\\tools\\cli.js'], 'C:\\work\\app', 'win32')?.path).toBe(
      'C:\\work\\tools\\cli.js',
    );
    expect(scriptEvidence(NODE, ['node', 'cli.js'], null, 'win32')).toBeUndefined();
    // Root-relative names a drive the caller chose: resolved against its cwd's drive.
    expect(scriptEvidence(NODE, ['node', '\\cli.js'], 'D:\\w', 'win32')?.path).toBe('D:\\cli.js');
  });

  it('should give none for inline code, stdin, a module or a program that is no interpreter', () => {
    expect(scriptEvidence(NODE, ['node', '-e', 'C:\\x.js'], null, 'win32')).toBeUndefined();
    expect(scriptEvidence(NODE, ['node', '-'], null, 'win32')).toBeUndefined();
    expect(scriptEvidence(NODE, ['node'], null, 'win32')).toBeUndefined();
    expect(
      scriptEvidence('C:\\Py\\python.exe', ['python', '-m', 'http.server'], 'C:\\', 'win32'),
    ).toBeUndefined();
    expect(
      scriptEvidence('C:\\Windows\\cmd.exe', ['cmd', '/c', 'C:\\x.bat'], 'C:\\', 'win32'),
    ).toBeUndefined();
    expect(scriptEvidence('C:\\bin\\nodejs.exe.bak', ['n', 'C:\\x.js'], null, 'win32')).toBeUndefined();
    expect(scriptEvidence('C:\\deno\\deno.exe', ['deno', 'eval', 'x'], 'C:\\', 'win32')).toBeUndefined();
  });
});
