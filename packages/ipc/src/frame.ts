// SPDX-License-Identifier: AGPL-3.0-only
import { SecretBuf, wipeBytes } from '@cora/memstore';
import { IpcError } from './errors.ts';

/** Default maximum frame size (architecture §5: ≤ 1 MiB, configurable): the bytes after the length field. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Bytes of the two length fields that start every frame. */
const PREFIX_BYTES = 8;
/** Smallest header: `{}`. */
const MIN_HEADER_BYTES = 2;
/** Largest value `maxFrameBytes` may take (a u32 length field; more would be a DoS knob). */
const MAX_FRAME_LIMIT = 64 * 1024 * 1024;
/** Accumulation buffers above this are released (after wiping) once their frame is done. */
const KEEP_BUFFER_BYTES = 64 * 1024;
/**
 * The same for a {@link FrameDecoder.plain} decoder: a client, one per process, that receives
 * streamed output in frames of up to 256 KiB; re-allocating the buffer for each of them cost
 * more than decoding them.
 */
const KEEP_PLAIN_BUFFER_BYTES = 512 * 1024;
const FIRST_BUFFER_BYTES = 16 * 1024;

/** One complete frame as {@link FrameDecoder} yields it. */
export interface DecodedFrame<A extends SecretBuf | Uint8Array = SecretBuf> {
  /** The raw UTF-8 JSON header (not secret; never holds secret bytes). */
  readonly header: Uint8Array;
  /**
   * The attachment bytes, or `null` when the frame has none: copied into secure memory (the
   * receiver owns it and must `wipe()` it), or into a plain array by a decoder made with
   * {@link FrameDecoder.plain} (the receiver zeroes it when done).
   */
  readonly attachment: A | null;
}

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted frame (the bytes after the length field). Default 1 MiB. */
  readonly maxFrameBytes?: number;
  /**
   * Largest accepted first frame of the stream (a handshake such as `hello`), at most
   * `maxFrameBytes`. Default `maxFrameBytes`. A server sets it low so that a peer that has
   * not completed its handshake cannot make it buffer a whole large frame.
   */
  readonly maxFirstFrameBytes?: number;
}

/** What {@link FrameDecoder.pushUntilError} returns. */
export interface PushResult<A extends SecretBuf | Uint8Array = SecretBuf> {
  /** The frames completed before the error (or in the whole chunk); the caller owns their attachments. */
  readonly frames: DecodedFrame<A>[];
  /** The protocol error that stopped decoding (`FRAME_TOO_LARGE`, `BAD_FRAME`), or `null`. */
  readonly error: IpcError | null;
}

/**
 * Check a `maxFrameBytes` option.
 * @internal
 */
export function checkMaxFrameBytes(value: number | undefined, name: string): number {
  const max = value ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isSafeInteger(max) || max < PREFIX_BYTES || max > MAX_FRAME_LIMIT) {
    throw new RangeError(
      `${name} must be an integer from ${PREFIX_BYTES} to ${MAX_FRAME_LIMIT}, got ${String(value)}`,
    );
  }
  return max;
}

/**
 * Encode one frame (architecture §5): u32 BE length, u32 BE header length, UTF-8 JSON header,
 * attachment; where `length` counts every byte after itself. The header is serialised with
 * `JSON.stringify` and must never hold a secret; secret bytes go in `attachment` only.
 *
 * The result is a plain Buffer that holds a copy of the attachment: write it, then
 * `wipeBytes` it (the client and server do that in the write callback).
 *
 * @param header - the JSON header (an object)
 * @param attachment - optional attachment bytes (plain or secure); not consumed
 * @param maxFrameBytes - refuse to build a larger frame (default 1 MiB)
 * @returns the encoded frame
 * @throws TypeError when `header` is not an object or `attachment` not a Uint8Array/SecretBuf.
 * @throws IpcError `FRAME_TOO_LARGE` when the frame would exceed `maxFrameBytes`.
 * @example
 * ```ts
 * const frame = encodeFrame({ id: 1, type: 'status' });
 * socket.write(frame, () => wipeBytes(frame));
 * ```
 */
