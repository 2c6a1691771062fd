// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The TUI's one reader of the terminal. Every chunk from stdin arrives here as a Buffer and
 * goes to exactly one place: a secret field while one is capturing (the bytes are copied
 * into secure memory and the chunk is zeroed, never decoded), otherwise Ink (decoded to a
 * string: navigation keys only). Ink never sees the real stdin, so it cannot turn a secret
 * into a string (architecture §1 G3).
 */
import { EventEmitter } from 'node:events';
import { SecretBuf } from '@cora/memstore';

const KEY = {
  CTRL_C: 0x03,
  CTRL_D: 0x04,
  BACKSPACE: 0x08,
  LF: 0x0a,
  CR: 0x0d,
  CTRL_U: 0x15,
  ESC: 0x1b,
  DEL: 0x7f,
} as const;

/** Why a capture ended without a value. */
export type CaptureEnd = 'cancel' | 'too-long';

/** What a secret field is told while it captures. */
export interface CaptureHandlers {
  /** The number of characters (UTF-8 lead bytes) typed so far; never the bytes. */
  onChange(chars: number): void;
  /**
   * Optional: called after each change with a secure-memory copy of the bytes so far (for a
   * strength meter), wiped as soon as it returns. It must not keep or decode them.
   */
  inspect?(value: SecretBuf): void;
  /** Enter: the bytes typed, in secure memory. The handler owns and wipes it. */
  onSubmit(value: SecretBuf): void;
  /** Esc, Ctrl-C, Ctrl-D on an empty field, or input longer than the field allows. */
  onCancel(why: CaptureEnd): void;
}

interface Capture {
  readonly acc: SecretBuf;
  readonly handlers: CaptureHandlers;
  length: number;
  chars: number;
  overflow: boolean;
}

/**
 * Length of the escape sequence at `at` (ESC included): CSI `ESC [ params final`, SS3
 * `ESC O x`, or Alt+key `ESC x`. A lone ESC at the end of the chunk returns 1.
 */
function escapeLength(chunk: Uint8Array, at: number): number {
  const next = chunk[at + 1];
  if (next === undefined) return 1;
  if (next === 0x5b) {
    let i = at + 2;
    while (i < chunk.length) {
      const b = chunk[i] ?? 0;
      i += 1;
      if (b >= 0x40 && b <= 0x7e) break;
    }
    return i - at;
  }
  return next === 0x4f ? Math.min(3, chunk.length - at) : 2;
}

/** The stdin Ink is given: a TTY-like stream fed with the non-secret keystrokes only. */
export class InkStdin extends EventEmitter {
  readonly isTTY = true;
  readonly #queue: string[] = [];
  readonly #real: { ref?: () => void; unref?: () => void } | null;

  constructor(real: { ref?: () => void; unref?: () => void } | null = null) {
    super();
    this.#real = real;
  }

  /** Queue keystrokes for Ink. */
  push(text: string): void {
    this.#queue.push(text);
    this.emit('readable');
  }

  read(): string | null {
    return this.#queue.shift() ?? null;
  }

  setEncoding(): this {
    return this;
  }

  /** Raw mode of the real terminal is the router's (it holds it for the whole session). */
  setRawMode(): this {
    return this;
  }

  ref(): this {
    this.#real?.ref?.();
    return this;
  }

  unref(): this {
    this.#real?.unref?.();
    return this;
  }

  resume(): this {
    return this;
  }

  pause(): this {
    return this;
  }
}

/**
 * Routes terminal bytes to a capturing secret field or to Ink.
 *
 * A chunk that holds Enter followed by more bytes is split: the part up to Enter goes to Ink
 * and the rest waits one turn of the event loop, so a field that Enter opens is capturing
 * before its bytes are routed (typing ahead into a passphrase prompt stays secret). Bytes
 * after the Enter that ends a capture, in the same chunk, are zeroed and dropped: they could
 * be the next secret and there may be no field to take them yet.
 */
export class InputRouter {
  #sink: (text: string) => void;
  #capture: Capture | null = null;
  readonly #queue: Buffer[] = [];
  #scheduled = false;

  constructor(sink: (text: string) => void = () => undefined) {
    this.#sink = sink;
  }

  /** Where non-secret keystrokes go (Ink's stdin). */
  setSink(sink: (text: string) => void): void {
    this.#sink = sink;
  }

  /** True while a secret field captures. */
  get capturing(): boolean {
    return this.#capture !== null;
  }

