// SPDX-License-Identifier: AGPL-3.0-only
import { CryptoFormatError } from './errors.ts';
import { copyBytes } from './internal/bytes.ts';
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
} from './internal/layout.ts';

/** Length of the fixed vault header in bytes (architecture §4). It is also the AEAD's associated data. */
export const HEADER_LENGTH = 56;
/** Length of the Poly1305 tag that ends every vault file. */
export const TAG_LENGTH = 16;
/** Length of the Argon2id salt stored in the header. */
export const SALT_LENGTH = 16;
/** Length of the XChaCha20-Poly1305 nonce stored in the header. */
export const NONCE_LENGTH = 24;
/** The only format version this package reads and writes. */
export const FORMAT_VERSION = 1;
/** The kdf byte for Argon2id version 1.3 (0x13), the only KDF this package knows. */
export const KDF_ARGON2ID = 1;

/**
 * Largest vault file this package reads or writes: 80 MiB.
 *
 * Why this number: memstore's default limits allow 10 000 secrets and 64 MiB of values in
 * total. A full store encodes to 64 MiB of values plus at most about 1.5 MB of per-entry
 * framing (u16 + 128-byte name + u32 + two u64 each), the audit key and the policy JSON; the
 * remaining ~14 MiB is headroom for that JSON. The cap exists so a hostile or corrupt file
 * cannot make a reader allocate (and mlock) an unbounded amount before authentication.
 */
export const MAX_VAULT_BYTES = 80 * 1024 * 1024;

/** Argon2id cost parameters as stored in the header: passes, memory in KiB, lanes. */
export interface KdfParams {
  /** Passes (time cost). */
  readonly t: number;
  /** Memory in KiB. */
  readonly m: number;
  /** Lanes (parallelism). */
  readonly p: number;
}

/**
 * The weakest parameters any reader accepts and any writer may use: t = 3, m = 64 MiB, p = 4
 * (architecture §1 G4: no downgrade). They are also the default for new vaults.
 */
export const KDF_FLOOR: Readonly<KdfParams> = Object.freeze({ t: 3, m: 65_536, p: 4 });

/**
 * The strongest parameters any reader accepts, field by field: t = 24, m = 512 MiB, p = 16.
 * Not every combination under these is accepted: t × m must also stay within
 * {@link KDF_WORK_CEILING}, so t = 24 goes with m = 64 MiB and m = 512 MiB with t = 3.
 *
 * Why: a header is read before anything is authenticated, so anyone who can edit the file
 * chooses what the next unlock costs. Argon2id holds m KiB for the whole run and its time
 * grows with t × m; the ceilings bound both, so the worst header a reader admits costs 512 MiB
 * and about 9 times the floor's time (measured: see the package README, "KDF cost"). The
 * first ceiling (t = 64, m = 4 GiB) allowed 170 times that work and 8 times that memory. More lanes than a workstation has cores buy nothing, and a cap keeps a
 * crafted header from asking for hundreds. Higher limits can be admitted later without a
 * format change.
 */
export const KDF_CEILING: Readonly<KdfParams> = Object.freeze({ t: 24, m: 524_288, p: 16 });

/**
 * The largest t × m (passes × KiB) any reader accepts or any writer may use: 3 × 512 MiB =
 * 1 572 864, 8 times the floor's 3 × 64 MiB. Argon2id makes t passes over m KiB, so its time
 * grows with this product; with {@link KDF_CEILING} it bounds the cost of one unlock.
 */
export const KDF_WORK_CEILING = 1_572_864;

/** A KDF parameter for a message: m carries its unit. */
function withUnit(field: 't' | 'm' | 'p', value: number): string {
  return field === 'm' ? `${value} KiB` : String(value);
}

/** The parsed, validated fixed header of a vault file. Nothing in it is secret. */
export interface VaultHeader {
  /** Always {@link FORMAT_VERSION}. */
  readonly version: number;
  /** Always {@link KDF_ARGON2ID}. */
  readonly kdf: number;
  /** Argon2id parameters, already checked against floor and ceiling. */
  readonly params: KdfParams;
  /** A copy of the 16-byte salt. */
  readonly salt: Uint8Array;
  /** A copy of the 24-byte nonce. */
  readonly nonce: Uint8Array;
  /** Length of the ciphertext (without the tag) that follows the header. */
  readonly ciphertextLength: number;
}

