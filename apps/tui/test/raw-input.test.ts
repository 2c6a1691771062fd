// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import type { SecretBuf } from '@cora/memstore';
import { InputRouter } from '../src/internal/raw-input.ts';

function setup() {
  const sunk: string[] = [];
  const router = new InputRouter((t) => sunk.push(t));
  const events: string[] = [];
  const got: SecretBuf[] = [];
  const open = (max = 64) =>
    router.capture(max, {
      onChange: (n) => events.push(`change:${n}`),
      onSubmit: (v) => {
        got.push(v);
        events.push('submit');
      },
      onCancel: (why) => events.push(`cancel:${why}`),
    });
  return { router, sunk, events, got, open };
}
const text = (b: SecretBuf) => b.use((v) => Buffer.from(v).toString('utf8'));
const tick = () => new Promise((r) => setImmediate(r));

describe('InputRouter', () => {
  it('should send keys to the sink as text when nothing captures', () => {
    const { router, sunk } = setup();
    router.feed(Buffer.from('q'));
    expect(sunk).toEqual(['q']);
  });

  it('should capture bytes into a SecretBuf and never hand them to the sink', () => {
    const { router, sunk, got, events, open } = setup();
    open();
    const chunk = Buffer.from('hunter2\r');
    router.feed(chunk);
    expect(sunk).toEqual([]);
    expect(events).toEqual(['submit']);
    expect(text(got[0]!)).toBe('hunter2');
    expect([...chunk].every((b) => b === 0)).toBe(true); // the read buffer was zeroed
    expect(router.capturing).toBe(false);
  });

  it('should handle backspace over a multi-byte character, Ctrl-U and count characters', () => {
    const { router, got, events, open } = setup();
    open();
    router.feed(Buffer.from('aé'));
    router.feed(Buffer.from([0x7f]));
    router.feed(Buffer.from('b'));
    expect(events).toEqual(['change:2', 'change:1', 'change:2']);
    router.feed(Buffer.from([0x15]));
    router.feed(Buffer.from('xy\r'));
    expect(text(got[0]!)).toBe('xy');
  });

  it('should skip arrow keys and bracketed-paste markers, and cancel on a lone Esc', () => {
    const { router, got, events, open } = setup();
    open();
    router.feed(Buffer.from('\u001b[Dab\u001b[200~cd\u001b[201~\r'));
    expect(text(got[0]!)).toBe('abcd');
    open();
    router.feed(Buffer.from('\u001b'));
    expect(events.at(-1)).toBe('cancel:cancel');
  });

  it('should cancel on Ctrl-C and report input longer than the field', () => {
    const { router, events, open } = setup();
    open();
    router.feed(Buffer.from('a\u0003'));
    expect(events.at(-1)).toBe('cancel:cancel');
    open(3);
    router.feed(Buffer.from('abcd\r'));
    expect(events.at(-1)).toBe('cancel:too-long');
  });

  it('should drop bytes typed after the Enter that ends a capture', async () => {
    const { router, sunk, got, open } = setup();
    open();
    router.feed(Buffer.from('first\rsecond\r'));
    await tick();
    expect(text(got[0]!)).toBe('first');
    expect(sunk.join('')).not.toContain('second');
  });

  it('should hold bytes after an Enter for one turn so a field opened by it captures them', async () => {
    const { router, sunk, got, open } = setup();
    router.setSink((t) => {
      sunk.push(t);
      if (t.endsWith('\r')) open(); // Enter opens a masked field, as the app does
    });
    router.feed(Buffer.from('a\rtypedahead\r'));
    expect(sunk).toEqual(['a\r']);
    await tick();
    expect(sunk).toEqual(['a\r']);
    expect(text(got[0]!)).toBe('typedahead');
  });

  it('should wipe what was typed when released', () => {
    const { router, got, open } = setup();
    const release = open();
    router.feed(Buffer.from('abc'));
    release();
    expect(router.capturing).toBe(false);
    router.feed(Buffer.from('\r'));
    expect(got).toEqual([]);
  });

  it('should give inspect a copy that is wiped after', () => {
    const router = new InputRouter();
    const copies: SecretBuf[] = [];
    router.capture(16, {
      onChange: () => undefined,
      inspect: (v) => copies.push(v),
      onSubmit: (v) => v.wipe(),
      onCancel: () => undefined,
    });
    router.feed(Buffer.from('ab'));
    expect(copies).toHaveLength(1);
    expect(copies[0]!.wiped).toBe(true);
  });
});
