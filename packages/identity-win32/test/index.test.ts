// SPDX-License-Identifier: AGPL-3.0-only
// The kernel parts run only on Windows (test/win32/*.win.ts, under Wine by tooling/test-windows.sh);
// here: the export surface, the refusal of a socket without a pipe handle, and the pure decoders.
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { IdentityError, scriptEvidence, isIdentityError, type PlatformHost } from '@cora/identity';
import * as api from '../src/index.ts';
import { filetime, filetimeToUnixMs, utf16 } from '../src/internal/pure.ts';

const host: PlatformHost = {
  makeError: (code, message, options) => new IdentityError(code, message, options),
  scriptEvidence,
  socketFd: () => {
    throw new Error('strict fake: socketFd not expected');
  },
};

describe('@cora/identity-win32 entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "PIPE_HANDLE": "symbol",
        "createIdentityPlatform": "function",
        "isSidString": "function",
        "sidToString": "function",
        "splitCommandLine": "function",
      }
    `);
    expect(api.PIPE_HANDLE).toBe(Symbol.for('@cora/identity-win32.pipeHandle'));
  });

  it('should refuse a socket that carries no pipe handle, before any Win32 call', async () => {
    const platform = api.createIdentityPlatform(host);
    expect(platform.platform).toBe('win32');
    const socket = new Socket();
    expect(() => platform.peerCredentials(socket)).toThrow(
      expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }),
    );
    const forged = Object.assign(new Socket(), { [api.PIPE_HANDLE]: { handle: -1, end: 'server' } });
    const error: unknown = await platform.peerIdentity(forged, {}).catch((e: unknown) => e);
    expect(isIdentityError(error, 'NO_PEER_CREDENTIALS')).toBe(true);
    socket.destroy();
    forged.destroy();
  });
});

describe('sidToString', () => {
  const sid = (authority: number[], subs: number[]): Uint8Array => {
    const b = Buffer.alloc(8 + 4 * subs.length);
    b[0] = 1;
    b[1] = subs.length;
    Buffer.from(authority).copy(b, 2);
    subs.forEach((s, i) => b.writeUInt32LE(s, 8 + 4 * i));
    return b;
  };

  it('should write the well-known and domain SIDs as ConvertSidToStringSidW does', () => {
    expect(api.sidToString(sid([0, 0, 0, 0, 0, 5], [18]))).toBe('S-1-5-18');
    expect(api.sidToString(sid([0, 0, 0, 0, 0, 1], [0]))).toBe('S-1-1-0');
    expect(api.sidToString(sid([0, 0, 0, 0, 0, 5], [21, 0xffff_ffff, 2, 3, 1001]))).toBe(
      'S-1-5-21-4294967295-2-3-1001',
    );
    // An authority ≥ 2^32 is written in hex (12 digits).
    expect(api.sidToString(sid([0x12, 0x34, 0, 0, 0, 1], []))).toBe('S-1-0x123400000001');
  });

  it('should refuse malformed bytes rather than guess', () => {
    expect(() => api.sidToString(new Uint8Array(7))).toThrow(RangeError);
    const wrongRevision = sid([0, 0, 0, 0, 0, 5], [18]);
    wrongRevision[0] = 2;
    expect(() => api.sidToString(wrongRevision)).toThrow(/revision/);
    const trailing = Buffer.concat([sid([0, 0, 0, 0, 0, 5], [18]), Buffer.alloc(1)]);
    expect(() => api.sidToString(trailing)).toThrow(/length/);
    const tooMany = Buffer.alloc(8 + 4 * 16);
    tooMany[0] = 1;
    tooMany[1] = 16;
    expect(() => api.sidToString(tooMany)).toThrow(/15/);
  });

  it('should accept only SID strings that are safe in a pipe name', () => {
    expect(api.isSidString('S-1-5-21-1-2-3-1001')).toBe(true);
    expect(api.isSidString('S-1-0x123400000001')).toBe(true);
    expect(api.isSidString('S-1-5-21-4294967296')).toBe(false);
    expect(api.isSidString('S-1-5-21-1\\..\\x')).toBe(false);
    expect(api.isSidString('s-1-5-18')).toBe(false);
    expect(api.isSidString('')).toBe(false);
  });
});

describe('FILETIME', () => {
  it('should join the halves and convert to Unix time', () => {
    expect(filetime(0xffff_ffff, 1)).toBe(0x1_ffff_ffffn);
    // 2024-01-01T00:00:00Z
    expect(filetimeToUnixMs(133_485_408_000_000_000n)).toBe(Date.UTC(2024, 0, 1));
    expect(() => filetime(-1, 0)).toThrow(RangeError);
    expect(() => filetime(0, 2 ** 32)).toThrow(RangeError);
  });
});

describe('utf16', () => {
  it('should stop at the count or the first NUL', () => {
    const b = Buffer.from('C:\\a\0junk', 'utf16le');
    expect(utf16(b, 9)).toBe('C:\\a');
    expect(utf16(b, 2)).toBe('C:');
    expect(utf16(Buffer.from('é€', 'utf16le'), 2)).toBe('é€');
  });
});

describe('splitCommandLine (Microsoft C runtime rules)', () => {
  it.each([
    ['"C:\\Program Files\\node.exe" a.js', ['C:\\Program Files\\node.exe', 'a.js']],
    ['node.exe "a b" c', ['node.exe', 'a b', 'c']],
    ['x.exe a\\\\\\"b', ['x.exe', 'a\\"b']],
    ['x.exe a\\\\"b c"', ['x.exe', 'a\\b c']],
    ['x.exe a\\b', ['x.exe', 'a\\b']],
    ['x.exe "a""b"', ['x.exe', 'a"b']],
    ['x.exe  \t ""  ', ['x.exe', '']],
    ['"C:\\dir\\" x', ['C:\\dir\\', 'x']],
    ['', []],
  ])('%j', (line, argv) => {
    expect(api.splitCommandLine(line)).toEqual(argv);
  });
});
