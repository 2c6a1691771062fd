// SPDX-License-Identifier: AGPL-3.0-only

/** Longest secret name in bytes (architecture §4). The alphabet is ASCII, so bytes = characters. */
const MAX_NAME_BYTES = 128;

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** architecture §4 name rule, on a JS string. */
export function checkName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_NAME_BYTES && NAME_PATTERN.test(name);
}

/**
 * architecture §4 name rule, on raw bytes from a block. Checks bytes before any decoding so that a
 * non-ASCII (or invalid UTF-8) name is refused without building a string from it.
 */
export function checkNameBytes(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n === 0 || n > MAX_NAME_BYTES) return false;
  for (let i = 0; i < n; i++) {
    const c = bytes[i] ?? 0;
    const upper = c >= 0x41 && c <= 0x5a;
    const lower = c >= 0x61 && c <= 0x7a;
    const digit = c >= 0x30 && c <= 0x39;
    if (!(upper || lower || c === 0x5f || (digit && i > 0))) return false;
  }
  return true;
}

/** Decode bytes already accepted by {@link checkNameBytes} (pure ASCII). */
export function asciiToString(bytes: Uint8Array): string {
  let out = '';
  for (const c of bytes) out += String.fromCharCode(c);
  return out;
}
