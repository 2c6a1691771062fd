// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The `cr` CLI (architecture §11), loaded by entry.ts once the Node version is known to be
 * right. It loads only what the command needs: `cr exec TASK -- …`, the
 * command agents run most, skips the rest of the CLI (every other command, the audit reader,
 * the vault format), which roughly halves its start-up.
 */
import { quoteCommand } from '@cora/display';
import { CrError, isCrError } from '../shared/errors.ts';

/** Print an error the way every command does and return its exit code. */
function report(error: unknown): number {
  // Commander's errors, recognised without loading commander on the `exec` path.
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    // Help and version are not failures; for anything else commander printed the message.
    return ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(code) ? 0 : 2;
  }
  if (isCrError(error)) {
    if (error.code !== 'CANCELLED') process.stderr.write(`cr: ${error.message}\n`);
    return error.exitCode;
  }
  // Not ours: a bug or an I/O error. Its message names files and codes, never secret bytes.
  process.stderr.write(`cr: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

/**
 * `cr exec TASK curl -s …`: without `--`, the command's options would be taken for cr's (and
 * refused as unknown). Say where the `--` goes instead.
 */
function missingDashDash(args: readonly string[]): string | null {
  const [command, task, ...rest] = args;
  if (command !== 'exec' || task === undefined || task.startsWith('-') || rest.includes('--')) return null;
  if (rest.length === 0 || !rest.slice(1).some((arg) => arg.startsWith('-'))) return null;
  return `put -- before the command, so its options are not read as cr's: ${quoteCommand(['cr', 'exec', task, '--', ...rest])}`;
}

try {
  // Windows: the user's SID names the service's pipe and checks private files (win32-user.ts).
  if (process.platform === 'win32') await (await import('../shared/win32-user.ts')).loadUserSid();
  const args = process.argv.slice(2);
  const [command, task, dash, ...rest] = args;
  const hint = missingDashDash(args);
  if (hint !== null) {
    throw new CrError('USAGE', hint);
  } else if (
    command === 'exec' &&
    task !== undefined &&
    !task.startsWith('-') &&
    dash === '--' &&
    rest.length > 0
  ) {
    const { cmdExec } = await import('./commands/exec.ts');
    process.exitCode = await cmdExec(task, rest);
  } else {
    // Everything else, and every other form of `exec` (help, usage errors), gets the full CLI.
    const { runCli } = await import('./program.ts');
    await runCli(process.argv);
  }
} catch (error) {
  process.exitCode = report(error);
}
