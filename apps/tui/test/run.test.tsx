// SPDX-License-Identifier: AGPL-3.0-only
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runTui, TUI_EXIT } from '../src/index.ts';
import { ESC, fakeBackend, strict, tick } from './harness.tsx';
import type { TuiBackend } from '../src/types.ts';

/** A stream that claims to be a terminal (what Ink and runTui look at), recording what is drawn. */
function terminal(columns: number, rows: number) {
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns, rows });
  let drawn = '';
  stdout.on('data', (d: Buffer) => {
    drawn += d.toString('utf8');
  });
  const raw: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode(on: boolean) {
      raw.push(on);
      return stdin;
    },
  });
  return {
    stdout,
    stdin,
    raw,
    drawn: () => drawn,
    /** The last frame drawn since the last call (Ink wraps each in synchronized-output marks). */
    take: () => {
      const frames = drawn.split('\u001b[?2026h');
      drawn = '';
      return frames.at(-1) ?? '';
    },
  };
}

describe('runTui', () => {
  it('should refuse without a terminal: exit 2 and a message, touching nothing', async () => {
    const stderr = new PassThrough();
    let message = '';
    stderr.on('data', (d: Buffer) => (message += d.toString()));
    const stdout = new PassThrough();
    let drawn = '';
    stdout.on('data', (d: Buffer) => (drawn += d.toString()));
    // Strict: any use of the backend throws.
    const backend = strict<TuiBackend>('backend', {});
    const code = await runTui(backend, {
      stdin: Object.assign(new PassThrough(), {
        isTTY: true,
        setRawMode: () => undefined,
      }) as unknown as NodeJS.ReadStream,
      stdout: stdout as unknown as NodeJS.WriteStream,
      stderr,
      env: {},
    });
    expect(code).toBe(TUI_EXIT.NO_TTY);
    expect(code).toBe(2);
    expect(message).toContain('cr tui: needs an interactive terminal');
    expect(drawn).toBe('');
  });

  it('should refuse when stdin is not a terminal', async () => {
    const term = terminal(100, 30);
    const stderr = new PassThrough();
    let message = '';
    stderr.on('data', (d: Buffer) => (message += d.toString()));
    const code = await runTui(strict<TuiBackend>('backend', {}), {
      stdin: new PassThrough() as unknown as NodeJS.ReadStream,
      stdout: term.stdout as unknown as NodeJS.WriteStream,
      stderr,
    });
    expect(code).toBe(2);
    expect(message).toContain('stdin and stdout must be a TTY');
    expect(term.raw).toEqual([]);
  });

  it('should switch to the compact layout when the terminal shrinks, and back, then quit on q', async () => {
    const term = terminal(100, 30);
    const backend = fakeBackend(
      {},
      {
        status: () =>
          Promise.resolve({
            state: 'locked' as const,
            secrets: 0,
            pid: 7,
            socket: '/s',
            idleDeadline: null,
            version: '0.1.0',
          }),
      },
    );
    const running = runTui(backend, {
      stdin: term.stdin as unknown as NodeJS.ReadStream,
      stdout: term.stdout as unknown as NodeJS.WriteStream,
      env: { NO_COLOR: '1' },
    });
    await tick(80);
    expect(term.raw).toEqual([true]);
    const wide = term.take();
    expect(wide).toContain('1 Dashboard');
    expect(wide).not.toMatch(new RegExp(`${ESC}\\[3\\dm`, 'u')); // NO_COLOR: no foreground colours

    Object.assign(term.stdout, { columns: 60, rows: 18 });
    term.stdout.emit('resize');
    await tick(80);
    const narrow = term.take();
    expect(narrow).toContain('1 Dash ');
    expect(narrow).not.toContain('1 Dashboard');

    Object.assign(term.stdout, { columns: 100, rows: 30 });
    term.stdout.emit('resize');
    await tick(80);
    expect(term.take()).toContain('1 Dashboard');

    term.stdin.write(Buffer.from('q'));
    expect(await running).toBe(TUI_EXIT.OK);
    expect(term.raw).toEqual([true, false]);
  });
});
