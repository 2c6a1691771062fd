// SPDX-License-Identifier: AGPL-3.0-only
// Script evidence from a Windows command line (pure: runs on every platform; the PEB read that
// feeds it runs under Wine, test/win32/identity.win.ts and the daemon's e2e.win.ts).
import { describe, expect, it } from 'vitest';
import { scriptEvidenceWin32 } from '../src/internal/script.ts';

const NODE = 'C:\\Program Files\\nodejs\\node.exe';

describe('scriptEvidenceWin32', () => {
  it('should name the script node.exe runs, past its options, in any case of the name', () => {
    expect(
      scriptEvidenceWin32(NODE, ['node', '--disable-sigusr1', 'C:\\cora\\cli.js', 'status'], null),
    ).toEqual({
      interpreter: 'node',
      path: 'C:\\cora\\cli.js',
      weak: true,
    });
    expect(
      scriptEvidenceWin32('C:\\N\\NODE.EXE', ['NODE', '-r', 'C:\\hook.js', 'C:\\app.js'], null)?.path,
    ).toBe('C:\\app.js');
    expect(
      scriptEvidenceWin32('C:\\Py\\python3.12.exe', ['py', '-X', 'utf8', 'D:/x/run.py'], null)?.path,
    ).toBe('D:\\x\\run.py');
  });

  it('should resolve a relative script against the caller cwd, and give none without one', () => {
    expect(scriptEvidenceWin32(NODE, ['node', '..\\tools\\cli.js'], 'C:\\work\\app')?.path).toBe(
      'C:\\work\\tools\\cli.js',
    );
    expect(scriptEvidenceWin32(NODE, ['node', 'cli.js'], null)).toBeUndefined();
    // Root-relative names a drive the caller chose: resolved against its cwd's drive.
    expect(scriptEvidenceWin32(NODE, ['node', '\\cli.js'], 'D:\\w')?.path).toBe('D:\\cli.js');
  });

  it('should give none for inline code, stdin, a module or a program that is no interpreter', () => {
    expect(scriptEvidenceWin32(NODE, ['node', '-e', 'C:\\x.js'], null)).toBeUndefined();
    expect(scriptEvidenceWin32(NODE, ['node', '-'], null)).toBeUndefined();
    expect(scriptEvidenceWin32(NODE, ['node'], null)).toBeUndefined();
    expect(
      scriptEvidenceWin32('C:\\Py\\python.exe', ['python', '-m', 'http.server'], 'C:\\'),
    ).toBeUndefined();
    expect(scriptEvidenceWin32('C:\\Windows\\cmd.exe', ['cmd', '/c', 'C:\\x.bat'], 'C:\\')).toBeUndefined();
    expect(scriptEvidenceWin32('C:\\bin\\nodejs.exe.bak', ['n', 'C:\\x.js'], null)).toBeUndefined();
    expect(scriptEvidenceWin32('C:\\deno\\deno.exe', ['deno', 'eval', 'x'], 'C:\\')).toBeUndefined();
  });
});
