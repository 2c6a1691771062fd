// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:os';
import { isatty } from 'node:tty';
import { EXEC_LIMITS, isCarriableEnvVar, type ExecSignal } from '@cora/ipc';
import { BASE_ENV_NAMES } from '@cora/policy';
import { coraHome } from '../../shared/paths.ts';
import { CrError } from '../../shared/errors.ts';
import { runningService } from '../client.ts';
import { localTime } from '../output.ts';

/** Signals `cr exec` forwards to the child (architecture §8). */
const FORWARDED: readonly ExecSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The caller's environment as offered to the service: plain strings, never secrets (the
 * service keeps only the base names and the task's `env_pass`). Variables the message
 * cannot carry (NUL, `=` in the name, a name over 256 bytes, a value over 128 KiB) are left
 * out rather than failing the whole request; past 256, the base names go first.
 * @param env - the caller's environment
 * @returns what the `exec` message carries
 */
export function offeredEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const fits = Object.entries(env).filter(
    (entry): entry is [string, string] =>
      typeof entry[1] === 'string' && isCarriableEnvVar(entry[0], entry[1]),
  );
  const base = (name: string): boolean => BASE_ENV_NAMES.includes(name) || name.startsWith('LC_');
  fits.sort(([a], [b]) => Number(base(b)) - Number(base(a)) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(fits.slice(0, EXEC_LIMITS.maxEnvVars));
}

/**
 * `cr exec TASK -- argv…` (issue 4, architecture §8): ask the service to run argv under TASK. The
 * child's (masked) output is written to our stdout/stderr, our stdin is piped to it,
 * SIGINT/SIGTERM/SIGHUP are forwarded, and we exit with the child's code, or 128 + the signal
 * number that killed it.
 *
 * On a terminal (stdin and stdout both, issue 15) the service runs the child on a pty: once it
 * started, our terminal goes raw and every keystroke (Ctrl-C included, which the pty turns
 * into SIGINT) is forwarded, as is each window resize; the terminal mode is restored when the
 * request ends in any way, and at process exit as a last resort.
 *
 * For an `output: passthrough` task the service asks for our fds 0-2 (`onFds`) and the child
 * uses them itself: we then read no stdin (neither does `process.stdin` exist: creating it
 * would make a shared pipe non-blocking under the child), forward signals and resizes only.
 *
 * @param task - the task name
 * @param argv - the command line
 * @returns the exit code for `cr`
 * @throws CrError `LOCKED`, `NOT_FOUND` (unknown task, command not found, missing secret),
 *   `REFUSED` (target not allowed, caller refused), `RATE_LIMITED`, `DENIED` (approval denied
 *   or timed out), `AUDIT_UNAVAILABLE` (the service cannot write its audit log).
 */
