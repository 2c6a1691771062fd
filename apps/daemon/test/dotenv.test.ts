// SPDX-License-Identifier: AGPL-3.0-only
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDotenv, wipeDotenv, type DotenvProblem, type DotenvResult } from '../src/cli/dotenv.ts';
import { reveal } from './helpers.ts';

function parse(text: string | Uint8Array): DotenvResult {
  return parseDotenv(typeof text === 'string' ? Buffer.from(text) : text);
}

/** name → value as text, then wipe (tests only). */
function values(result: DotenvResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of result.entries) out[e.name] = reveal(e.value).toString('latin1');
  wipeDotenv(result.entries);
  return out;
}

describe('parseDotenv', () => {
  it('should parse plain, exported, commented and blank lines', () => {
    const result = parse(
      [
        '# a comment',
        '',
        'A=1',
        '  export B = two words  ',
        'export\tC=3',
        '   # indented comment',
        'D=',
        'E=x # trailing comment',
        'F=a#b',
      ].join('\n'),
    );
    expect(result.problems).toEqual([]);
    expect(result.entries.map((e) => [e.name, e.line])).toEqual([
      ['A', 3],
      ['B', 4],
      ['C', 5],
      ['D', 7],
      ['E', 8],
      ['F', 9],
    ]);
    expect(values(result)).toEqual({ A: '1', B: 'two words', C: '3', D: '', E: 'x', F: 'a#b' });
  });

  it('should keep single-quoted and backtick values literal', () => {
    const result = parse(`A='a \\n "b" # c'\nB=\`x'y\`\n`);
    expect(values(result)).toEqual({ A: 'a \\n "b" # c', B: "x'y" });
  });

  it('should decode the escapes of double-quoted values and keep unknown ones', () => {
    const result = parse('A="l1\\nl2\\t\\"q\\" \\\\ \\x" # note\n');
    expect(values(result)).toEqual({ A: 'l1\nl2\t"q" \\ \\x' });
  });

  it('should accept quoted values over several lines (PEM keys) and count lines after them', () => {
    const pem = '-----BEGIN KEY-----\nAAAA\n-----END KEY-----';
    const result = parse(`KEY="${pem}"\nNEXT=1\n`);
    expect(result.entries.map((e) => [e.name, e.line])).toEqual([
      ['KEY', 1],
      ['NEXT', 4],
    ]);
    expect(values(result)).toEqual({ KEY: pem, NEXT: '1' });
  });

  it('should accept CRLF line ends', () => {
    const result = parse('A=1\r\nB="2"\r\n# c\r\nC=3 # x\r\n');
    expect(values(result)).toEqual({ A: '1', B: '2', C: '3' });
  });

  it('should keep arbitrary non-UTF-8 bytes of a value', () => {
    const bytes = Buffer.concat([Buffer.from('A='), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('\n')]);
    const result = parseDotenv(bytes);
    expect([...reveal(result.entries[0]!.value)]).toEqual([0xff, 0xfe, 0x80]);
    wipeDotenv(result.entries);
  });

  it('should report every problem by line number without echoing values', () => {
    const text = [
      'GOOD=1',
      '9BAD=supersecret1',
      'NOEQUALS supersecret2',
      'A.B=supersecret3',
      'Q="supersecret4" junk',
      'GOOD=again',
      'U="supersecret5',
      'more',
    ].join('\n');
    const result = parse(text);
    expect(result.entries).toEqual([]);
    const kinds: [number, DotenvProblem['kind']][] = result.problems.map((p) => [p.line, p.kind]);
    expect(kinds).toEqual([
      [2, 'INVALID_NAME'],
      [3, 'MISSING_EQUALS'],
      [4, 'INVALID_NAME'],
      [5, 'TRAILING_CHARACTERS'],
      [6, 'DUPLICATE_NAME'],
      [7, 'UNTERMINATED_QUOTE'],
    ]);
    const messages = result.problems.map((p) => p.message).join('\n');
    expect(messages).not.toMatch(/supersecret/);
    expect(messages).toContain('line 6: GOOD was already set on line 1');
  });

  it('should refuse a value over 64 KiB and accept exactly 64 KiB', () => {
    const ok = parse(`A=${'x'.repeat(65_536)}\n`);
    expect(ok.problems).toEqual([]);
    expect(ok.entries[0]!.value.length).toBe(65_536);
    wipeDotenv(ok.entries);
    const tooBig = parse(`A="${'x'.repeat(65_537)}"\n`);
    expect(tooBig.problems.map((p) => p.kind)).toEqual(['VALUE_TOO_LARGE']);
  });

  it('should return nothing for an empty file', () => {
    expect(parse('')).toEqual({ entries: [], problems: [] });
    expect(parse('\n\n# only comments\n')).toEqual({ entries: [], problems: [] });
  });

  it('should never throw and never report a problem containing input bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const result = parseDotenv(bytes);
        for (const p of result.problems) expect(p.message).toMatch(/^line \d+: [\x20-\x7e]*$/);
        wipeDotenv(result.entries);
      }),
      { numRuns: 500 },
    );
  });

  it('should round-trip names and values through every quoting style (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/);
    const value = fc.uint8Array({ maxLength: 60 });
    const style = fc.constantFrom('double', 'single', 'unquoted', 'export');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, value, style), { selector: (t) => t[0], maxLength: 8 }),
        (items) => {
          const lines: Buffer[] = [];
          const expected: Record<string, string> = {};
          for (const [n, v, s] of items) {
            const raw = Buffer.from(v);
            const canSingle = !raw.includes(0x27);
            const canBare =
              raw.length > 0 &&
              !raw.some((b) => b === 0x0a || b === 0x0d || b === 0x23) &&
              ![0x20, 0x09, 0x22, 0x27, 0x60].includes(raw[0]!) &&
              ![0x20, 0x09].includes(raw[raw.length - 1]!);
            let encoded: Buffer;
            if (s === 'single' && canSingle)
              encoded = Buffer.concat([Buffer.from("'"), raw, Buffer.from("'")]);
            else if ((s === 'unquoted' || s === 'export') && canBare) encoded = raw;
            else {
              const parts: number[] = [0x22];
              for (const b of raw) {
                if (b === 0x22 || b === 0x5c) parts.push(0x5c, b);
                else if (b === 0x0a) parts.push(0x5c, 0x6e);
                else parts.push(b);
              }
              parts.push(0x22);
              encoded = Buffer.from(parts);
            }
            lines.push(
              Buffer.concat([
                Buffer.from(`${s === 'export' ? 'export ' : ''}${n}=`),
                encoded,
                Buffer.from('\n'),
              ]),
            );
            expected[n] = raw.toString('latin1');
          }
          const result = parseDotenv(Buffer.concat(lines));
          expect(result.problems).toEqual([]);
          expect(values(result)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
