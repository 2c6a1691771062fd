// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/masker`: a streaming byte masker that replaces every injected secret value of 6+
 * bytes, and its common encodings, with `<concealed:NAME>` (architecture §8, promise G10). The
 * patterns live in secure memory; no value, form or output chunk becomes a JS string.
 * @packageDocumentation
 */
export {
  createMasker,
  createMaskers,
  MASKER_FRAGMENT_BYTES,
  MASKER_MAX_STREAMS,
  MASKER_MIN_LENGTH,
} from './masker.ts';
export type { Masker, MaskerOptions, MaskerSecret } from './masker.ts';
export { MaskerError, MaskerErrorCode, isMaskerError } from './errors.ts';
