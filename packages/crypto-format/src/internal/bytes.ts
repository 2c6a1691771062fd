// SPDX-License-Identifier: AGPL-3.0-only

/**
 * A Buffer view over the same memory (no copy). sodium-native's typings want Buffers; a copy
 * would put secret bytes in a second, unmanaged place.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A real copy into a plain Uint8Array. `slice()` is not enough: on a Buffer (which is what
 * SecretBuf views and many callers' arrays are) `slice` returns a view, not a copy.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
