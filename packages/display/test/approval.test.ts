// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import { approvalLines, span, type ApprovalFields, type DisplayLine } from '../src/index.ts';

/** What must never reach the terminal as itself (see text.ts). */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/u;
const NOW = Date.parse('2026-12-04T12:00:00Z');

function request(over: Partial<ApprovalFields> = {}): ApprovalFields {
  return {
    task: 'github',
    target: '/usr/bin/curl',
    argv: ['curl', '-s', 'https://api.github.com/user'],
    cwd: '/home/u/project',
    secrets: ['GITHUB_TOKEN'],
    caller: { pid: 4242, exe: '/opt/agent/bin/agent', script: null },
    ancestry: [
      { pid: 4241, exe: '/bin/bash' },
      { pid: 1, exe: '/sbin/init' },
    ],
    ...over,
  };
}

function value(lines: readonly DisplayLine[], label: string): string {
  const line = lines.find((l) => l.label === label);
  if (line === undefined) throw new Error(`no ${label} line`);
  return line.value;
}

describe('approvalLines', () => {
  it('should show every field, in order, with its label', () => {
    const lines = approvalLines(request(), { now: NOW });
    expect(lines.map((l) => l.label)).toEqual([
      'task',
      'command',
      'target',
      'cwd',
      'caller',
      'ancestry',
      'secrets',
    ]);
    expect(value(lines, 'command')).toBe('curl -s https://api.github.com/user');
    expect(value(lines, 'caller')).toBe('pid 4242 /opt/agent/bin/agent');
    expect(value(lines, 'ancestry')).toBe('4241 /bin/bash ← 1 /sbin/init');
  });

  it('should never let a control, C1, bidi or zero-width character through, in any field', () => {
    const hostile = ['\x1b[2J', '\r', '\x9b2J', '\u202e', '\u200b', '\u2066', '\x07', '\n'];
    const evil = (s: string): string => `x${hostile.join('')}${s}`;
    const lines = approvalLines(
      request({
        task: evil('t'),
        target: evil('/t'),
        argv: hostile.map(evil),
        cwd: evil('/c'),
        secrets: [evil('S')],
        caller: { pid: 1, exe: evil('/e'), script: evil('/s') },
        ancestry: [{ pid: 2, exe: evil('/p') }],
        env: [{ name: evil('N'), value: evil('v'), more: 0 }],
        files: [{ where: 'home', path: evil('.curlrc'), modified: evil('time') }],
      }),
      { now: NOW },
    );
    expect(lines.length).toBeGreaterThan(8);
    for (const line of lines) {
      expect(line.value).not.toMatch(HIDDEN);
      expect(line.label).not.toMatch(HIDDEN);
    }
  });

  it('should keep ESC[2J and \\r from clearing or rewriting the line', () => {
    const lines = approvalLines(request({ argv: ['curl', '\x1b[2J\x1b[H', 'evil\rgood'] }));
    expect(value(lines, 'command')).toBe("curl $'\\e[2J\\e[H' $'evil\\rgood'");
  });

  it('should show a bidi override and a zero-width space as escapes', () => {
    const lines = approvalLines(request({ argv: ['rm', 'file\u202etxt.sh', 'a\u200bb'] }));
    expect(value(lines, 'command')).toBe("rm $'file\\xe2\\x80\\xaetxt.sh' $'a\\xe2\\x80\\x8bb'");
  });

  it("should keep argument boundaries: 'a b' is not a b, and empty arguments show", () => {
    const one = value(approvalLines(request({ argv: ['echo', 'a b'] })), 'command');
    const two = value(approvalLines(request({ argv: ['echo', 'a', 'b'] })), 'command');
    expect(one).toBe("echo 'a b'");
    expect(two).toBe('echo a b');
    expect(value(approvalLines(request({ argv: ['echo', '', 'x', ''] })), 'command')).toBe("echo '' x ''");
  });

  it('should cut a 100 KB argument and count what it left out', () => {
    const big = 'A'.repeat(100 * 1024);
    const command = value(approvalLines(request({ argv: ['curl', big, '-s'] })), 'command');
    expect(command).toBe(`curl ${'A'.repeat(256)} …(${String(100 * 1024 - 256)} more bytes) -s`);
  });

  it('should count the arguments past the command budget instead of drawing them', () => {
    const argv = ['curl', ...Array.from({ length: 100 }, (_, i) => `arg-${String(i)}-${'x'.repeat(40)}`)];
    const command = value(approvalLines(request({ argv }), { maxCommandBytes: 500 }), 'command');
    expect(command.length).toBeLessThan(600);
    expect(command).toMatch(/…\(\d+ more arguments, \d+ bytes\)$/);
    const shown = command.split(' ').filter((a) => a.startsWith('arg-')).length;
    expect(command).toContain(`…(${String(100 - shown)} more arguments,`);
  });

  it('should count what the service cut before sending: bytes of an argument, arguments, cwd', () => {
    const info = request({ argv: ['curl', 'AAAA', 'x'], argvMore: [0, 3000, 0], argvOmitted: 40 });
    const lines = approvalLines({ ...info, cwd: '/home/u', cwdMore: 9 });
    expect(value(lines, 'command')).toBe('curl AAAA …(3000 more bytes) x …(40 more arguments)');
    expect(value(lines, 'cwd')).toBe('/home/u …(9 more bytes)');
    // Past the command budget too: the count adds both, without bytes it does not know.
    const many = request({ argv: ['curl', 'a'.repeat(300), 'b'.repeat(300)], argvOmitted: 2 });
    expect(value(approvalLines(many, { maxCommandBytes: 300 }), 'command')).toMatch(/…\(3 more arguments\)$/);
  });

  it('should mark a script as weaker evidence and count ancestors past the limit', () => {
    const ancestry = Array.from({ length: 12 }, (_, i) => ({ pid: 100 + i, exe: '/bin/sh' }));
    const lines = approvalLines(
      request({ caller: { pid: 7, exe: '/usr/bin/python3', script: '/home/u/my bot.py' }, ancestry }),
    );
    expect(value(lines, 'caller')).toBe(
      "pid 7 /usr/bin/python3 script '/home/u/my bot.py' (weaker evidence)",
    );
    expect(value(lines, 'ancestry')).toMatch(/^100 \/bin\/sh ← .* ← 107 \/bin\/sh ← …\(4 more\)$/);
  });

  it('should show the passed environment quoted, with what the sender cut counted', () => {
    const lines = approvalLines(
      request({
        env: [
          { name: 'HOME', value: '/home/u', more: 0 },
          { name: 'LC_ALL', value: 'C UTF', more: 0 },
          { name: 'BIG', value: 'b'.repeat(300), more: 1000 },
        ],
        envOmitted: 3,
      }),
    );
    expect(lines.filter((l) => l.label === 'env').map((l) => l.value)).toEqual([
      'HOME=/home/u',
      "LC_ALL='C UTF'",
      `BIG=${'b'.repeat(256)} …(1044 more bytes)`,
      '…(3 more variables)',
    ]);
    expect(value(approvalLines(request({ env: [] })), 'env')).toBe('(nothing from the caller)');
  });

  it('should show the files that steer a target with their age', () => {
    const lines = approvalLines(
      request({
        files: [
          { where: 'home', path: '.curlrc', modified: new Date(NOW - 3 * 60_000).toISOString() },
          { where: 'cwd', path: '.npmrc', modified: new Date(NOW - 30_000).toISOString() },
        ],
      }),
      { now: NOW },
    );
    expect(lines.filter((l) => l.label === 'file').map((l) => l.value)).toEqual([
      'present: ~/.curlrc (modified 3 min ago)',
      'present: ./.npmrc (modified 30 s ago)',
    ]);
    expect(value(approvalLines(request({ files: [] })), 'files')).toMatch(/^none of the files/);
  });

  it('should show how the child is confined, or that it is not, escaped like every field', () => {
    const confined = approvalLines(
      request({
        confine: ['clean HOME: a fresh empty private directory', 'writes only in /tmp/\u001b[2Jout'],
      }),
      { now: NOW },
    );
    const child = confined.filter((l) => l.label === 'child').map((l) => l.value);
    expect(child).toEqual(['clean HOME: a fresh empty private directory', 'writes only in /tmp/\\e[2Jout']);
    expect(
      approvalLines(request({ confine: [] }), { now: NOW }).find((l) => l.label === 'child')?.value,
    ).toMatch(/^not confined/);
    expect(approvalLines(request(), { now: NOW }).some((l) => l.label === 'child')).toBe(false);
  });

  it('should say when the task passes output through unmasked, and only then', () => {
    const output = (info: ReturnType<typeof request>): string | undefined =>
      approvalLines(info, { now: NOW }).find((l) => l.label === 'output')?.value;
    expect(output(request({ output: 'passthrough' }))).toMatch(/^NOT masked \(passthrough\)/);
    expect(output(request({ output: 'masked' }))).toBeUndefined();
    expect(output(request())).toBeUndefined();
  });

  it('should refuse a negative limit', () => {
    expect(() => approvalLines(request(), { maxBytes: -1 })).toThrow(RangeError);
  });
});

describe('span', () => {
  it('should round a span to what matters at its size', () => {
    expect(span(40_000)).toBe('40 s');
    expect(span(-14 * 60_000)).toBe('14 min');
    expect(span(125 * 60_000)).toBe('2 h 5 min');
    expect(span(3 * 86_400_000)).toBe('3 days');
  });
});
