// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:fs';
import { copyFile, link, lstat, open, rename, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CryptoFormatError } from './errors.ts';
import { MAX_VAULT_BYTES } from './format.ts';
import { ensurePrivateDir, fsyncDir, removeStaleTemps, tempName, unlinkQuietly } from './internal/fsutil.ts';
import { io, ioError } from './internal/ioerror.ts';

/** Options for {@link readVaultFile}. */
export interface ReadFileOptions {
  /** Refuse files larger than this many bytes. Default and maximum: {@link MAX_VAULT_BYTES}. */
  readonly maxBytes?: number;
}

/** Options for {@link writeFileAtomic}. */
export interface WriteFileOptions {
  /**
   * Keep the file being replaced as `<path>.prev` (architecture §4). Default true. Nothing is kept
   * when there was no regular file at `path` before.
   */
  readonly keepPrevious?: boolean;
}

// errno values that O_NOFOLLOW gives for a symlink on Linux (ELOOP) and the BSDs.
const SYMLINK_ERRNOS = new Set(['ELOOP', 'EMLINK', 'EFTYPE']);

function assertPath(path: unknown, name: string): asserts path is string {
  if (typeof path !== 'string') throw new TypeError(`${name} must be a string`);
  if (path.length === 0 || path.includes('\0'))
    throw new RangeError(`${name} must be a non-empty path without NUL`);
}

/**
 * Read a whole vault file safely. The file is opened with O_NOFOLLOW | O_NONBLOCK, so a
 * symlink fails at once and a FIFO cannot block the open; `fstat` on the open descriptor then
 * refuses anything but a regular file and anything over the cap, before any allocation of the
 * claimed size. Exactly `st_size` bytes are read, and a file that shrinks or grows meanwhile
 * is refused. Only the last path component is protected against symlinks.
 *
 * @param path - the vault file.
 * @param options - size cap.
 * @returns the file bytes (ciphertext; not secret).
 * @throws TypeError / RangeError for a bad `path` or `options.maxBytes`.
 * @throws CryptoFormatError `VAULT_NOT_FOUND`, `NOT_REGULAR_FILE`, `FILE_TOO_LARGE`, `FILE_CHANGED`;
 *   `PERMISSION_DENIED`, `IO_ERROR` (any other errno) with `step` `read` and the `errno`.
 *
 * @example
 * ```ts
 * const file = await readVaultFile(`${home}/.cora/vault.cora`);
 * ```
 */
export async function readVaultFile(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
  assertPath(path, 'path');
  const maxBytes = options.maxBytes ?? MAX_VAULT_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0 || maxBytes > MAX_VAULT_BYTES) {
    throw new RangeError(`options.maxBytes must be an integer from 0 to ${MAX_VAULT_BYTES}`);
  }
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOENT') {
      throw new CryptoFormatError('VAULT_NOT_FOUND', `no vault file at ${path}`, { path, cause: error });
    }
    if (SYMLINK_ERRNOS.has(code)) {
      throw new CryptoFormatError('NOT_REGULAR_FILE', `${path} is a symbolic link`, { path, cause: error });
    }
    // A socket cannot be opened at all: it is still "not a regular file", not an I/O error.
    if (code === 'ENXIO') {
      throw new CryptoFormatError('NOT_REGULAR_FILE', `${path} is a socket`, { path, cause: error });
    }
    throw ioError(error, 'read', path);
  }
  try {
    return await io('read', path, () => readOpen(handle, path, maxBytes));
  } finally {
    // A failed close after a complete read loses nothing: the bytes are already ours.
    await handle.close().catch(() => undefined);
  }
}

/** Read the whole of an open vault file: fstat checks first, then exactly st_size bytes. */
async function readOpen(handle: FileHandle, path: string, maxBytes: number): Promise<Uint8Array> {
  const stats = await handle.stat();
  if (!stats.isFile()) {
    throw new CryptoFormatError('NOT_REGULAR_FILE', `${path} is not a regular file`, { path });
  }
  if (stats.size > maxBytes) {
    throw new CryptoFormatError(
      'FILE_TOO_LARGE',
      `${path} is ${stats.size} bytes, over the cap of ${maxBytes}`,
      {
        path,
      },
    );
  }
  const bytes = new Uint8Array(stats.size);
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesRead } = await handle.read(bytes, offset, bytes.byteLength - offset, offset);
    if (bytesRead === 0) {
      throw new CryptoFormatError('FILE_CHANGED', `${path} shrank while it was read`, { path });
    }
    offset += bytesRead;
  }
  // One probe byte past the end: a writer appending in place (not ours: ours rename) shows here.
  const probe = new Uint8Array(1);
  const { bytesRead } = await handle.read(probe, 0, 1, bytes.byteLength);
  if (bytesRead !== 0) {
    throw new CryptoFormatError('FILE_CHANGED', `${path} grew while it was read`, { path });
  }
  return bytes;
}

