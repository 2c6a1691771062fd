// SPDX-License-Identifier: AGPL-3.0-only
// The pure half of spawn-win32.ts (the environment block and the command line); the CreateProcessW
// half runs under Wine (test/win32/spawn.win.ts, tooling/test-windows.sh).
import { describe, expect, it } from 'vitest';
import { SecretBuf } from '@cora/memstore';
import {
  commandLine,
  utf16Units,
  windowsEnvBlock,
  writeUtf16,
} from '../src/service/exec/internal/win32-env.ts';

const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('UTF-8 → UTF-16LE without a JS string', () => {
  it.each(['', 'plain', 'välue', '✓ check', '𝄞 clef', 'mixed é𝄞✓a'])('%j', (s) => {
    const src = text(s);
    expect(utf16Units(src)).toBe(s.length);
    const dst = new Uint8Array(2 * s.length + 4).fill(0xaa);
    expect(writeUtf16(src, dst, 2)).toBe(s.length);
    expect(Buffer.from(dst.subarray(2, 2 + 2 * s.length)).toString('utf16le')).toBe(s);
    expect(dst[0]).toBe(0xaa); // nothing written before the offset
    expect(dst[2 + 2 * s.length]).toBe(0xaa); // nor after the text
  });

  it.each([
    ['a NUL', [0x61, 0x00]],
    ['a lone continuation byte', [0x80]],
    ['an overlong slash', [0xc0, 0xaf]],
    ['an overlong 3-byte form', [0xe0, 0x80, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a truncated sequence', [0xe2, 0x9c]],
    ['0xFF', [0xff]],
  ])('should refuse %s', (_name, bytes) => {
    expect(utf16Units(Uint8Array.from(bytes))).toBe(-1);
  });
});

describe('windowsEnvBlock', () => {
  it('should lay out NAME=value pairs sorted case-insensitively, UTF-16LE, double-NUL ended', () => {
    const secret = SecretBuf.from(text('s3cr3t-✓'));
    const block = windowsEnvBlock([
      { name: 'zeta', value: text('z') },
      { name: 'Path', value: text('C:\\bin') },
      { name: 'CORA_SECRET', value: secret },
    ]);
    try {
      const decoded = block.use((b) => Buffer.from(b).toString('utf16le'));
      expect(decoded).toBe('CORA_SECRET=s3cr3t-✓\0Path=C:\\bin\0zeta=z\0\0');
    } finally {
      block.wipe();
      secret.wipe();
    }
    expect(block.wiped).toBe(true);
  });

  it('should make an empty block of two NULs', () => {
    const block = windowsEnvBlock([]);
    expect(block.use((b) => [...b])).toEqual([0, 0, 0, 0]);
    block.wipe();
  });

  it.each([
    ['an empty name', [{ name: '', value: text('v') }], /name/],
    ['a name with =', [{ name: 'A=B', value: text('v') }], /name/],
    [
      'two names differing in case',
      [
        { name: 'path', value: text('a') },
        { name: 'PATH', value: text('b') },
      ],
      /twice/,
    ],
    ['a value with NUL', [{ name: 'X', value: Uint8Array.from([0x61, 0, 0x62]) }], /X: the value/],
    ['a value that is not UTF-8', [{ name: 'X', value: Uint8Array.from([0xff]) }], /X: the value/],
  ])('should refuse %s, naming the variable, never the value', (_name, env, message) => {
    expect(() => windowsEnvBlock(env)).toThrow(message);
    try {
      windowsEnvBlock(env);
    } catch (error) {
      expect((error as Error).message).not.toContain('\ufffd');
    }
  });
});

describe('commandLine (CommandLineToArgvW / MSVCRT rules)', () => {
  it.each([
    [['node', 'a.js'], 'node a.js'],
    [['C:\\Program Files\\node.exe', 'a b'], '"C:\\Program Files\\node.exe" "a b"'],
    [['x', ''], 'x ""'],
    [['x', 'q"uote'], 'x "q\\"uote"'],
    [['x', 'back\\slash\\'], 'x back\\slash\\'],
    [['x', 'trail space\\'], 'x "trail space\\\\"'],
    [['x', 'a\\"b'], 'x "a\\\\\\"b"'],
    [['x', 'tab\there'], 'x "tab\there"'],
  ])('%j → %s', (argv, line) => {
    expect(commandLine(argv)).toBe(line);
  });

  it('should refuse what no quoting can carry', () => {
    expect(() => commandLine([])).toThrow(TypeError);
    expect(() => commandLine(['a"b'])).toThrow(/argv\[0\]/);
    expect(() => commandLine(['x', 'a\0b'])).toThrow(/NUL/);
  });
});