/**
 * Parse and check the header of a whole vault file, without any key material.
 *
 * Everything a reader must refuse on the header alone is refused here, before any KDF runs:
 * a crafted header can neither downgrade the KDF nor make the reader spend more than the
 * ceilings allow on it ({@link KDF_CEILING}, {@link KDF_WORK_CEILING}). A refusal of the
 * product t × m has `field` `'t*m'`.
 *
 * @param file - the complete file contents (header, ciphertext, tag).
 * @returns the validated header fields.
 * @throws TypeError when `file` is not a Uint8Array.
 * @throws CryptoFormatError `FILE_TOO_SHORT`, `BAD_MAGIC`, `UNSUPPORTED_VERSION`,
 *   `UNSUPPORTED_KDF`, `RESERVED_NOT_ZERO`, `KDF_BELOW_FLOOR`, `KDF_ABOVE_CEILING`, `FILE_TOO_LARGE`.
 *
 * @example
 * ```ts
 * const { params } = parseHeader(await readVaultFile(path));
 * console.log(`Argon2id t=${params.t} m=${params.m} KiB p=${params.p}`);
 * ```
 */
export function parseHeader(file: Uint8Array): VaultHeader {
  if (!(file instanceof Uint8Array)) throw new TypeError('file must be a Uint8Array');
  if (file.byteLength < HEADER_LENGTH + TAG_LENGTH) {
    throw new CryptoFormatError(
      'FILE_TOO_SHORT',
      `vault file is ${file.byteLength} bytes; at least ${HEADER_LENGTH + TAG_LENGTH} are needed`,
    );
  }
  if (file.byteLength > MAX_VAULT_BYTES) {
    throw new CryptoFormatError('FILE_TOO_LARGE', `vault file is over ${MAX_VAULT_BYTES} bytes`);
  }
  for (let i = 0; i < MAGIC.length; i += 1) {
    if (file[i] !== MAGIC[i]) throw new CryptoFormatError('BAD_MAGIC', 'not a Cora vault file (bad magic)');
  }
  const view = new DataView(file.buffer, file.byteOffset, HEADER_LENGTH);
  const version = view.getUint8(OFFSET_VERSION);
  if (version !== FORMAT_VERSION) {
    throw new CryptoFormatError('UNSUPPORTED_VERSION', `vault format version ${version} is not supported`, {
      field: 'version',
    });
  }
  const kdf = view.getUint8(OFFSET_KDF);
  if (kdf !== KDF_ARGON2ID) {
    throw new CryptoFormatError('UNSUPPORTED_KDF', `vault kdf ${kdf} is not supported`, { field: 'kdf' });
  }
  if (view.getUint8(OFFSET_RESERVED) !== 0) {
    throw new CryptoFormatError('RESERVED_NOT_ZERO', 'the reserved header byte must be 0', {
      field: 'reserved',
    });
  }
  const params: KdfParams = {
    t: view.getUint32(OFFSET_T, true),
    m: view.getUint32(OFFSET_M, true),
    p: view.getUint8(OFFSET_P),
  };
  for (const field of ['t', 'm', 'p'] as const) {
    if (params[field] < KDF_FLOOR[field]) {
      throw new CryptoFormatError(
        'KDF_BELOW_FLOOR',
        `${field} = ${withUnit(field, params[field])} is under the floor ${withUnit(field, KDF_FLOOR[field])} (no downgrade)`,
        { field },
      );
    }
    if (params[field] > KDF_CEILING[field]) {
      throw new CryptoFormatError(
        'KDF_ABOVE_CEILING',
        `${field} = ${withUnit(field, params[field])} is over the ceiling ${withUnit(field, KDF_CEILING[field])}`,
        { field },
      );
    }
  }
  const work = params.t * params.m; // both ≤ their ceilings here: exact in a double
  if (work > KDF_WORK_CEILING) {
    throw new CryptoFormatError(
      'KDF_ABOVE_CEILING',
      `t × m = ${params.t} × ${params.m} KiB = ${work} is over the ceiling ${KDF_WORK_CEILING} (passes × KiB)`,
      { field: 't*m' },
    );
  }
  return {
    version,
    kdf,
    params: Object.freeze(params),
    salt: copyBytes(file.subarray(OFFSET_SALT, OFFSET_SALT + SALT_LENGTH)),
    nonce: copyBytes(file.subarray(OFFSET_NONCE, OFFSET_NONCE + NONCE_LENGTH)),
    ciphertextLength: file.byteLength - HEADER_LENGTH - TAG_LENGTH,
  };
}