/**
 * Replace `path` with `data` so that, at every instant, `path` is either the complete old
 * file or the complete new one (architecture §1 G8):
 *
 * 1. the directory is created with mode 0700 if missing;
 * 2. a temp file in the same directory is created with O_CREAT | O_EXCL | O_NOFOLLOW and
 *    mode 0600, then `fchmod`ed to 0600 (so the umask cannot widen or narrow it);
 * 3. data is written and `fsync`ed;
 * 4. with `keepPrevious`, the current file is hard-linked to a temp name and that link is
 *    renamed over `<path>.prev` (both atomic; a copy is used where hard links are refused);
 * 5. the temp file is renamed over `path` and the directory is `fsync`ed.
 *
 * Temp files are removed on every error path; ones a killed process left behind are removed
 * by later writes. This does not lock: concurrent writers must use {@link withFileLock}.
 * Only ever pass ciphertext: the bytes land on disk as given (architecture §1 G1).
 *
 * A file-system failure arrives as a CryptoFormatError whose `step` says how far the write
 * got: `mkdir`, `create-temp`, `write-temp`, `fsync`, `keep-previous` and `rename` mean the
 * file at `path` is still the old one (after `keep-previous` failed, `.prev` is unchanged too;
 * after `rename` failed, `.prev` may already equal the current file); `fsync-dir` means the
 * new file IS in place and only its durability across a crash is unconfirmed.
 *
 * @param path - the file to replace or create.
 * @param data - the complete new contents.
 * @param options - whether to keep `<path>.prev`.
 * @throws TypeError / RangeError for bad arguments.
 * @throws CryptoFormatError `DISK_FULL` (ENOSPC, EDQUOT, EFBIG), `READ_ONLY` (EROFS),
 *   `PERMISSION_DENIED` (EACCES, EPERM) or `IO_ERROR` (EIO and any other errno), with `path`,
 *   `step` and `errno`.
 *
 * @example
 * ```ts
 * await writeFileAtomic(path, await sealVault(plaintext, passphrase));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: WriteFileOptions = {},
): Promise<void> {
  assertPath(path, 'path');
  if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
  const keepPrevious = options.keepPrevious ?? true;
  if (typeof keepPrevious !== 'boolean') throw new TypeError('options.keepPrevious must be a boolean');

  const target = resolve(path);
  const dir = dirname(target);
  const base = basename(target);
  await io('mkdir', target, () => ensurePrivateDir(dir));

  const temp = join(dir, tempName(base, 'new'));
  const handle = await io('create-temp', target, () =>
    open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600),
  );
  let tempExists = true;
  try {
    try {
      await io('create-temp', target, () => handle.chmod(0o600));
      await io('write-temp', target, async () => {
        let offset = 0;
        while (offset < data.byteLength) {
          const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset, offset);
          offset += bytesWritten;
        }
      });
      await io('fsync', target, () => handle.sync());
    } catch (error) {
      // The error in flight is the one to report; a close failing after it adds nothing.
      await handle.close().catch(() => undefined);
      throw error;
    }
    // Some file systems (NFS) report a deferred write error only at close.
    await io('write-temp', target, () => handle.close());
    if (keepPrevious) await io('keep-previous', target, () => keepPreviousVersion(target, dir, base));
    await io('rename', target, () => rename(temp, target));
    tempExists = false;
    await io('fsync-dir', target, () => fsyncDir(dir));
  } finally {
    if (tempExists) await unlinkQuietly(temp);
  }
  await removeStaleTemps(dir, base);
}

/**
 * Point `<target>.prev` at the current file without ever leaving `target` missing: a hard
 * link to the same inode is made under a temp name and renamed over `.prev`. After the main
 * rename only `.prev` still names the old inode.
 */
async function keepPreviousVersion(target: string, dir: string, base: string): Promise<void> {
  try {
    const stats = await lstat(target);
    if (!stats.isFile()) return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const temp = join(dir, tempName(base, 'prev'));
  try {
    try {
      await link(target, temp);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      // Some file systems (FAT, some FUSE and network mounts) refuse hard links: copy instead.
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS'].includes(code)) throw error;
      await copyFile(target, temp, constants.COPYFILE_EXCL);
      const copy = await open(temp, constants.O_RDWR | constants.O_NOFOLLOW);
      try {
        await copy.chmod(0o600);
        await copy.sync();
      } finally {
        await copy.close();
      }
    }
    await rename(temp, `${target}.prev`);
  } finally {
    // POSIX rename() is a successful no-op when both names already link the same inode (a
    // writer killed after this step leaves `.prev` and `target` as one file), which leaves
    // `temp` behind; after a real rename this finds nothing.
    await unlinkQuietly(temp);
  }
}
