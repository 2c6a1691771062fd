// SPDX-License-Identifier: AGPL-3.0-only
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { SecretBuf } from '@cora/memstore';
import { CrError } from '../shared/errors.ts';
import { othersAllowed } from '../shared/win32-acl.ts';
import { userSid } from '../shared/win32-user.ts';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block the thread for `ms` (only the CLI does this, while it waits on a non-blocking fd). */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Read `fd` to end of file straight into secure memory: `readSync` writes into the SecretBuf's
 * own pages, so the bytes never pass through an ordinary Buffer (architecture §1 G3).
 *
 * @param fd - an open file descriptor (not closed here)
 * @param maxBytes - refuse input longer than this
 * @param what - how to name the input in messages ("the passphrase", "the value")
 * @returns a SecretBuf of exactly the bytes read
 * @throws CrError `INVALID_INPUT` when the input is over `maxBytes`.
 */
export function readFdToSecret(fd: number, maxBytes: number, what: string): SecretBuf {
  // One spare byte tells "exactly maxBytes" from "more than maxBytes".
  const scratch = SecretBuf.alloc(maxBytes + 1);
  try {
    const length = scratch.use((view) => {
      let at = 0;
      while (at < view.length) {
        let n: number;
        try {
          n = readSync(fd, view, at, view.length - at, null);
        } catch (error) {
          // A pipe or terminal someone else set non-blocking: wait for data instead of failing.
          if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
            sleepSync(5);
            continue;
          }
          throw error;
        }
        if (n === 0) break;
        at += n;
      }
      return at;
    });
    if (length > maxBytes) {
      throw new CrError('INVALID_INPUT', `${what} is longer than ${String(maxBytes)} bytes`);
    }
    return scratch.use((view) => SecretBuf.from(view.subarray(0, length)));
  } finally {
    scratch.wipe();
  }
}

/** Options for {@link readFileToSecret}. */
export interface ReadFileOptions {
  /** Refuse files with any group/other permission bit or another owner (passphrase files). */
  readonly requirePrivate: boolean;
  readonly maxBytes: number;
  readonly what: string;
}

/**
 * Open `path` without following a final symlink and without blocking on a FIFO, check it is
 * a regular file (and private, when asked), then read it into secure memory.
 *
 * @param path - the file
 * @param options - see {@link ReadFileOptions}
 * @returns the file's bytes in a SecretBuf
 * @throws CrError `NOT_FOUND` when missing, `UNSAFE_PATH` for a symlink, non-regular or
 *   non-private file, `INVALID_INPUT` when over `maxBytes`.
 */
export function readFileToSecret(path: string, options: ReadFileOptions): SecretBuf {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CrError('NOT_FOUND', `${path} does not exist`);
    if (code === 'ELOOP') throw new CrError('UNSAFE_PATH', `${path} is a symlink; refusing to follow it`);
    if (code === 'EACCES') throw new CrError('UNSAFE_PATH', `${path} is not readable by you`);
    throw error;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CrError('UNSAFE_PATH', `${path} is not a regular file`);
    if (options.requirePrivate && process.platform === 'win32') {
      // No uid or mode bits: the file's DACL must let no one else in (win32-acl.ts).
      const others = othersAllowed(path, userSid());
      if (others.length > 0) {
        throw new CrError('UNSAFE_PATH', `${path} lets ${others.join(', ')} in: give it to your user alone`);
      }
    } else if (options.requirePrivate) {
      const uid = process.getuid?.() ?? -1;
      if (st.uid !== uid) {
        throw new CrError('UNSAFE_PATH', `${path} belongs to uid ${String(st.uid)}, not to you`);
      }
      if ((st.mode & 0o077) !== 0) {
        throw new CrError(
          'UNSAFE_PATH',
          `${path} is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); run 'chmod 600 ${path}'`,
        );
      }
    }
    if (st.size > options.maxBytes) {
      throw new CrError('INVALID_INPUT', `${options.what} is longer than ${String(options.maxBytes)} bytes`);
    }
    return readFdToSecret(fd, options.maxBytes, options.what);
  } finally {
    closeSync(fd);
  }
}
