// SPDX-License-Identifier: AGPL-3.0-only
/**
 * How `cr approve` reads its answers: single keys on a terminal (raw mode, no Enter), lines
 * otherwise (a pipe, a script). Raw mode is restored on every way out: `close()`, Ctrl-C,
 * Ctrl-D, SIGTERM/SIGHUP, an error and process exit.
 */

/** What a key or a line said: an answer's text, or that the input ended (`end`) or was cancelled. */
type Answer = { readonly text: string } | { readonly end: 'eof' | 'cancel' } | { readonly withdrawn: true };

/** A source of answers. */
export interface AnswerReader {
  /** Whether keys act at once (a terminal in raw mode). */
  readonly keys: boolean;
  /**
   * The next answer. On a terminal only keys pressed after this call count: anything typed
   * before the question was shown, and for `settleMs` after, is dropped, so a key meant for
   * one request can never decide the next. When `signal` aborts (the request was settled
   * elsewhere), the question is withdrawn and this resolves with `{ withdrawn: true }`.
   */
  next(signal?: AbortSignal): Promise<Answer>;
  /** Resolves with how the input ended, once it does (Ctrl-C, Ctrl-D, EOF, a signal). */
  readonly ended: Promise<'eof' | 'cancel'>;
  /** Stop reading and restore the terminal. Idempotent. */
  close(): void;
}

/** Terminal input as {@link createAnswerReader} needs it (process.stdin, or a test double). */
export interface AnswerInput extends NodeJS.EventEmitter {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  setEncoding?(encoding: BufferEncoding): unknown;
  resume(): unknown;
  pause(): unknown;
}

const CTRL_C = '\x03';
const CTRL_D = '\x04';
const ESC = '\x1b';

/**
 * Read answers from `input`: key by key in raw mode when it is a terminal, else line by line.
 *
 * @param input - usually `process.stdin`
 * @param options - `settleMs`: keys pressed this soon after a question are dropped (default 300)
 * @returns the reader; call `close()` when done
 */
export function createAnswerReader(
  input: AnswerInput,
  options: { readonly settleMs?: number } = {},
): AnswerReader {
  const settleMs = options.settleMs ?? 300;
  const keys = input.isTTY === true && typeof input.setRawMode === 'function';
  const waiting: ((answer: Answer) => void)[] = [];
  /** Lines read before they were asked for (a pipe may carry answers ahead). */
  const buffered: string[] = [];
  let done: 'eof' | 'cancel' | null = null;
  let armedAt = 0;
  let resolveEnded: (how: 'eof' | 'cancel') => void = () => undefined;
  const ended = new Promise<'eof' | 'cancel'>((resolve) => {
    resolveEnded = resolve;
  });
  let partial = '';

  const restore = (): void => {
    if (!keys) return;
    try {
      input.setRawMode?.(false);
    } catch {
      // The terminal went away: nothing to restore.
    }
  };
  const finish = (how: 'eof' | 'cancel'): void => {
    if (done !== null) return;
    done = how;
    restore();
    for (const next of waiting.splice(0)) next({ end: how });
    resolveEnded(how);
  };
  const onSignal = (): void => {
    finish('cancel');
  };

  const onKeys = (chunk: Buffer | string): void => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (text.includes(CTRL_C) || text.includes(CTRL_D)) {
      finish(text.includes(CTRL_C) ? 'cancel' : 'eof');
      return;
    }
    // An escape sequence (arrows, a paste marker) is not an answer.
    if (text.startsWith(ESC)) return;
    const next = waiting[0];
    // Typed ahead, or too soon after the question: dropped, never kept for later.
    if (next === undefined || Date.now() - armedAt < settleMs) return;
    const first = text.trim().codePointAt(0);
    if (first === undefined) return; // Enter, space: nothing to answer
    const key = String.fromCodePoint(first);
    waiting.shift();
    next({ text: key });
  };
  const onLines = (chunk: Buffer | string): void => {
    partial += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    for (let nl = partial.indexOf('\n'); nl !== -1; nl = partial.indexOf('\n')) {
      const line = partial.slice(0, nl).replace(/\r$/, '');
      partial = partial.slice(nl + 1);
      const next = waiting.shift();
      if (next === undefined) buffered.push(line);
      else next({ text: line });
    }
  };
  const onData = keys ? onKeys : onLines;
  const onEnd = (): void => {
    if (!keys && partial !== '') {
      onLines('\n');
    }
    finish('eof');
  };
  const onError = (): void => {
    finish('eof');
  };

  // Every listener, so that close() removes exactly what was added.
  const listeners: [NodeJS.EventEmitter, string, (chunk: Buffer | string) => void][] = [
    [input, 'data', onData],
    [input, 'end', onEnd],
    [input, 'error', onError],
  ];
  if (keys) {
    input.setRawMode?.(true);
    listeners.push([process, 'exit', restore], [process, 'SIGTERM', onSignal], [process, 'SIGHUP', onSignal]);
  }
  for (const [emitter, event, listener] of listeners) emitter.on(event, listener);
  input.resume();

  return {
    keys,
    ended,
    next: (signal) => {
      if (!keys) {
        const line = buffered.shift();
        if (line !== undefined) return Promise.resolve({ text: line });
      }
      if (done !== null) return Promise.resolve({ end: done });
      if (signal?.aborted === true) return Promise.resolve({ withdrawn: true });
      armedAt = Date.now();
      return new Promise<Answer>((resolve) => {
        const waiter = (answer: Answer): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(answer);
        };
        const onAbort = (): void => {
          const at = waiting.indexOf(waiter);
          if (at !== -1) waiting.splice(at, 1);
          resolve({ withdrawn: true });
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiting.push(waiter);
      });
    },
    close: () => {
      finish('eof');
      for (const [emitter, event, listener] of listeners) emitter.off(event, listener);
      input.pause();
    },
  };
}
