// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:os';
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
 * child's (masked) output is written to our stdout/stderr, our stdin is piped to it when it
 * is not a terminal (a terminal gets EOF at once: no pty yet), SIGINT/SIGTERM/SIGHUP are
 * forwarded, and we exit with the child's code, or 128 + the signal number that killed it.
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
  // `isTTY` is typed `boolean` but is undefined (not false) on a pipe, which the strict
  // message schema refuses: send the field only when it is true.
  const onTerminal = (process.stdin.isTTY as boolean | undefined) ?? false;
  try {
    const run = service.exec(
      { task, argv, cwd: process.cwd(), env: offeredEnv(process.env), ...(onTerminal ? { tty: true } : {}) },
      {
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
    for (const signal of FORWARDED) {
      const handler = (): void => {
        void run.signal(signal).catch(() => undefined);
      };
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    if (onTerminal) void run.end().catch(() => undefined);
    else void pipeStdin(run).catch(() => undefined);
    // Rejects with the CLI's error (the client maps the service's through wire-errors.ts).
    const result = await run.done;
    if (result.signal !== null) {
      const number = constants.signals[result.signal as NodeJS.Signals] as number | undefined;
      return 128 + (number ?? 0);
    }
    return result.code ?? 1;
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    process.stdin.destroy();
    service.close();
  }
}

async function pipeStdin(run: {
  stdin(bytes: Uint8Array): Promise<void>;
  end(): Promise<void>;
}): Promise<void> {
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) await run.stdin(chunk);
  await run.end();
}
