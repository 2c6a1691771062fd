// SPDX-License-Identifier: AGPL-3.0-only
import koffi from 'koffi';

const encoder = new TextEncoder();

/**
 * `argv` as `char *[]`: one off-heap block of C strings and a NULL-terminated pointer array
 * (for posix_spawn and execve through koffi). Not for secrets: the caller zeroes `keepAlive`
 * only as hygiene.
 * @param strings - the strings, none containing NUL (checked by the caller)
 * @returns the pointer array and the block it points into (keep it alive until the call returns)
 */
export function cStringArray(strings: readonly string[]): {
  pointers: BigUint64Array;
  keepAlive: Uint8Array;
} {
  const encoded = strings.map((arg) => encoder.encode(arg));
  const total = encoded.reduce((sum, bytes) => sum + bytes.length + 1, 0);
  // `new ArrayBuffer` memory is off-heap and never moves, so its addresses stay valid.
  const block = new Uint8Array(new ArrayBuffer(total));
  const pointers = new BigUint64Array(new ArrayBuffer(8 * (strings.length + 1)));
  const base = koffi.address(block);
  let offset = 0;
  encoded.forEach((bytes, i) => {
    block.set(bytes, offset);
    pointers[i] = base + BigInt(offset);
    offset += bytes.length + 1;
  });
  pointers[strings.length] = 0n;
  return { pointers, keepAlive: block };
}
