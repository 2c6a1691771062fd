// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr approve` (architecture §7 "Approvals"): an interactive approver session. The passphrase is
 * proved once; then each request waiting for a human is shown (caller, ancestry, cwd, argv,
 * task, the environment passed from the caller, files that steer common targets, secret names —
 * never a value) and answered with allow-once, allow-for-window or deny: on a terminal one key
 * acts at once (`o`, `w`, `d`, `s`), otherwise one answer per line.
 */
import type { ApprovalDecision, ApprovalInfo } from '@cora/ipc';
import { approvalLines, visible } from '@cora/display';
import { runningService } from '../client.ts';
import { coraHome } from '../../shared/paths.ts';
import { CrError } from '../../shared/errors.ts';
import { readPassphrase } from '../passphrase.ts';
import type { PassOptions } from '../options.ts';
import { localTime } from '../output.ts';
import { createAnswerReader, type AnswerReader } from '../answer-keys.ts';

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
 * How a pending request is shown: `@cora/display`'s lines (the TUI shows the same), every
 * value escaped, quoted and cut there. Nothing here is a value: argv is what the caller asked
 * to run, the environment is the caller's own.
 * @param info - the pending request
 * @param now - ms since the epoch
 * @returns the lines to print
 */
export function describeApproval(info: ApprovalInfo, now = Date.now()): string[] {
  return [
    `Request ${String(info.id)} (denied at ${localTime(info.expiresAt, now)} unless decided)`,
    ...approvalLines(info, { now }).map(({ label, value }) => `  ${label.padEnd(9)} ${value}`),
  ];
}

function question(info: ApprovalInfo, keys: boolean): string {
  const window = info.window === null ? '' : `  [w] allow for ${info.window}`;
  return `[o] allow once${window}  [d] deny  [s] skip ${keys ? '(key) ' : ''}? `;
}

/** Ask about `info` until a valid answer, the question is withdrawn, or the input ends. */
async function ask(
  reader: AnswerReader,
  info: ApprovalInfo,
  settled: AbortSignal,
): Promise<ApprovalDecision | 'skip' | 'withdrawn' | 'ended'> {
  for (;;) {
    process.stdout.write(question(info, reader.keys));
    const answer = await reader.next(settled);
    if ('end' in answer) {
      process.stdout.write('\n');
      return 'ended';
    }
    if ('withdrawn' in answer) {
      process.stdout.write('\n');
      return 'withdrawn';
    }
    // The key pressed is echoed: raw mode shows nothing by itself.
    if (reader.keys) say(visible(answer.text));
    const decision = ANSWERS[answer.text.trim().toLowerCase()];
    if (decision !== undefined && !(decision === 'allow-window' && info.window === null)) return decision;
    say(info.window === null ? 'Answer o, d or s.' : 'Answer o, w, d or s.');
  }
}

export async function cmdApprove(options: ApproveOptions): Promise<void> {
  const service = await runningService(coraHome());
  let passphrase;
  try {
    // Before the key reader exists: a terminal prompt reads the terminal itself.
    passphrase = await readPassphrase(
      { fd: options.passphraseFd, file: options.passphraseFile },
      'Passphrase (to approve): ',
    );
  } catch (error) {
    service.close();
    throw error;
  }
  const reader = createAnswerReader(process.stdin);
  const queue: ApprovalInfo[] = [];
  /** Requests settled (decided, expired, withdrawn): aborting withdraws the question. */
  const settled = new Map<number, AbortController>();
  const settle = (id: number): AbortController => {
    let controller = settled.get(id);
    if (controller === undefined) {
      controller = new AbortController();
      settled.set(id, controller);
    }
    return controller;
  };
  let prompting = false;
  let session: ReturnType<typeof service.approve> | undefined;
  // Ctrl-C, Ctrl-D, end of input or a signal end the session, prompting or not.
  const input: { ended: 'eof' | 'cancel' | null } = { ended: null };
  void reader.ended.then((how) => {
    input.ended = how;
    session?.done.catch(() => undefined);
    service.close();
  });

  const pump = async (): Promise<void> => {
    if (prompting) return;
    prompting = true;
    try {
      for (let info = queue.shift(); info !== undefined; info = queue.shift()) {
        const gone = settle(info.id).signal;
        const isGone = (): boolean => gone.aborted;
        if (isGone()) continue;
        say('');
        for (const line of describeApproval(info)) say(line);
        const decision = await ask(reader, info, gone);
        if (decision === 'ended') return;
        if (decision === 'withdrawn') continue;
        if (isGone()) {
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
          say(
            reader.keys
              ? 'Approver ready: requests appear here as they arrive; keys act at once (Ctrl-C to stop).'
              : 'Approver ready: requests appear here as they arrive (Ctrl-C to stop).',
          );
        },
        onPending: (info) => {
          queue.push(info);
          void pump();
        },
        onResolved: ({ id, outcome }) => {
          settle(id).abort();
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
    if (input.ended !== null && error instanceof CrError && error.code === 'UNAVAILABLE') {
      if (input.ended === 'cancel') throw new CrError('CANCELLED', 'cancelled: the approver session ended');
      return;
    }
    throw error;
  } finally {
    reader.close();
    service.close();
  }
}
