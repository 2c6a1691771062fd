// SPDX-License-Identifier: AGPL-3.0-only
// A private tmux server for the real-terminal tests (`cr tui`, `cr approve`): panes driven with
// send-keys and read with capture-pane.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CoraHome } from './e2e-helpers.ts';

/** Whether tmux runs here; the tests that need it skip (and say so) when it does not. */
export const hasTmux = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;

/** A pane running one command. */
export interface Pane {
  readonly target: string;
  /** capture-pane -p (every capture is recorded by the server, for canary checks). */
  readonly screen: () => string;
  readonly keys: (...keys: string[]) => void;
  /** Literal text (send-keys -l). */
  readonly type: (text: string) => void;
}

/** One tmux server on its own socket. */
export interface TmuxServer {
  /** Every screen captured so far. */
  readonly captures: readonly string[];
  /**
   * A new session running `command` (a shell line) in `home`'s directory with its environment;
   * write the command so the shell stays afterwards (`…; sleep 3600`) to read its end.
   */
  open(
    home: CoraHome,
    command: string,
    options?: { env?: NodeJS.ProcessEnv; cols?: number; rows?: number; joinWrapped?: boolean },
  ): Pane;
  /** Resize a pane's window (the program in it gets SIGWINCH). */
  resize(pane: Pane, cols: number, rows: number): void;
  /** Kill the server and remove its socket. */
  kill(): void;
}

/** The variables a pane needs to reach `home`'s service, written out for `env`. */
function paneEnv(env: NodeJS.ProcessEnv): string {
  return ['HOME', 'CORA_HOME', 'XDG_RUNTIME_DIR', 'CORA_NODE', 'PATH']
    .map((name) => `${name}='${env[name] ?? ''}'`)
    .join(' ');
}

/**
 * Start using a private tmux server (it starts with the first session).
 * @param name - a prefix for its socket name
 * @returns the server
 */
export function tmuxServer(name: string): TmuxServer {
  const socket = `${name}-${String(process.pid)}-${Math.random().toString(36).slice(2, 8)}`;
  const captures: string[] = [];
  let sessions = 0;
  const tmux = (args: readonly string[], env: NodeJS.ProcessEnv = process.env): string => {
    const result = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { env, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  return {
    captures,
    open: (home, command, options = {}) => {
      sessions += 1;
      const target = `${name}${String(sessions)}`;
      const clean = { ...(options.env ?? home.env) };
      delete clean['TMUX'];
      const size = [String(options.cols ?? 100), String(options.rows ?? 30)];
      // The env reaches the pane through the tmux server's environment and the explicit `env`.
      const line = `cd '${home.dir.path}' && env ${paneEnv(clean)} ${command}`;
      tmux(['new-session', '-d', '-s', target, '-x', size[0] ?? '', '-y', size[1] ?? '', line], clean);
      return {
        target,
        screen: () => {
          const text = tmux([
            'capture-pane',
            '-p',
            ...(options.joinWrapped === true ? ['-J'] : []),
            '-t',
            target,
          ]);
          captures.push(text);
          return text;
        },
        keys: (...keys) => {
          tmux(['send-keys', '-t', target, ...keys]);
        },
        type: (text) => {
          tmux(['send-keys', '-t', target, '-l', text]);
        },
      };
    },
    resize: (pane, cols, rows) => {
      tmux(['resize-window', '-t', pane.target, '-x', String(cols), '-y', String(rows)]);
    },
    kill: () => {
      spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
      // kill-server leaves the socket file behind.
      rmSync(join(process.env['TMUX_TMPDIR'] ?? '/tmp', `tmux-${String(process.getuid?.() ?? 0)}`, socket), {
        force: true,
      });
    },
  };
}

/** Poll the screen until it contains `text` (or matches), else fail with the last screen. */
export async function waitFor(
  screen: () => string,
  text: string | RegExp,
  timeoutMs = 20_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = screen();
    if (typeof text === 'string' ? last.includes(text) : text.test(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${String(text)}; the screen was:\n${last}`);
}
