// SPDX-License-Identifier: AGPL-3.0-only
import { createElement, type ReactElement } from 'react';
import { render, useWindowSize } from 'ink';
import { App } from './internal/app.tsx';
import { InkStdin, InputRouter } from './internal/raw-input.ts';
import type { TuiBackend } from './types.ts';

/** Exit codes of {@link runTui}: 0 on quit, 2 without a terminal (the CLI's `USAGE`). */
export const TUI_EXIT = { OK: 0, NO_TTY: 2 } as const;

/** Options of {@link runTui}. */
export interface RunTuiOptions {
  /** The terminal to read (default `process.stdin`); it must be a TTY. */
  readonly stdin?: NodeJS.ReadStream;
  /** The terminal to draw on (default `process.stdout`); it must be a TTY. */
  readonly stdout?: NodeJS.WriteStream;
  /** Where the no-terminal message goes (default `process.stderr`). */
  readonly stderr?: NodeJS.WritableStream;
  /** The environment (`NO_COLOR`), default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

interface RootProps {
  readonly backend: TuiBackend;
  readonly input: InputRouter;
  readonly color: boolean;
  readonly bell: () => void;
  readonly onExit: (code: number) => void;
}

function Root(props: RootProps): ReactElement {
  // Re-renders on SIGWINCH: layouts switch to compact below 72×20.
  const { columns, rows } = useWindowSize();
  return createElement(App, { ...props, columns, rows });
}

/**
 * Run the TUI until the user quits. It owns the terminal while it runs: raw mode, the
 * alternate screen, and the only reader of stdin. Keystrokes go to Ink as text, except while
 * a masked field is open, when they are read as raw bytes straight into secure memory
 * (architecture §1 G3). Refuses, with a message and {@link TUI_EXIT}.NO_TTY, when stdin or stdout is
 * not a terminal. Honours `NO_COLOR`.
 *
 * @param backend - the machine side (the daemon's `cr tui` builds it)
 * @param options - streams and environment, for tests and embedding
 * @returns the exit code
 * @example
 * ```ts
 * process.exitCode = await runTui(backend);
 * ```
 */
export async function runTui(backend: TuiBackend, options: RunTuiOptions = {}): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  if (!stdin.isTTY || !stdout.isTTY || typeof stdin.setRawMode !== 'function') {
    stderr.write(
      'cr tui: needs an interactive terminal (stdin and stdout must be a TTY); use the cr commands in scripts.\n',
    );
    return TUI_EXIT.NO_TTY;
  }
  const color = (env['NO_COLOR'] ?? '') === '';
  const inkStdin = new InkStdin(stdin);
  const router = new InputRouter((text) => {
    inkStdin.push(text);
  });
  // Buffers, never strings: no encoding is set on the real stdin.
  const onData = (chunk: Buffer | string): void => {
    if (typeof chunk === 'string') return; // someone set an encoding: refuse to route decoded text
    router.feed(chunk);
  };
  stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  let finish: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    finish = resolve;
  });
  // createElement, not JSX: this module is on the package's entry path, which consumers'
  // type checkers must read without a JSX setting.
  const instance = render(
    createElement(Root, {
      backend,
      input: router,
      color,
      bell: () => {
        stdout.write('\u0007');
      },
      onExit: (code: number) => {
        finish(code);
      },
    }),
    {
      stdin: inkStdin as unknown as NodeJS.ReadStream,
      stdout,
      exitOnCtrlC: false,
      patchConsole: false,
      // Checked above that both ends are terminals: Ink must not fall back to its CI mode
      // (only the last frame, at exit) because a CI variable is set in the environment.
      interactive: true,
      alternateScreen: true,
    },
  );
  try {
    return await exited;
  } finally {
    instance.unmount();
    await instance.waitUntilExit().catch(() => undefined);
    router.dispose();
    stdin.off('data', onData);
    try {
      stdin.setRawMode(false);
    } catch {
      // the terminal went away
    }
    stdin.pause();
  }
}
