// SPDX-License-Identifier: AGPL-3.0-only

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { isCrError } from '../src/shared/errors.ts';
import {
  MAX_PASSPHRASE_BYTES,
  passphraseWarnings,
  readNewPassphrase,
  readPassphrase,
  stripTrailingNewline,
} from '../src/cli/passphrase.ts';
import { APP_DIR, SOURCE_FLAGS, reveal, runNode, secret } from './helpers.ts';

let dir: TempDir;
beforeEach(async () => {
  dir = await makeTempDir('cora-pass-');
});
afterEach(async () => {
  await dir.remove();
});

function privateFile(name: string, content: string | Uint8Array, mode = 0o600): string {
  const path = join(dir.path, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isCrError(error) ? error.code : `other: ${String(error)}`;
  }
}

describe('readPassphrase', () => {
  it('should read a descriptor to its end and strip one trailing newline', async () => {
    const fd = openSync(privateFile('p', 'correct horse\n\n'), 'r');
    try {
      const buf = await readPassphrase({ fd }, 'x');
      expect(reveal(buf).toString()).toBe('correct horse\n');
      buf.wipe();
    } finally {
      closeSync(fd);
    }
  });

  it('should strip a trailing CRLF and keep inner bytes, including non-UTF-8 ones', async () => {
    const fd = openSync(privateFile('p', Buffer.from([0xff, 0x00, 0x41, 0x0d, 0x0a])), 'r');
    try {
      const buf = await readPassphrase({ fd }, 'x');
      expect([...reveal(buf)]).toEqual([0xff, 0x00, 0x41]);
      buf.wipe();
    } finally {
      closeSync(fd);
    }
  });

  it('should read a passphrase piped into stdin of a real process', async () => {
    const result = await runNode([...SOURCE_FLAGS, 'test/fixtures/read-passphrase.ts', 'stdin'], {
      input: 'piped secret\n',
    });
    expect(result.stdout.trim()).toBe(`HEX ${Buffer.from('piped secret').toString('hex')}`);
  });

  it('should read a private passphrase file', async () => {
    const buf = await readPassphrase({ file: privateFile('p', 'from a file\n') }, 'x');
    expect(reveal(buf).toString()).toBe('from a file');
    buf.wipe();
  });

  it('should refuse an empty passphrase with INVALID_INPUT', async () => {
    expect(await code(readPassphrase({ file: privateFile('p', '\n') }, 'x'))).toBe('INVALID_INPUT');
  });

  it('should refuse a passphrase over the limit with INVALID_INPUT', async () => {
    const long = 'a'.repeat(MAX_PASSPHRASE_BYTES + 1);
    expect(await code(readPassphrase({ file: privateFile('p', long) }, 'x'))).toBe('INVALID_INPUT');
    const huge = 'a'.repeat(MAX_PASSPHRASE_BYTES * 4);
    const fd = openSync(privateFile('q', huge), 'r');
    try {
      expect(await code(readPassphrase({ fd }, 'x'))).toBe('INVALID_INPUT');
    } finally {
      closeSync(fd);
    }
  });

  it('should accept exactly the limit', async () => {
    const buf = await readPassphrase({ file: privateFile('p', 'b'.repeat(MAX_PASSPHRASE_BYTES)) }, 'x');
    expect(buf.length).toBe(MAX_PASSPHRASE_BYTES);
    buf.wipe();
  });

  it('should refuse a group- or other-readable passphrase file with UNSAFE_PATH', async () => {
    expect(await code(readPassphrase({ file: privateFile('p', 'x', 0o640) }, 'x'))).toBe('UNSAFE_PATH');
    expect(await code(readPassphrase({ file: privateFile('q', 'x', 0o604) }, 'x'))).toBe('UNSAFE_PATH');
  });

  it('should refuse a symlinked passphrase file with UNSAFE_PATH', async () => {
    const target = privateFile('p', 'x');
    const link = join(dir.path, 'link');
    symlinkSync(target, link);
    expect(await code(readPassphrase({ file: link }, 'x'))).toBe('UNSAFE_PATH');
  });

  it('should refuse a FIFO without blocking, with UNSAFE_PATH', async () => {
    const fifo = join(dir.path, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    expect(await code(readPassphrase({ file: fifo }, 'x'))).toBe('UNSAFE_PATH');
  });

  it('should report a missing passphrase file with NOT_FOUND', async () => {
    expect(await code(readPassphrase({ file: join(dir.path, 'none') }, 'x'))).toBe('NOT_FOUND');
  });

  it('should refuse two sources and a bad descriptor with USAGE', async () => {
    expect(await code(readPassphrase({ fd: 0, file: 'x' }, 'x'))).toBe('USAGE');
    expect(await code(readPassphrase({ fd: -1 }, 'x'))).toBe('USAGE');
  });

  it('should refuse to prompt without a controlling terminal, with USAGE', async () => {
    // detached: the child runs in a new session, so it has no /dev/tty.
    const result = await runNode([...SOURCE_FLAGS, 'test/fixtures/read-passphrase.ts', 'tty'], {
      detached: true,
    });
    expect(result.stdout.trim()).toBe('ERROR USAGE');
  });
});

describe('readNewPassphrase', () => {
  it('should read a descriptor once (no confirmation possible)', async () => {
    const fd = openSync(privateFile('p', 'new one\n'), 'r');
    try {
      const buf = await readNewPassphrase({ fd }, 'a', 'b');
      expect(reveal(buf).toString()).toBe('new one');
      buf.wipe();
    } finally {
      closeSync(fd);
    }
  });
});

/** Run the fixture on a pseudo-terminal (python3's pty module) and type `steps`. */
function onPty(steps: object[], fixtureArgs: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'python3',
      [
        'test/fixtures/pty-run.py',
        JSON.stringify(steps),
        process.execPath,
        ...SOURCE_FLAGS,
        'test/fixtures/read-passphrase.ts',
        'tty',
        ...fixtureArgs,
      ],
      { cwd: APP_DIR, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    child.on('error', reject);
    child.on('close', () => {
      resolve(out);
    });
  });
}

