// SPDX-License-Identifier: AGPL-3.0-only
import {
  FORMAT_VERSION,
  HEADER_LENGTH,
  KDF_ARGON2ID,
  KDF_CEILING,
  KDF_FLOOR,
  KDF_WORK_CEILING,
  type KdfParams,
} from '../format.ts';
import {
  MAGIC,
  OFFSET_KDF,
  OFFSET_M,
  OFFSET_NONCE,
  OFFSET_P,
  OFFSET_RESERVED,
  OFFSET_SALT,
  OFFSET_T,
  OFFSET_VERSION,
} from './layout.ts';

/**
 * Build the 56-byte header (internal: writers go through `sealVault`). The caller has
 * already checked `params`, `salt` and `nonce`.
 */
export function encodeHeader(params: KdfParams, salt: Uint8Array, nonce: Uint8Array): Uint8Array {
  const header = new Uint8Array(HEADER_LENGTH);
  header.set(MAGIC, 0);
  const view = new DataView(header.buffer);
  view.setUint8(OFFSET_VERSION, FORMAT_VERSION);
  view.setUint8(OFFSET_KDF, KDF_ARGON2ID);
  view.setUint32(OFFSET_T, params.t, true);
  view.setUint32(OFFSET_M, params.m, true);
  view.setUint8(OFFSET_P, params.p);
  header.set(salt, OFFSET_SALT);
  header.set(nonce, OFFSET_NONCE);
  view.setUint8(OFFSET_RESERVED, 0);
  return header;
}

/**
 * Check writer-supplied KDF parameters (internal). Writers get RangeErrors, not format codes:
 * asking to write a weak vault is a programming error, not a bad file.
 */
export function assertWritableParams(params: unknown, name: string): asserts params is KdfParams {
  if (typeof params !== 'object' || params === null) throw new TypeError(`${name} must be an object`);
  for (const field of ['t', 'm', 'p'] as const) {
    const value: unknown = (params as Record<string, unknown>)[field];
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new TypeError(`${name}.${field} must be an integer`);
    }
    if (value < KDF_FLOOR[field] || value > KDF_CEILING[field]) {
      throw new RangeError(
        `${name}.${field} must be from ${KDF_FLOOR[field]} to ${KDF_CEILING[field]}, got ${value}`,
      );
    }
  }
  const { t, m } = params as KdfParams;
  if (t * m > KDF_WORK_CEILING) {
    throw new RangeError(
      `${name}.t × ${name}.m must be at most ${KDF_WORK_CEILING} (passes × KiB), got ${t} × ${m} = ${t * m}`,
    );
  }
}