  /**
   * Start capturing into a secret field of at most `maxBytes`. The previous capture, if any,
   * is cancelled. Returns a release function (idempotent) that wipes what was typed.
   */
  capture(maxBytes: number, handlers: CaptureHandlers): () => void {
    this.#end();
    const capture: Capture = {
      acc: SecretBuf.alloc(maxBytes),
      handlers,
      length: 0,
      chars: 0,
      overflow: false,
    };
    this.#capture = capture;
    return () => {
      if (this.#capture === capture) this.#end();
      else capture.acc.wipe();
    };
  }

  /**
   * One chunk read from the terminal. The router zeroes it once routed.
   * @param chunk - the bytes as read (a Buffer, never a decoded string)
   */
  feed(chunk: Uint8Array): void {
    if (this.#scheduled || this.#queue.length > 0) {
      this.#queue.push(Buffer.from(chunk));
      chunk.fill(0);
      return;
    }
    this.#route(chunk);
  }

  /** Wipe everything held (a capture, queued bytes). */
  dispose(): void {
    this.#end();
    for (const b of this.#queue) b.fill(0);
    this.#queue.length = 0;
  }

  #end(): void {
    const capture = this.#capture;
    this.#capture = null;
    capture?.acc.wipe();
  }

  #route(chunk: Uint8Array): void {
    try {
      const capture = this.#capture;
      if (capture !== null) {
        this.#captureBytes(capture, chunk);
        return;
      }
      let cut = -1;
      for (let i = 0; i < chunk.length - 1; i++) {
        if (chunk[i] === KEY.CR || chunk[i] === KEY.LF) {
          cut = i + 1;
          break;
        }
      }
      if (cut === -1) {
        this.#sink(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8'));
        return;
      }
      this.#sink(Buffer.from(chunk.buffer, chunk.byteOffset, cut).toString('utf8'));
      this.#queue.unshift(Buffer.from(chunk.subarray(cut)));
      this.#schedule();
    } finally {
      chunk.fill(0);
    }
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      // #route may schedule again (an Enter that opens a field): stop and let that turn run.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by #route
      while (this.#queue.length > 0 && !this.#scheduled) {
        const next = this.#queue.shift();
        if (next !== undefined) this.#route(next);
      }
    });
  }

  #captureBytes(capture: Capture, chunk: Uint8Array): void {
    let outcome: 'submit' | CaptureEnd | null = null;
    capture.acc.use((view) => {
      let i = 0;
      while (i < chunk.length && outcome === null) {
        const b = chunk[i] ?? 0;
        if (b === KEY.CR || b === KEY.LF) outcome = 'submit';
        else if (b === KEY.CTRL_C) outcome = 'cancel';
        else if (b === KEY.CTRL_D) outcome = capture.length === 0 ? 'cancel' : 'submit';
        else if (b === KEY.ESC) {
          const n = escapeLength(chunk, i);
          // A lone Esc cancels; a key sequence (arrows, bracketed-paste markers) is skipped.
          if (n === 1) outcome = 'cancel';
          i += n;
          continue;
        } else if (b === KEY.DEL || b === KEY.BACKSPACE) {
          // Drop continuation bytes (10xxxxxx), then the lead byte of the character.
          while (capture.length > 0) {
            capture.length -= 1;
            const dropped = view[capture.length] ?? 0;
            view[capture.length] = 0;
            if ((dropped & 0xc0) !== 0x80) {
              capture.chars -= 1;
              break;
            }
          }
        } else if (b === KEY.CTRL_U) {
          view.fill(0, 0, capture.length);
          capture.length = 0;
          capture.chars = 0;
        } else if (b >= 0x20) {
          if (capture.length < view.length) {
            view[capture.length] = b;
            capture.length += 1;
            if ((b & 0xc0) !== 0x80) capture.chars += 1;
          } else {
            capture.overflow = true;
          }
        }
        i += 1;
      }
    });
    // Assigned inside the use() callback above, which the compiler cannot see.
    const ended = outcome as 'submit' | CaptureEnd | null;
    if (ended === null) {
      capture.handlers.onChange(capture.chars);
      if (capture.handlers.inspect !== undefined) {
        const copy = capture.acc.use((view) => SecretBuf.from(view.subarray(0, capture.length)));
        try {
          capture.handlers.inspect(copy);
        } finally {
          copy.wipe();
        }
      }
      return;
    }
    // The capture ends here; whatever followed in this chunk is dropped with it (zeroed by #route).
    this.#capture = null;
    try {
      if (ended === 'submit' && capture.overflow) {
        capture.handlers.onCancel('too-long');
      } else if (ended === 'submit') {
        const value = capture.acc.use((view) => SecretBuf.from(view.subarray(0, capture.length)));
        capture.handlers.onSubmit(value);
      } else {
        capture.handlers.onCancel(ended);
      }
    } finally {
      capture.acc.wipe();
    }
  }
}