const hex = (s: string | number[]): string =>
  (typeof s === 'string' ? Buffer.from(s) : Buffer.from(s)).toString('hex');

describe('promptSecret on a terminal', () => {
  it('should read raw keystrokes without echoing them', async () => {
    const out = await onPty([{ wait: 'Passphrase: ' }, { hex: hex('tty pass\r') }], []);
    expect(out).toContain(`HEX ${hex('tty pass')}`);
    expect(out).not.toContain('tty pass');
  });

  it('should handle backspace over a multi-byte character, Ctrl-U and escape sequences', async () => {
    const steps = [
      { wait: 'Passphrase: ' },
      { hex: hex('junk') },
      { hex: '15' }, // Ctrl-U clears
      { hex: hex('ab€') },
      { hex: '7f' }, // removes the 3-byte €
      { hex: '1b5b44' }, // left arrow: ignored
      { hex: hex('c') },
      { hex: '08' }, // ^H removes c
      { hex: hex('d\r') },
    ];
    const out = await onPty(steps, []);
    expect(out).toContain(`HEX ${hex('abd')}`);
  });

  it('should cancel on Ctrl-C with CANCELLED', async () => {
    const out = await onPty([{ wait: 'Passphrase: ' }, { hex: hex('abc') }, { hex: '03' }], []);
    expect(out).toContain('ERROR CANCELLED');
  });

  it('should cancel on Ctrl-D on an empty line', async () => {
    const out = await onPty([{ wait: 'Passphrase: ' }, { hex: '04' }], []);
    expect(out).toContain('ERROR CANCELLED');
  });

  it('should ask twice for a new passphrase and refuse a mismatch with MISMATCH', async () => {
    const same = await onPty(
      [
        { wait: 'New passphrase: ' },
        { hex: hex('one two\r') },
        { wait: 'Again: ' },
        { hex: hex('one two\r') },
      ],
      ['new'],
    );
    expect(same).toContain(`HEX ${hex('one two')}`);
    const differ = await onPty(
      [
        { wait: 'New passphrase: ' },
        { hex: hex('one two\r') },
        { wait: 'Again: ' },
        { hex: hex('one twO\r') },
      ],
      ['new'],
    );
    expect(differ).toContain('ERROR MISMATCH');
  });
});

describe('passphraseWarnings', () => {
  it('should warn about short and low-variety passphrases without quoting them', () => {
    const short = secret('abc12');
    const warnings = passphraseWarnings(short);
    expect(warnings.join(' ')).toMatch(/5 bytes long/);
    expect(warnings.join(' ')).not.toContain('abc12');
    short.wipe();
    const same = secret('aaaaaaaaaaaaaaaaaaaaaaaa');
    expect(passphraseWarnings(same).join(' ')).toMatch(/few different/);
    same.wipe();
    const letters = secret('abcdefghijklmno');
    expect(passphraseWarnings(letters).join(' ')).toMatch(/one kind/);
    letters.wipe();
  });

  it('should not warn about a long, varied passphrase', () => {
    const good = secret('Tr0ub4dor & horse battery');
    expect(passphraseWarnings(good)).toEqual([]);
    good.wipe();
  });
});

describe('stripTrailingNewline', () => {
  it('should return the same buffer when there is no newline', () => {
    const buf = secret('abc');
    expect(stripTrailingNewline(buf)).toBe(buf);
    buf.wipe();
  });

  it('should wipe the input when it returns a copy', () => {
    const buf = secret('abc\n');
    const out = stripTrailingNewline(buf);
    expect(buf.wiped).toBe(true);
    expect(reveal(out).toString()).toBe('abc');
    out.wipe();
  });
});
