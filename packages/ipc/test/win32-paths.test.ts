// SPDX-License-Identifier: AGPL-3.0-only
// The pure parts of the Windows pipe (its name and DACL); the pipe itself runs under Wine
// (test/win32/pipe.win.ts, tooling/test-windows.sh).
import { describe, expect, it } from 'vitest';
import { isSid, pipeSddl, windowsPipePath } from '../src/internal/win32-pipe.ts';
import { windowsHome } from '../src/internal/win32.ts';

const SID = 'S-1-5-21-1004336348-1177238915-682003330-1001';

describe('windowsPipePath', () => {
  it('should name the pipe by user SID and vault home, case-insensitively', () => {
    const a = windowsPipePath(SID, 'C:\\Users\\me\\AppData\\Local\\Cora');
    expect(a).toMatch(/^\\\\\.\\pipe\\cora-S-1-5-21-1004336348-1177238915-682003330-1001-[0-9a-f]{16}$/);
    expect(windowsPipePath(SID, 'c:\\users\\ME\\appdata\\local\\cora')).toBe(a);
    expect(windowsPipePath(SID, 'D:\\other')).not.toBe(a);
    expect(windowsPipePath('S-1-5-21-1-2-3-1002', 'C:\\Users\\me\\AppData\\Local\\Cora')).not.toBe(a);
  });

  it('should refuse a SID that could change the name or the DACL', () => {
    for (const bad of ['', 'S-1-5-21-1)(A;;GA;;;WD', 'S-1-5-21-1\\..\\x', 's-1-5-18', 'S-1-5-4294967296']) {
      expect(isSid(bad)).toBe(false);
      expect(() => windowsPipePath(bad, 'C:\\x')).toThrow(TypeError);
      expect(() => pipeSddl(bad)).toThrow(TypeError);
    }
  });

  it('should grant the user alone, with no inherited entries', () => {
    expect(pipeSddl(SID)).toBe(`D:P(A;;GA;;;${SID})`);
  });
});

describe('windowsHome', () => {
  it('should be CORA_HOME, else %LOCALAPPDATA%\\Cora, else refuse', () => {
    expect(windowsHome({ CORA_HOME: 'D:\\vault', LOCALAPPDATA: 'C:\\L' })).toBe('D:\\vault');
    expect(windowsHome({ LOCALAPPDATA: 'C:\\L' })).toBe('C:\\L\\Cora');
    expect(() => windowsHome({})).toThrow(expect.objectContaining({ code: 'UNSAFE_SOCKET_DIR' }));
  });
});
