// SPDX-License-Identifier: AGPL-3.0-only
import { constants } from 'node:os';
import { basename, dirname } from 'node:path';
import { getSystemErrorMessage } from 'node:util';
import { CryptoFormatError, type CryptoFormatErrorCode } from '../errors.ts';

/**
 * Where in a read or write a system call failed. Listed in the order a write takes them, so a
 * caller can tell how far it got: before `rename` the target is untouched, at `fsync-dir` the
 * new file is already in place.
 */
export type IoStep =
  | 'read'
  | 'mkdir'
  | 'create-temp'
  | 'write-temp'
  | 'fsync'
  | 'keep-previous'
  | 'rename'
  | 'fsync-dir'
  | 'lock';

const CODE_BY_ERRNO: Readonly<Record<string, CryptoFormatErrorCode>> = {
  ENOSPC: 'DISK_FULL',
  EDQUOT: 'DISK_FULL',
  // RLIMIT_FSIZE: the file may grow no further, which the user fixes like a full disk.
  EFBIG: 'DISK_FULL',
  EROFS: 'READ_ONLY',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
};

const ADVICE: Readonly<Partial<Record<CryptoFormatErrorCode, string>>> = {
  DISK_FULL: 'free some space (or raise the quota) and retry',
  READ_ONLY: 'remount the file system read-write and retry',
  PERMISSION_DENIED: 'check the owner and mode of the file and its directory',
  IO_ERROR:
    'the disk or file system may be failing: check the system log (dmesg) and keep a copy of the vault',
};

/** What the step was trying to do, for the message. */
function action(step: IoStep, path: string): string {
  const dir = dirname(path);
  switch (step) {
    case 'read':
      return `read ${path}`;
    case 'mkdir':
      return `create the directory ${dir}`;
    case 'create-temp':
      return `create a temp file for ${basename(path)} in ${dir}`;
    case 'write-temp':
      return `write the temp file for ${path}`;
    case 'fsync':
      return `flush the temp file for ${path} to disk`;
    case 'keep-previous':
      return `keep the current file as ${path}.prev`;
    case 'rename':
      return `rename the temp file over ${path}`;
    case 'fsync-dir':
      return `flush the directory ${dir} to disk`;
    case 'lock':
      return `take the lock ${path}`;
  }
}

/** What the failure left behind: the part a caller most needs to decide what to do. */
function consequence(step: IoStep): string {
  switch (step) {
    case 'read':
      return 'nothing was changed';
    case 'lock':
    case 'mkdir':
      return 'nothing was written';
    case 'create-temp':
    case 'write-temp':
    case 'fsync':
    case 'keep-previous':
      return 'the file was not changed';
    case 'rename':
      return 'the file was not replaced';
    case 'fsync-dir':
      return 'the new file IS in place, but a crash now could bring back the old one';
  }
}

// libuv has no name for some errnos (EDQUOT: "Unknown system error -122"); the kernel's own
// numbers, from os.constants, name them.
const NAME_BY_NUMBER = new Map<number, string>(
  Object.entries(constants.errno).map(([name, number]) => [number, name]),
);

// Our own words where libuv has none, and for the codes a user most often meets.
const DESCRIPTION: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
};

/** The errno name of a Node system error, or undefined for anything else. */
function errnoName(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, errno } = error as NodeJS.ErrnoException;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  return typeof errno === 'number' ? NAME_BY_NUMBER.get(-errno) : undefined;
}

function describe(errno: string, error: unknown): string {
  const known = DESCRIPTION[errno];
  if (known !== undefined) return known;
  const number = (error as NodeJS.ErrnoException).errno;
  return typeof number === 'number' ? getSystemErrorMessage(number) : errno;
}

/**
 * Turn a Node system error from `step` into the CryptoFormatError a caller can branch on;
 * anything else (a CryptoFormatError already, a TypeError, a bug) is returned unchanged.
 */
export function ioError(error: unknown, step: IoStep, path: string): unknown {
  if (error instanceof CryptoFormatError) return error;
  const errno = errnoName(error);
  if (errno === undefined) return error;
  const code = CODE_BY_ERRNO[errno] ?? 'IO_ERROR';
  return new CryptoFormatError(
    code,
    `cannot ${action(step, path)}: ${describe(errno, error)} (${errno}); ${consequence(step)}; ${ADVICE[code] ?? ''}`,
    { path, step, errno, cause: error },
  );
}

/** Run one step of a read or write, mapping a system error with {@link ioError}. */
export async function io<T>(step: IoStep, path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw ioError(error, step, path);
  }
}
