// SPDX-License-Identifier: AGPL-3.0-only
import { MemstoreError } from '../errors.ts';

/**
 * Bounds-checked little-endian cursor over a secrets block (architecture §4). Every read checks the
 * remaining length first, so no length field can make it read (or allocate) past the end.
 * It returns views, never copies: the caller decides where bytes go.
 */
export class BlockReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.#bytes.length - this.#pos;
  }

  need(n: number, what: string): void {
    if (n > this.remaining) {
      throw new MemstoreError(
        'BLOCK_TRUNCATED',
        `secrets block truncated: ${what} needs ${String(n)} bytes at offset ${String(this.#pos)}, ${String(this.remaining)} left`,
      );
    }
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.#view.getUint16(this.#pos, true);
    this.#pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.#view.getBigUint64(this.#pos, true);
    this.#pos += 8;
    return v;
  }

  /** A view of the next `n` bytes (no copy). */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }
}

/** Little-endian writer into a buffer whose size was computed up front. */
export class BlockWriter {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get position(): number {
    return this.#pos;
  }

  u16(v: number): void {
    this.#view.setUint16(this.#pos, v, true);
    this.#pos += 2;
  }

  u32(v: number): void {
    this.#view.setUint32(this.#pos, v, true);
    this.#pos += 4;
  }

  u64(v: number): void {
    this.#view.setBigUint64(this.#pos, BigInt(v), true);
    this.#pos += 8;
  }

  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.#bytes[this.#pos + i] = s.charCodeAt(i);
    this.#pos += s.length;
  }

  /** Room for `n` bytes that the caller fills through {@link BlockWriter.view}. */
  view(n: number): Uint8Array {
    const v = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }
}