export async function cmdExec(task: string, argv: readonly string[]): Promise<number> {
  if (argv.length === 0) throw new CrError('USAGE', 'usage: cr exec TASK -- COMMAND [ARG…]');
  // Sends argv and stdin, never a passphrase or a value: the fast connection (client.ts).
  const service = await runningService(coraHome(), undefined, { noSecrets: true });
  // End-to-end back-pressure: when our stdout or stderr cannot take more, stop reading the
  // socket until it drains; the service then pauses the child (bounded memory on every hop).
  const forward = (stream: NodeJS.WriteStream, chunk: Uint8Array): void => {
    if (!stream.write(Buffer.from(chunk))) {
      service.pauseReading();
      stream.once('drain', () => {
        service.resumeReading();
      });
    }
  };
  const handlers = new Map<ExecSignal, () => void>();
  // isatty(), not `process.stdin.isTTY`: creating process.stdin on a pipe sets O_NONBLOCK on
  // it, which a passthrough child sharing that pipe would inherit.
  // Linux only: the service gives a pty nowhere else (exec-handler.ts), and raw mode over
  // pipes would turn Ctrl-C into a byte the child never sees as a signal.
  const onTerminal = process.platform === 'linux' && isatty(0) && isatty(1);
  const raw = onTerminal ? rawTerminal() : null;
  /** `handedOver`: the service took our fds (passthrough), stdin is the child's alone. */
  const state = { handedOver: false, stdinUsed: false };
  /** Listeners added to process-wide streams, removed when the request ends. */
  const cleanups: (() => void)[] = [];
  try {
    const run = service.exec(
      {
        task,
        argv,
        cwd: process.cwd(),
        env: offeredEnv(process.env),
        ...(onTerminal ? { tty: true, ...terminalSize() } : {}),
      },
      {
        onFds: (path) => {
          state.handedOver = true;
          void import('../../shared/fd-pass.ts')
            .then(({ sendStdio }) => {
              sendStdio(path);
            })
            .catch((error: unknown) => {
              const why = error instanceof Error ? error.message : String(error);
              process.stderr.write(`cr: cannot hand the terminal and pipes to the service: ${why}\n`);
            });
        },
        onStarted: () => {
          if (onTerminal) {
            process.stdout.on('resize', onResize);
            cleanups.push(() => process.stdout.off('resize', onResize));
          }
          if (state.handedOver) return;
          state.stdinUsed = true;
          if (raw === null) {
            // Read only now: a passthrough child would share this stdin (and lose what we read).
            void pipeStdin(run, true).catch(() => undefined);
            return;
          }
          // Raw from here: keystrokes before the start (an approval wait) stay with the
          // terminal, and Ctrl-C until then stops `cr` through SIGINT.
          raw.enter();
          void pipeStdin(run, false).catch(() => undefined);
        },
        onStdout: (chunk) => {
          forward(process.stdout, chunk);
        },
        onStderr: (chunk) => {
          forward(process.stderr, chunk);
        },
        onApproval: ({ id, expiresAt }) => {
          process.stderr.write(
            `cr: task ${task} needs approval (request ${String(id)}); waiting until ${localTime(expiresAt)} — approve it in another terminal with: cr approve\n`,
          );
        },
      },
    );
    const onResize = (): void => {
      const size = terminalSize();
      if (size.cols !== undefined && size.rows !== undefined) {
        void run.resize(size.cols, size.rows).catch(() => undefined);
      }
    };
    for (const signal of FORWARDED) {
      const handler = (): void => {
        void run.signal(signal).catch(() => undefined);
      };
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    // Rejects with the CLI's error (the client maps the service's through wire-errors.ts).
    const result = await run.done;
    if (result.signal !== null) {
      const number = constants.signals[result.signal as NodeJS.Signals] as number | undefined;
      return 128 + (number ?? 0);
    }
    return result.code ?? 1;
  } finally {
    for (const cleanup of cleanups.splice(0)) cleanup();
    raw?.leave();
    for (const [signal, handler] of handlers) process.off(signal, handler);
    if (state.stdinUsed) process.stdin.destroy();
    service.close();
  }
}

/** The caller's terminal size, when the terminal reports a usable one. */
function terminalSize(): { cols?: number; rows?: number } {
  const fits = (n: number | undefined): n is number =>
    Number.isInteger(n) && (n ?? 0) >= 1 && (n ?? 0) <= 0xffff;
  const { columns, rows } = process.stdout;
  return fits(columns) && fits(rows) ? { cols: columns, rows } : {};
}

/**
 * Raw mode of our terminal, left on every path: `leave()` from the request's end, and an
 * `exit` hook for a `process.exit()` elsewhere. (SIGKILL of `cr` leaves it raw: `reset` fixes.)
 */
function rawTerminal(): { enter(): void; leave(): void } {
  const stdin = process.stdin;
  let on = false;
  const leave = (): void => {
    if (!on) return;
    on = false;
    process.off('exit', leave);
    try {
      stdin.setRawMode(false);
    } catch {
      // the terminal is gone (SIGHUP): nothing to restore
    }
  };
  return {
    enter: () => {
      if (on) return;
      stdin.setRawMode(true);
      on = true;
      process.once('exit', leave);
    },
    leave,
  };
}

/** Forward our stdin as the child's, awaiting each frame (back-pressure); `end` sends EOF after. */
async function pipeStdin(
  run: { stdin(bytes: Uint8Array): Promise<void>; end(): Promise<void> },
  end: boolean,
): Promise<void> {
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) await run.stdin(chunk);
  if (end) await run.end();
}
