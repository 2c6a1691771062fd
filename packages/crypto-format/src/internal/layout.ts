// SPDX-License-Identifier: AGPL-3.0-only
// Byte layout of the architecture §4 header. Kept apart so format.ts and the writer share one copy.

export const MAGIC = [0x43, 0x4f, 0x52, 0x41] as const; // "CORA"

export const OFFSET_VERSION = 4;
export const OFFSET_KDF = 5;
export const OFFSET_T = 6;
export const OFFSET_M = 10;
export const OFFSET_P = 14;
export const OFFSET_SALT = 15;
export const OFFSET_NONCE = 31;
export const OFFSET_RESERVED = 55;
