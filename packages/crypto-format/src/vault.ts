// SPDX-License-Identifier: AGPL-3.0-only
import { lstat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  SecretBuf,
  decodeSecretsBlock,
  encodeSecretsBlock,
  isMemstoreError,
  wipeSecretsBlock,
  type SecretsBlock,
} from '@cora/memstore';
import { CryptoFormatError } from './errors.ts';
import { parseHeader, type KdfParams } from './format.ts';
import { readVaultFile, writeFileAtomic } from './file.ts';
import { deriveVaultKey } from './internal/kdf.ts';
import { openVaultWith, sealVaultWith } from './internal/seal-core.ts';
import { fsyncDir } from './internal/fsutil.ts';
import { withFileLock, type LockOptions } from './lock.ts';
import type { SealOptions } from './seal.ts';

/**
 * Called under the lock with the sealed bytes about to be written (and the bytes of the file
 * they replace, null for a new vault), before anything touches the disk. Throwing aborts the
 * write. A write-ahead record goes here: the caller learns the new file's exact bytes (to hash
 * them) while the old file is still in place.
 */
export type BeforeWrite = (files: {
  readonly current: Uint8Array | null;
  readonly next: Uint8Array;
}) => void | Promise<void>;

/** Options for {@link createVault}. */
export interface CreateVaultOptions extends SealOptions {
  /** Lock timeout and retry delay. */
  readonly lock?: LockOptions;
  /** See {@link BeforeWrite}. */
  readonly beforeWrite?: BeforeWrite;
}

/** Options for {@link updateVault}. */
export interface UpdateVaultOptions {
  /**
   * Argon2id cost for the new file. Default: the parameters of the file being replaced, so a
   * vault made stronger stays stronger. Must lie within floor and ceiling.
   */
  readonly kdf?: KdfParams;
  /**
   * Keep the current salt instead of drawing a new one (default false: every write gets a
   * fresh salt). Not allowed together with `newPassphrase`.
   */
  readonly keepSalt?: boolean;
  /** Seal the new file under this passphrase instead (`passwd`); a fresh salt is always drawn. */
  readonly newPassphrase?: SecretBuf;
  /** Lock timeout and retry delay. */
  readonly lock?: LockOptions;
  /**
   * Keep the replaced file as `<path>.prev` (default true, architecture §4). With false, nothing is
   * kept and an existing `.prev` is removed after the new file is in place: a `.prev` would
   * still open with a passphrase changed away from, and hold values deleted since.
   */
  readonly keepPrevious?: boolean;
  /** See {@link BeforeWrite}. */
  readonly beforeWrite?: BeforeWrite;
}

/** What an {@link updateVault} callback gets and returns. */
export type VaultMutation = (block: SecretsBlock) => SecretsBlock | Promise<SecretsBlock>;