export function encodeFrame(
  header: object,
  attachment?: Uint8Array | SecretBuf | null,
  maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES,
): Buffer {
  if (typeof (header as unknown) !== 'object' || (header as unknown) === null || Array.isArray(header)) {
    throw new TypeError('header must be an object');
  }
  if (
    attachment !== undefined &&
    attachment !== null &&
    !(attachment instanceof Uint8Array) &&
    !(attachment instanceof SecretBuf)
  ) {
    throw new TypeError('attachment must be a Uint8Array or a SecretBuf');
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const attLength = attachment?.length ?? 0;
  const length = 4 + json.length + attLength;
  if (length > maxFrameBytes) {
    throw new IpcError(
      'FRAME_TOO_LARGE',
      `the frame would be ${length} bytes, over the limit of ${maxFrameBytes}`,
    );
  }
  // Not zero-filled: every byte is written below (lengths, header, attachment), and zeroing a
  // 256 KiB output frame first doubled its cost. Off the shared pool, so wiping it after the
  // write (as senders do) touches nothing else.
  const frame = Buffer.allocUnsafeSlow(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.writeUInt32BE(json.length, 4);
  json.copy(frame, PREFIX_BYTES);
  if (attachment instanceof SecretBuf) {
    attachment.use((bytes) => {
      frame.set(bytes, PREFIX_BYTES + json.length);
    });
  } else if (attachment !== undefined && attachment !== null) {
    frame.set(attachment, PREFIX_BYTES + json.length);
  }
  return frame;
}

/**
 * Incremental frame decoder: push socket chunks in, get complete frames out.
 *
 * - A length over `maxFrameBytes` (e.g. `ff ff ff ff`) is refused as soon as its 4 bytes are
 *   seen, before anything is buffered: `FRAME_TOO_LARGE`.
 * - Impossible lengths (frame under 6 bytes, header under 2 bytes or longer than the frame) are
 *   refused as soon as the 8 prefix bytes are seen: `BAD_FRAME`.
 * - It never holds more than one frame: memory grows with the bytes actually received (a peer
 *   that announces 1 MiB and sends 4 bytes costs about 16 KiB), up to `maxFrameBytes`.
 * - Attachments are copied into secure memory (`SecretBuf`), or into plain arrays by a
 *   decoder made with {@link FrameDecoder.plain} (for a peer that never sends a secret); the
 *   internal accumulation
 *   buffer is zeroed when a frame is done with it, when it grows, on error and on
 *   {@link FrameDecoder.dispose}. `push` copies what it needs, so the caller may (and should)
 *   wipe each chunk right after `push` returns.
 *
 * After an error the decoder is failed for good: every later `push` throws `BAD_FRAME`.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
 * socket.on('data', (chunk) => {
 *   try {
 *     for (const frame of decoder.push(chunk)) handle(frame);
 *   } finally {
 *     wipeBytes(chunk);
 *   }
 * });
 * ```
 */
export class FrameDecoder<A extends SecretBuf | Uint8Array = SecretBuf> {
  readonly #max: number;
  /** Attachments as plain arrays (see {@link FrameDecoder.plain}). */
  #plain = false;
  /** Accumulates the current frame (prefix included) when it spans chunks. */
  #acc: Buffer | null = null;
  #filled = 0;
  /** Total bytes of the current frame including the length field, or 0 while unknown. */
  #total = 0;
  #failed: IpcError | null = null;
  /** The limit for the current frame: `#maxFirst` until the first frame is complete. */
  #limit: number;

  /**
   * @throws RangeError when `options.maxFrameBytes` is not an integer from 8 to 64 MiB, or
   *   `options.maxFirstFrameBytes` not one from 8 to `maxFrameBytes`.
   */
  constructor(options: FrameDecoderOptions = {}) {
    this.#max = checkMaxFrameBytes(options.maxFrameBytes, 'options.maxFrameBytes');
    const first = checkMaxFrameBytes(options.maxFirstFrameBytes ?? this.#max, 'options.maxFirstFrameBytes');
    if (first > this.#max) {
      throw new RangeError(
        `options.maxFirstFrameBytes must not exceed maxFrameBytes (${this.#max}), got ${first}`,
      );
    }
    this.#limit = first;
  }

  /**
   * A decoder whose attachments are plain `Uint8Array` copies instead of `SecretBuf`s: for the
   * receiving side of a peer that by protocol never sends a secret (a Cora client reading the
   * service's masked output), where a secure region per frame (mmap, mlock, mprotect, munmap)
   * would cost more than everything else. The accumulation buffer is still zeroed after each
   * frame; the receiver zeroes each attachment when done.
   * @param options - as for the constructor
   * @returns a decoder yielding `DecodedFrame<Uint8Array>`
   * @throws RangeError as the constructor does.
   * @example
   * ```ts
   * const decoder = FrameDecoder.plain({ maxFrameBytes: 1 << 20 });
   * for (const frame of decoder.push(new Uint8Array(0))) frame.attachment?.fill(0);
   * ```
   */
  static plain(options: FrameDecoderOptions = {}): FrameDecoder<Uint8Array> {
    const decoder = new FrameDecoder<Uint8Array>(options);
    decoder.#plain = true;
    return decoder;
  }

  /** Bytes held for the frame in progress (0 between frames). */
  get buffered(): number {
    return this.#filled;
  }

  /** True after a protocol error: the connection must be dropped. */
  get failed(): boolean {
    return this.#failed !== null;
  }

  /**
   * Feed one chunk; returns the frames it completed, in order (possibly none).
   * @param chunk - bytes read from the socket (copied; the caller still owns it)
   * @returns the complete frames; the caller owns their attachments
   * @throws TypeError when `chunk` is not a Uint8Array.
   * @throws IpcError `FRAME_TOO_LARGE` or `BAD_FRAME` (the frames already decoded from this
   *   chunk are wiped; the decoder stays failed).
   */
  push(chunk: Uint8Array): DecodedFrame<A>[] {
    const { frames, error } = this.pushUntilError(chunk);
    if (error !== null) {
      for (const frame of frames) wipeAttachment(frame.attachment);
      throw error;
    }
    return frames;
  }

  /**
   * Feed one chunk, like {@link FrameDecoder.push}, but a protocol error does not discard the
   * frames completed before it in the same chunk: they are returned with the error, so a
   * server can answer a valid request before refusing the bytes that followed it. After an
   * error the decoder is failed for good (later calls return `BAD_FRAME`).
   * @param chunk - bytes read from the socket (copied; the caller still owns it)
   * @returns the complete frames (the caller owns their attachments) and the error, if any
   * @throws TypeError when `chunk` is not a Uint8Array.
   * @example
   * ```ts
   * const decoder = new FrameDecoder();
   * const chunk = new Uint8Array(0); // bytes read from a socket
   * const { frames, error } = decoder.pushUntilError(chunk);
   * console.log(`${String(frames.length)} frame(s)`, error === null ? 'ok' : error.code);
   * ```
   */
  pushUntilError(chunk: Uint8Array): PushResult<A> {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('chunk must be a Uint8Array');
    if (this.#failed !== null) {
      return { frames: [], error: new IpcError('BAD_FRAME', 'the decoder already refused this stream') };
    }
    const frames: DecodedFrame<A>[] = [];
    try {
      let pos = 0;
      while (pos < chunk.length) {
        const left = chunk.length - pos;
        // Fast path: a whole frame inside this chunk is decoded straight from it.
        if (this.#filled === 0 && left >= PREFIX_BYTES) {
          const total = this.#checkPrefix(chunk, pos);
          if (left >= total) {
            frames.push(this.#frame(chunk, pos, total));
            pos += total;
            continue;
          }
        }
        pos += this.#accumulate(chunk, pos);
        if (this.#total !== 0 && this.#filled === this.#total && this.#acc !== null) {
          frames.push(this.#frame(this.#acc, 0, this.#total));
          this.#release();
        }
      }
      return { frames, error: null };
    } catch (error) {
      this.#failed = error instanceof IpcError ? error : new IpcError('BAD_FRAME', 'malformed frame');
      this.#release(true);
      return { frames, error: this.#failed };
    }
  }

  /** Zero and drop the partial frame, if any. The decoder can be used again afterwards. */
  dispose(): void {
    this.#release(true);
  }

  /** Validate the 8-byte prefix at `pos`; returns the frame's total size with the length field. */
  #checkPrefix(bytes: Uint8Array, pos: number): number {
    const length = readU32(bytes, pos);
    this.#checkLength(length);
    const headerLength = readU32(bytes, pos + 4);
    if (headerLength < MIN_HEADER_BYTES || headerLength > length - 4) {
      throw new IpcError(
        'BAD_FRAME',
        `header length ${headerLength} does not fit a frame of ${length} bytes`,
      );
    }
    return 4 + length;
  }

  #checkLength(length: number): void {
    if (length > this.#limit) {
      throw new IpcError(
        'FRAME_TOO_LARGE',
        this.#limit < this.#max
          ? `a first frame of ${length} bytes is over the handshake limit of ${this.#limit}`
          : `frame of ${length} bytes is over the limit of ${this.#max}`,
      );
    }
    if (length < 4 + MIN_HEADER_BYTES) {
      throw new IpcError('BAD_FRAME', `frame length ${length} is too short`);
    }
  }

  /** Copy as much of `chunk[pos..]` as the current frame needs; returns the bytes taken. */
  #accumulate(chunk: Uint8Array, pos: number): number {
    // Until the prefix is complete only 8 bytes are wanted, so a huge length is refused with
    // nothing but those 8 bytes held.
    const want = this.#total === 0 ? PREFIX_BYTES : this.#total;
    const take = Math.min(want - this.#filled, chunk.length - pos);
    this.#ensure(this.#filled + take);
    const acc = this.#acc as Buffer;
    acc.set(chunk.subarray(pos, pos + take), this.#filled);
    const before = this.#filled;
    this.#filled += take;
    if (this.#total === 0) {
      if (before < 4 && this.#filled >= 4) this.#checkLength(readU32(acc, 0));
      if (this.#filled === PREFIX_BYTES) this.#total = this.#checkPrefix(acc, 0);
    }
    return take;
  }

  /** Grow the accumulation buffer to hold `needed` bytes (doubling, capped at the frame size). */
  #ensure(needed: number): void {
    const acc = this.#acc;
    if (acc !== null && acc.length >= needed) return;
    const cap = this.#total === 0 ? PREFIX_BYTES : this.#total;
    let size = Math.max(acc?.length ?? 0, Math.min(FIRST_BUFFER_BYTES, cap));
    while (size < needed) size = Math.min(size * 2, cap);
    const next = Buffer.alloc(Math.max(size, PREFIX_BYTES));
    if (acc !== null) {
      acc.copy(next, 0, 0, this.#filled);
      wipeBytes(acc);
    }
    this.#acc = next;
  }

  #frame(bytes: Uint8Array, pos: number, total: number): DecodedFrame<A> {
    this.#limit = this.#max;
    const headerLength = readU32(bytes, pos + 4);
    const headerEnd = pos + PREFIX_BYTES + headerLength;
    // Copies (Buffer#slice would be a view into bytes the caller is about to wipe).
    const header = new Uint8Array(bytes.subarray(pos + PREFIX_BYTES, headerEnd));
    if (headerEnd >= pos + total) return { header, attachment: null };
    const body = bytes.subarray(headerEnd, pos + total);
    // The class's type parameter follows #plain: plain() is the only way to set it.
    const attachment = (this.#plain ? new Uint8Array(body) : SecretBuf.from(body)) as A;
    return { header, attachment };
  }

  /** Zero what the finished (or failed) frame left in the buffer; drop big buffers. */
  #release(drop = false): void {
    const acc = this.#acc;
    if (acc !== null) {
      wipeBytes(acc.subarray(0, Math.max(this.#filled, 0)));
      if (drop || acc.length > (this.#plain ? KEEP_PLAIN_BUFFER_BYTES : KEEP_BUFFER_BYTES)) this.#acc = null;
    }
    this.#filled = 0;
    this.#total = 0;
  }
}

/** Wipe a decoded attachment of either kind. */
function wipeAttachment(attachment: SecretBuf | Uint8Array | null): void {
  if (attachment instanceof SecretBuf) attachment.wipe();
  else if (attachment !== null) wipeBytes(attachment);
}

function readU32(bytes: Uint8Array, pos: number): number {
  return (
    ((bytes[pos] ?? 0) * 0x1000000 +
      (((bytes[pos + 1] ?? 0) << 16) | ((bytes[pos + 2] ?? 0) << 8) | (bytes[pos + 3] ?? 0))) >>>
    0
  );
}

/**
 * Lay several secret parts out in one attachment (the one place this layout is defined; see
 * the README, "Attachments"): every part but the last is `u32 BE n | n bytes`, the last part
 * takes the rest. One part is the attachment itself; zero parts is an empty attachment.
 *
 * @param parts - the parts, plain or secure (not consumed; the caller still wipes them)
 * @returns a new SecretBuf the caller owns and wipes
 * @throws TypeError when `parts` is not an array of Uint8Array / SecretBuf.
 * @throws RangeError when the parts add up to more than 256 MiB.
 * @example
 * ```ts
 * const attachment = packParts([passphrase, value]); // secrets.set
 * ```
 */
export function packParts(parts: readonly (Uint8Array | SecretBuf)[]): SecretBuf {
  const list: unknown = parts;
  if (!Array.isArray(list)) throw new TypeError('parts must be an array');
  let total = 0;
  parts.forEach((part, i) => {
    if (!(part instanceof Uint8Array) && !(part instanceof SecretBuf)) {
      throw new TypeError(`parts[${i}] must be a Uint8Array or a SecretBuf`);
    }
    total += part.length + (i < parts.length - 1 ? 4 : 0);
  });
  const [out] = SecretBuf.allocMany([total], ([view]) => {
    if (view === undefined) return;
    let at = 0;
    parts.forEach((part, i) => {
      if (i < parts.length - 1) {
        new DataView(view.buffer, view.byteOffset, view.byteLength).setUint32(at, part.length, false);
        at += 4;
      }
      if (part instanceof SecretBuf)
        part.use((bytes) => {
          view.set(bytes, at);
        });
      else view.set(part, at);
      at += part.length;
    });
  });
  return out as SecretBuf;
}

/**
 * Split an attachment made by {@link packParts} into `count` parts, in one new secure region.
 * The attachment is not consumed (the caller still wipes it).
 *
 * @param attachment - the attachment (`null` counts as empty)
 * @param count - how many parts the message type carries
 * @returns `count` new SecretBufs (the caller wipes each)
 * @throws RangeError when `count` is not a non-negative integer.
 * @throws IpcError `BAD_ATTACHMENT` when the layout does not hold exactly `count` parts.
 * @example
 * ```ts
 * const [passphrase, value] = unpackParts(frame.attachment, 2);
 * ```
 */
export function unpackParts(attachment: SecretBuf | null, count: number): SecretBuf[] {
  if (!Number.isSafeInteger(count) || count < 0)
    throw new RangeError(`count must be a non-negative integer, got ${String(count)}`);
  if (attachment !== null && !(attachment instanceof SecretBuf))
    throw new TypeError('attachment must be a SecretBuf or null');
  const size = attachment?.length ?? 0;
  if (count === 0) {
    if (size !== 0) throw new IpcError('BAD_ATTACHMENT', 'this message carries no attachment');
    return [];
  }
  if (attachment === null) {
    if (count === 1) return SecretBuf.allocMany([0]);
    throw new IpcError('BAD_ATTACHMENT', `the attachment does not hold ${count} parts`);
  }
  // First pass: lengths only (not secret), checked against what remains before allocating.
  const lengths = attachment.use((bytes) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: number[] = [];
    let at = 0;
    for (let i = 0; i < count - 1; i++) {
      if (at + 4 > bytes.length) return null;
      const n = view.getUint32(at, false);
      at += 4;
      if (n > bytes.length - at) return null;
      out.push(n);
      at += n;
    }
    out.push(bytes.length - at);
    return out;
  });
  if (lengths === null) {
    throw new IpcError('BAD_ATTACHMENT', `the attachment does not hold ${count} parts`);
  }
  return attachment.use((bytes) =>
    SecretBuf.allocMany(lengths, (views) => {
      let at = 0;
      views.forEach((view, i) => {
        if (i < count - 1) at += 4;
        view.set(bytes.subarray(at, at + view.length));
        at += view.length;
      });
    }),
  );
}
