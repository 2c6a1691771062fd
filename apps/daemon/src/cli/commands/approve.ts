// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr approve` (architecture §7 "Approvals"): an interactive approver session. The passphrase is
 * proved once; then each request waiting for a human is shown (caller, ancestry, cwd, argv,
 * task, secret names — never a value) and answered with allow-once, allow-for-window or deny.
 */
import { createInterface } from 'node:readline';
import type { ApprovalDecision, ApprovalInfo } from '@cora/ipc';
import { runningService } from '../client.ts';
import { coraHome } from '../../shared/paths.ts';
import { CrError } from '../../shared/errors.ts';
import { readPassphrase } from '../passphrase.ts';
import type { PassOptions } from '../options.ts';

/** `cr approve` takes the passphrase options every command shares. */
export type ApproveOptions = PassOptions;

const ANSWERS: Readonly<Record<string, ApprovalDecision | 'skip'>> = {
  o: 'allow-once',
  once: 'allow-once',
  w: 'allow-window',
  window: 'allow-window',
  d: 'deny',
  deny: 'deny',
  s: 'skip',
  skip: 'skip',
};

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * How a pending request is shown. Everything here comes from the kernel (exe, ancestry) or
 * from the caller's request (argv, cwd): argv is what the caller asked to run, not a value.
 * @param info - the pending request
 * @returns the lines to print
 */
function describeApproval(info: ApprovalInfo): string[] {
  const script = info.caller.script === null ? '' : ` (script ${info.caller.script})`;
  const ancestry = info.ancestry
    .slice(0, 6)
    .map((a) => `${String(a.pid)} ${a.exe}`)
    .join(' ← ');
  return [
    `Request ${String(info.id)}: task ${info.task} (denied at ${info.expiresAt} unless decided)`,
    `  caller    pid ${String(info.caller.pid)} ${info.caller.exe}${script}`,
    `  ancestry  ${ancestry === '' ? '(none)' : ancestry}`,
    `  cwd       ${info.cwd}`,
    `  command   ${info.target}${info.argv.length > 1 ? ` ${info.argv.slice(1).join(' ')}` : ''}`,
    `  secrets   ${info.secrets.join(', ')}`,
  ];
}

function question(info: ApprovalInfo): string {
  const window = info.window === null ? '' : `  [w] allow for ${info.window}`;
  return `[o] allow once${window}  [d] deny  [s] skip ? `;
}

export async function cmdApprove(options: ApproveOptions): Promise<void> {
  const service = await runningService(coraHome());
  let passphrase;
  try {
    // Before the line reader exists: a terminal prompt reads stdin itself.
    passphrase = await readPassphrase(
      { fd: options.passphraseFd, file: options.passphraseFile },
      'Passphrase (to approve): ',
    );
  } catch (error) {
    service.close();
    throw error;
  }
  const lines = createInterface({ input: process.stdin, terminal: false });
  const waiting: ((line: string | null) => void)[] = [];
  const buffered: string[] = [];
  const input = { ended: false };
  lines.on('line', (line) => {
    const next = waiting.shift();
    if (next === undefined) buffered.push(line);
    else next(line);
  });
  lines.on('close', () => {
    input.ended = true;
    for (const next of waiting.splice(0)) next(null);
  });
  const readLine = (): Promise<string | null> => {
    const line = buffered.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (input.ended) return Promise.resolve(null);
    return new Promise((resolve) => waiting.push(resolve));
  };

  const queue: ApprovalInfo[] = [];
  const gone = new Set<number>();
  let prompting = false;
  let session: ReturnType<typeof service.approve> | undefined;

  const pump = async (): Promise<void> => {
    if (prompting) return;
    prompting = true;
    try {
      for (let info = queue.shift(); info !== undefined; info = queue.shift()) {
        if (gone.has(info.id)) continue;
        say('');
        for (const line of describeApproval(info)) say(line);
        let decision: ApprovalDecision | 'skip' | undefined;
        while (decision === undefined) {
          process.stdout.write(question(info));
          const answer = await readLine();
          if (answer === null) {
            session?.done.catch(() => undefined);
            service.close();
            return;
          }
          decision = ANSWERS[answer.trim().toLowerCase()];
          if (decision === 'allow-window' && info.window === null) decision = undefined;
          if (decision === undefined) say('Answer o, w, d or s.');
        }
        if (gone.has(info.id)) {
          say(`Request ${String(info.id)} was already settled.`);
        } else if (decision === 'skip') {
          say(`Skipped request ${String(info.id)}: it stays pending until it expires.`);
        } else {
          await session?.decide(info.id, decision);
        }
      }
    } finally {
      prompting = false;
    }
  };

  try {
    try {
      // The frame is built (and the passphrase copied into it) before approve() returns.
      session = service.approve(passphrase, {
        onReady: () => {
          say('Approver ready: requests appear here as they arrive (Ctrl-C to stop).');
        },
        onPending: (info) => {
          queue.push(info);
          void pump();
        },
        onResolved: ({ id, outcome }) => {
          gone.add(id);
          say(`Request ${String(id)}: ${outcome}.`);
        },
      });
    } finally {
      passphrase.wipe();
    }
    const result = await session.done;
    say(
      result.ended === 'locked'
        ? 'The vault was locked: the approver session ended.'
        : 'Another approver session took over.',
    );
  } catch (error) {
    if (input.ended && error instanceof CrError && error.code === 'UNAVAILABLE') return;
    throw error;
  } finally {
    lines.close();
    service.close();
  }
}