function lockOptions(options: { readonly lock?: LockOptions }): LockOptions {
  return options.lock ?? {};
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Decode authenticated plaintext; memstore refusals become INVALID_PLAINTEXT with the cause. */
function decode(plaintext: SecretBuf, path: string): SecretsBlock {
  try {
    return decodeSecretsBlock(plaintext);
  } catch (error) {
    if (isMemstoreError(error)) {
      throw new CryptoFormatError(
        'INVALID_PLAINTEXT',
        `${path}: the decrypted block is invalid (${error.code})`,
        {
          path,
          cause: error,
        },
      );
    }
    throw error;
  } finally {
    plaintext.wipe(); // decodeSecretsBlock wipes it too; this covers a TypeError before that.
  }
}

/** Remove `<path>.prev` durably (a crash must not bring it back); absent is fine. */
async function removePrevious(path: string): Promise<void> {
  try {
    await unlink(`${path}.prev`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await fsyncDir(dirname(resolve(path)));
}

/** Wipe a caller-built block without letting a malformed one mask the error in flight. */
function wipeQuietly(block: SecretsBlock): void {
  try {
    wipeSecretsBlock(block);
  } catch {
    // Not a block (mutate returned something else): encodeSecretsBlock already said so.
  }
}

async function sealBlock(
  block: SecretsBlock,
  passphrase: SecretBuf,
  options: SealOptions,
): Promise<Uint8Array> {
  const plaintext = encodeSecretsBlock(block);
  try {
    return await sealVaultWith(plaintext, passphrase, options, deriveVaultKey);
  } finally {
    plaintext.wipe();
  }
}

/**
 * Create a new vault file from a secrets block, under the lock. Refuses to replace anything
 * already at `path` (a file, a symlink, anything). Draws a fresh salt unless
 * `options.salt` is given (`init`, architecture §4). The block stays owned by the caller.
 *
 * @param path - where the vault goes (its directory is created 0700 if missing).
 * @param block - entries, audit key and JSON to store.
 * @param passphrase - the passphrase bytes (not wiped).
 * @param options - KDF cost, salt and lock options.
 * @throws TypeError / RangeError for bad arguments (see {@link sealVault}); MemstoreError from
 *   `encodeSecretsBlock` for an invalid block.
 * @throws CryptoFormatError `VAULT_EXISTS`, `LOCK_TIMEOUT`.
 *
 * @example
 * ```ts
 * await createVault(path, { entries: [], auditKey, json }, passphrase);
 * ```
 */
export async function createVault(
  path: string,
  block: SecretsBlock,
  passphrase: SecretBuf,
  options: CreateVaultOptions = {},
): Promise<void> {
  if (typeof path !== 'string') throw new TypeError('path must be a string');
  if (!(passphrase instanceof SecretBuf)) throw new TypeError('passphrase must be a SecretBuf');
  const sealOptions: SealOptions = {
    ...(options.kdf === undefined ? {} : { kdf: options.kdf }),
    ...(options.salt === undefined ? {} : { salt: options.salt }),
  };
  await withFileLock(
    path,
    async () => {
      if (await pathExists(path)) {
        throw new CryptoFormatError('VAULT_EXISTS', `${path} already exists; refusing to overwrite it`, {
          path,
        });
      }
      const file = await sealBlock(block, passphrase, sealOptions);
      await options.beforeWrite?.({ current: null, next: file });
      await writeFileAtomic(path, file, { keepPrevious: false });
    },
    lockOptions(options),
  );
}

/**
 * Read, authenticate and decode a vault. Needs no lock: writers replace the file by rename,
 * so a reader sees one complete version.
 *
 * @param path - the vault file.
 * @param passphrase - the passphrase bytes (not wiped).
 * @returns the decoded block; wipe it with memstore's `wipeSecretsBlock` when done.
 * @throws CryptoFormatError any code of {@link readVaultFile} and {@link openVault}, and
 *   `INVALID_PLAINTEXT` (with the memstore `BLOCK_*` error as `cause`) when authenticated
 *   plaintext is not a valid block.
 *
 * @example
 * ```ts
 * const block = await readVault(path, passphrase);
 * try { load(block); } finally { wipeSecretsBlock(block); }
 * ```
 */
export async function readVault(path: string, passphrase: SecretBuf): Promise<SecretsBlock> {
  return openVaultBlock(await readVaultFile(path), passphrase, path);
}

/**
 * Authenticate and decode vault bytes already read (with {@link readVaultFile}): for a caller
 * that needs the exact bytes it opened too, e.g. to hash them.
 *
 * @param file - the whole vault file
 * @param passphrase - the passphrase bytes (not wiped)
 * @param path - named in error messages
 * @returns the decoded block; wipe it with memstore's `wipeSecretsBlock` when done
 * @throws CryptoFormatError any code of {@link openVault}, and `INVALID_PLAINTEXT`.
 * @example
 * ```ts
 * const file = await readVaultFile(path);
 * const block = await openVaultBlock(file, passphrase, path);
 * try { load(block); } finally { wipeSecretsBlock(block); }
 * ```
 */
export async function openVaultBlock(
  file: Uint8Array,
  passphrase: SecretBuf,
  path = 'vault',
): Promise<SecretsBlock> {
  if (!(file instanceof Uint8Array)) throw new TypeError('file must be a Uint8Array');
  if (!(passphrase instanceof SecretBuf)) throw new TypeError('passphrase must be a SecretBuf');
  const plaintext = await openVaultWith(file, passphrase, deriveVaultKey);
  return decode(plaintext, path);
}

/**
 * Read → authenticate → decode → `mutate` → encode → seal → atomic write, all while holding
 * the exclusive lock, so two writers (threads of one process or separate processes) cannot
 * lose each other's update (architecture §1 G8). The passphrase must open the current file before
 * anything is written (G6). The previous file is kept as `<path>.prev`.
 *
 * Ownership: every SecretBuf reachable from the decoded block and from the block `mutate`
 * returns is wiped when this settles (success or error). Hand in copies of anything the
 * caller wants to keep.
 *
 * @param path - the vault file.
 * @param passphrase - the current passphrase (not wiped).
 * @param mutate - gets the current block, returns the block to store (may be async).
 * @param options - KDF cost, salt handling, new passphrase and lock options.
 * @throws TypeError / RangeError for bad arguments.
 * @throws CryptoFormatError any code of {@link readVault}, `LOCK_TIMEOUT`.
 *
 * @example
 * ```ts
 * await updateVault(path, passphrase, (block) => ({
 *   ...block,
 *   entries: [...block.entries, { name: 'API_KEY', value, created: now, updated: now }],
 * }));
 * ```
 */
export async function updateVault(
  path: string,
  passphrase: SecretBuf,
  mutate: VaultMutation,
  options: UpdateVaultOptions = {},
): Promise<void> {
  if (typeof path !== 'string') throw new TypeError('path must be a string');
  if (!(passphrase instanceof SecretBuf)) throw new TypeError('passphrase must be a SecretBuf');
  if (typeof mutate !== 'function') throw new TypeError('mutate must be a function');
  const { newPassphrase, keepSalt = false } = options;
  if (newPassphrase !== undefined && !(newPassphrase instanceof SecretBuf)) {
    throw new TypeError('options.newPassphrase must be a SecretBuf');
  }
  if (typeof keepSalt !== 'boolean') throw new TypeError('options.keepSalt must be a boolean');
  if (keepSalt && newPassphrase !== undefined) {
    throw new RangeError(
      'options.keepSalt cannot be combined with options.newPassphrase (passwd needs a new salt)',
    );
  }

  await withFileLock(
    path,
    async () => {
      const file = await readVaultFile(path);
      const header = parseHeader(file);
      const block = decode(await openVaultWith(file, passphrase, deriveVaultKey), path);
      let next: SecretsBlock | undefined;
      try {
        next = await mutate(block);
        const sealed = await sealBlock(next, newPassphrase ?? passphrase, {
          kdf: options.kdf ?? header.params,
          ...(keepSalt ? { salt: header.salt } : {}),
        });
        await options.beforeWrite?.({ current: file, next: sealed });
        const keepPrevious = options.keepPrevious ?? true;
        await writeFileAtomic(path, sealed, { keepPrevious });
        if (!keepPrevious) await removePrevious(path);
      } finally {
        wipeSecretsBlock(block);
        if (next !== undefined && next !== block) wipeQuietly(next);
      }
    },
    lockOptions(options),
  );
}
