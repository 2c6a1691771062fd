// SPDX-License-Identifier: AGPL-3.0-only
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quoteCommand, shellQuote, visible } from '../src/index.ts';

/** What must never reach the terminal as itself (see text.ts). */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/u;

/** Characters an attacker uses to rewrite or hide what the approver reads. */
const HOSTILE = [
  '\x1b[2J', // clear screen
  '\x1b]0;title\x07', // set the window title
  '\r', // back to the start of the line
  '\b', // backspace
  '\x9b2J', // C1 CSI
  '\u202e', // right-to-left override
  '\u2066', // left-to-right isolate
  '\u200b', // zero-width space
  '\u200d', // zero-width joiner
  '\ufeff', // BOM
  '\u00ad', // soft hyphen
  '\u2028', // line separator
  '\ud800', // lone surrogate
  '\ue000', // private use
];

/** Run a real shell on `printf %s <words>`: what it receives is what the quoting meant. */
function shellSees(words: string): string {
  // The C locale: the quoting must not depend on the reader's locale.
  return execFileSync('bash', ['-c', `printf '%s\\0' ${words}`], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  });
}

describe('visible', () => {
  it.each(HOSTILE)('should show %j as an escape, never as itself', (hostile) => {
    const shown = visible(`a${hostile}b`);
    expect(shown).not.toMatch(HIDDEN);
    expect(shown.startsWith('a\\')).toBe(true);
  });

  it('should never let a hidden character through, for any input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(visible(text)).not.toMatch(HIDDEN);
      }),
    );
  });

  it('should double backslashes so an escape cannot be forged', () => {
    expect(visible('\\e[2J')).toBe('\\\\e[2J');
    expect(visible('\x1b[2J')).toBe('\\e[2J');
    expect(visible('\\e[2J')).not.toBe(visible('\x1b[2J'));
  });

  it('should keep different inputs different (no two strings look alike)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        fc.pre(a !== b);
        expect(visible(a)).not.toBe(visible(b));
      }),
    );
  });

  it('should cut at maxBytes on a character boundary and count what it left out', () => {
    expect(visible('é'.repeat(10), { maxBytes: 5 })).toBe('éé …(16 more bytes)');
    expect(visible('abc', { maxBytes: 3 })).toBe('abc');
    expect(visible('x'.repeat(5000))).toMatch(/ …\(904 more bytes\)$/);
    expect(() => visible('a', { maxBytes: -1 })).toThrow(RangeError);
  });

  it('should leave ordinary text, including non-Latin scripts and emoji, as it is', () => {
    expect(visible('curl https://api.example.com/v1?q=日本語 ✓ 👍')).toBe(
      'curl https://api.example.com/v1?q=日本語 ✓ 👍',
    );
  });
});

describe('shellQuote', () => {
  it('should keep argument boundaries and empty arguments visible', () => {
    expect(quoteCommand(['echo', 'a b'])).toBe("echo 'a b'");
    expect(quoteCommand(['echo', 'a', 'b'])).toBe('echo a b');
    expect(quoteCommand(['echo', '', 'x'])).toBe("echo '' x");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });

  it("should use $'…' with escapes for hidden characters", () => {
    expect(shellQuote('\x1b[2J')).toBe("$'\\e[2J'");
    expect(shellQuote('a\u202eb')).toBe("$'a\\xe2\\x80\\xaeb'");
    expect(shellQuote('a\u202eb')).not.toMatch(HIDDEN);
  });

  it('should mean to a real shell exactly the argument it quotes', () => {
    const samples = [
      'plain',
      'a b',
      '',
      "it's",
      '$HOME',
      '`id`',
      '\x1b[2J',
      'tab\there',
      'new\nline',
      'a\u202eb',
      '\\',
      "\\'",
      '日本',
      '*?[]{}!#~',
    ];
    const shown = samples.map((s) => shellQuote(s)).join(' ');
    expect(shellSees(shown)).toBe(samples.map((s) => `${s}\0`).join(''));
  });

  it('should round-trip through bash for any argument without NUL or lone surrogates', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme-composite', minLength: 0, maxLength: 12 }), {
          minLength: 1,
          maxLength: 4,
        }),
        (argv) => {
          fc.pre(argv.every((a) => !a.includes('\0')));
          const shown = quoteCommand(argv);
          expect(shown).not.toMatch(HIDDEN);
          expect(shellSees(shown)).toBe(argv.map((a) => `${a}\0`).join(''));
        },
      ),
      { numRuns: 60 },
    );
    // 60 bash processes: seconds on a loaded 2-core machine.
  }, 120_000);

  it('should count a cut argument outside its quotes', () => {
    expect(shellQuote('a b c d', { maxBytes: 3 })).toBe("'a b' …(4 more bytes)");
  });
});

describe('what a sender already cut', () => {
  it('should add the bytes a sender left out to the count, and refuse a count that is not one', () => {
    expect(shellQuote('a b', { more: 10 })).toBe("'a b' …(10 more bytes)");
    expect(shellQuote('a b c d', { maxBytes: 3, more: 10 })).toBe("'a b' …(14 more bytes)");
    for (const more of [-1, 1.5, Number.NaN]) expect(() => shellQuote('x', { more })).toThrow(RangeError);
  });

  it('should count each cut argument and the arguments left out', () => {
    expect(quoteCommand(['curl', 'a b', 'x'], { more: [0, 5], omitted: 3 })).toBe(
      "curl 'a b' …(5 more bytes) x …(3 more arguments)",
    );
    expect(quoteCommand(['curl'], { omitted: 0 })).toBe('curl');
    expect(() => quoteCommand(['curl'], { omitted: -1 })).toThrow(RangeError);
    expect(() => quoteCommand(['curl'], { more: [0.5] })).toThrow(RangeError);
  });
});
