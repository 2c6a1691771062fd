// SPDX-License-Identifier: AGPL-3.0-only
import { randomInt } from 'node:crypto';

/** Every canary starts with this, so a hit is unmistakable. */
export const CANARY_PREFIX = 'CORACANARY';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A fresh random canary secret: {@link CANARY_PREFIX} followed by `randomChars` random
 * letters and digits, as a Buffer (printable, so it also survives text channels).
 *
 * @param randomChars - length of the random part, at least 16 (default 24)
 * @returns a new Buffer; wipe it when the test no longer needs it
 * @throws RangeError when `randomChars` is under 16 or not an integer.
 * @example
 * ```ts
 * const canary = makeCanary(); // e.g. CORACANARYq3ZkP0...
 * ```
 */
export function makeCanary(randomChars = 24): Buffer {
  if (!Number.isSafeInteger(randomChars) || randomChars < 16 || randomChars > 4096) {
    throw new RangeError(`randomChars must be an integer from 16 to 4096, got ${String(randomChars)}`);
  }
  const out = Buffer.alloc(CANARY_PREFIX.length + randomChars);
  out.write(CANARY_PREFIX, 0, 'latin1');
  for (let i = CANARY_PREFIX.length; i < out.length; i++) {
    out[i] = ALNUM.charCodeAt(randomInt(ALNUM.length));
  }
  return out;
}

/** What each element of {@link canaryForms}' result is, by index. */
export const CANARY_FORM_LABELS: readonly string[] = Object.freeze([
  'raw',
  'hex',
  'HEX',
  'base64',
  'base64 (+1 byte)',
  'base64 (+2 bytes)',
  'base64url',
  'base64url (+1 byte)',
  'base64url (+2 bytes)',
]);

/**
 * The encodings under which a leaked secret would show up in memory: raw bytes, hex (lower
 * and upper case), base64 and base64url. Base64 depends on where the secret starts relative to
 * a 3-byte group, so each base64 flavour comes in three alignments, trimmed to the characters
 * that depend on the secret alone (the form found whatever bytes surround it).
 * See {@link CANARY_FORM_LABELS} for the order.
 *
 * @param canary - the secret (at least 8 bytes)
 * @returns needles for {@link scanProcessMemory}
 * @throws RangeError when `canary` is shorter than 8 bytes.
 * @example
 * ```ts
 * const hits = await scanProcessMemory(pid, canaryForms(canary));
 * ```
 */
export function canaryForms(canary: Uint8Array): Uint8Array[] {
  if (canary.length < 8) throw new RangeError('canary must be at least 8 bytes');
  const raw = Buffer.from(canary);
  const forms: Uint8Array[] = [
    raw,
    Buffer.from(raw.toString('hex')),
    Buffer.from(raw.toString('hex').toUpperCase()),
  ];
  for (const encoding of ['base64', 'base64url'] as const) {
    for (let shift = 0; shift < 3; shift++) forms.push(Buffer.from(base64Core(raw, shift, encoding)));
  }
  return forms;
}

/**
 * Base64 characters fully determined by `bytes` when they start `shift` bytes into a 3-byte
 * group: drop the characters that mix in the bytes before (shift 1: 2 chars, shift 2: 3 chars)
 * and those of a final, partial group (they mix in the bytes after).
 */
function base64Core(bytes: Buffer, shift: number, encoding: 'base64' | 'base64url'): string {
  const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
  const whole = Math.floor(padded.length / 3) * 4;
  const lead = shift === 0 ? 0 : shift + 1;
  return padded.toString(encoding).slice(lead, whole);
}
