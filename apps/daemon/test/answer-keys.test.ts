// SPDX-License-Identifier: AGPL-3.0-only
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createAnswerReader, type AnswerInput } from '../src/cli/answer-keys.ts';

/** A terminal (or a pipe) that records raw mode; strict: nothing else is provided. */
class FakeInput extends EventEmitter implements AnswerInput {
  raw = false;
  paused = false;
  readonly isTTY: boolean;
  readonly setRawMode?: (mode: boolean) => void;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
    if (tty) {
      this.setRawMode = (mode: boolean): void => {
        this.raw = mode;
      };
    }
  }
  resume(): void {
    this.paused = false;
  }
  pause(): void {
    this.paused = true;
  }
}

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));
const signals = (): number => process.listenerCount('SIGTERM') + process.listenerCount('SIGHUP');
const before = signals();
afterEach(() => {
  expect(signals()).toBe(before);
});

describe('createAnswerReader', () => {
  it('should answer with one key in raw mode, without Enter, and restore the terminal on close', async () => {
    const input = new FakeInput(true);
    const reader = createAnswerReader(input, { settleMs: 0 });
    expect(reader.keys).toBe(true);
    expect(input.raw).toBe(true);
    const answer = reader.next();
    input.emit('data', Buffer.from('d'));
    expect(await answer).toEqual({ text: 'd' });
    reader.close();
    expect(input.raw).toBe(false);
    expect(input.paused).toBe(true);
  });

  it('should drop keys typed before the question and during the settle time', async () => {
    const input = new FakeInput(true);
    const reader = createAnswerReader(input, { settleMs: 50 });
    input.emit('data', Buffer.from('o')); // no question yet
    const answer = reader.next();
    input.emit('data', Buffer.from('o')); // too soon
    await tick(60);
    input.emit('data', Buffer.from('\x1b[A')); // an arrow: not an answer
    input.emit('data', Buffer.from('d'));
    expect(await answer).toEqual({ text: 'd' });
    reader.close();
  });

  it.each([
    ['Ctrl-C', '\x03', 'cancel'],
    ['Ctrl-D', '\x04', 'eof'],
  ] as const)('should end on %s, prompting or not, and restore the terminal', async (_name, key, how) => {
    const input = new FakeInput(true);
    const reader = createAnswerReader(input, { settleMs: 0 });
    const answer = reader.next();
    input.emit('data', Buffer.from(key));
    expect(await answer).toEqual({ end: how });
    expect(await reader.ended).toBe(how);
    expect(input.raw).toBe(false);
    reader.close();
  });

  it('should restore the terminal on SIGTERM and on an input error', async () => {
    const input = new FakeInput(true);
    const reader = createAnswerReader(input, { settleMs: 0 });
    process.emit('SIGTERM', 'SIGTERM');
    expect(await reader.ended).toBe('cancel');
    expect(input.raw).toBe(false);
    reader.close();
    const other = new FakeInput(true);
    const second = createAnswerReader(other, { settleMs: 0 });
    other.emit('error', new Error('EIO'));
    expect(await second.ended).toBe('eof');
    expect(other.raw).toBe(false);
    second.close();
  });

  it('should withdraw a question when its request is settled elsewhere', async () => {
    const input = new FakeInput(true);
    const reader = createAnswerReader(input, { settleMs: 0 });
    const settled = new AbortController();
    const answer = reader.next(settled.signal);
    settled.abort();
    expect(await answer).toEqual({ withdrawn: true });
    // The key that follows goes to the next question, not to the withdrawn one.
    const next = reader.next();
    input.emit('data', Buffer.from('s'));
    expect(await next).toEqual({ text: 's' });
    reader.close();
  });

  it('should read whole lines without a terminal, keeping answers sent ahead', async () => {
    const input = new FakeInput(false);
    const reader = createAnswerReader(input);
    expect(reader.keys).toBe(false);
    input.emit('data', 'o\r\nde');
    expect(await reader.next()).toEqual({ text: 'o' });
    const third = reader.next();
    input.emit('data', 'ny\n');
    expect(await third).toEqual({ text: 'deny' });
    input.emit('end');
    expect(await reader.next()).toEqual({ end: 'eof' });
    reader.close();
  });
});
