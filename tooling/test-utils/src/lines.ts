// SPDX-License-Identifier: AGPL-3.0-only
import type { Readable } from 'node:stream';

/**
 * Resolve with the first line of `stream` that `match` accepts (a child's "ready" line).
 *
 * @param stream - e.g. a child's stdout (set to no encoding; lines are decoded as UTF-8)
 * @param match - predicate over each complete line
 * @param timeoutMs - reject after this long (default 10 s)
 * @returns the matching line, without its newline
 * @throws Error when the stream ends or the time runs out first.
 * @example
 * ```ts
 * const line = await waitForLine(child.stdout, (l) => l.startsWith('READY'));
 * ```
 */
export function waitForLine(
  stream: Readable,
  match: (line: string) => boolean,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let pending = '';
    const seen: string[] = [];
    const done = (): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer | string): void => {
      pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (match(line)) {
          done();
          resolve(line);
          return;
        }
        seen.push(line);
      }
    };
    const onEnd = (): void => {
      done();
      reject(new Error(`stream ended before the expected line; saw: ${JSON.stringify(seen.slice(-5))}`));
    };
    const onError = (error: Error): void => {
      done();
      reject(error);
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(`no matching line within ${String(timeoutMs)} ms; saw: ${JSON.stringify(seen.slice(-5))}`),
      );
    }, timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
