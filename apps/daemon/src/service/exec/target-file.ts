// SPDX-License-Identifier: AGPL-3.0-only
/**
 * A pinned target, opened once (architecture §8): hashed through the descriptor the service
 * then executes, so a file renamed or swapped over the path between the check and the spawn
 * is not what runs. See SECURITY.md "Pinned targets" for what this does not cover.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** An open, hashed target file; `await using` closes it. */
export interface OpenedTarget extends AsyncDisposable {
  /** The descriptor to execute (`SpawnOptions.fd`); valid until {@link OpenedTarget.close}. */
  readonly fd: number;
  /** Lower-case hex SHA-256 of the bytes read through `fd`. */
  readonly sha256: string;
  /**
   * Whether the file starts with `#!`: the kernel then runs the interpreter, which opens the
   * script again by the path it is given, so a script is executed by its path, not `fd`.
   */
  readonly script: boolean;
  /** Hash the file again through the same descriptor (null when it cannot be read). */
  rehash(): Promise<string | null>;
  /** Close the descriptor (idempotent). */
  close(): Promise<void>;
}

const CHUNK = 1024 * 1024;

/**
 * Open `path` read-only without following a final symlink, check it is a regular file, and
 * hash it through that descriptor (reads are asynchronous: a large binary does not stall the
 * service).
 * @param path - the target's realpath, as resolved for the decision
 * @returns the open file and its hash, or null when it cannot be opened or read (the pin is
 *   then not satisfied: fail closed)
 */
export async function openTarget(path: string): Promise<OpenedTarget | null> {
  let handle: FileHandle;
  try {
    // Node adds O_CLOEXEC; the spawn makes the child's copy inheritable on purpose.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await handle.close().catch(() => undefined);
  };
  try {
    if (!(await handle.stat()).isFile()) {
      await close();
      return null;
    }
    const first = await hashThrough(handle);
    const rehash = async (): Promise<string | null> => {
      if (closed) return null;
      try {
        return (await hashThrough(handle)).sha256;
      } catch {
        return null;
      }
    };
    return { fd: handle.fd, ...first, rehash, close, [Symbol.asyncDispose]: close };
  } catch {
    await close();
    return null;
  }
}

/** SHA-256 of everything readable through `handle` from offset 0, and whether it starts with `#!`. */
async function hashThrough(handle: FileHandle): Promise<{ sha256: string; script: boolean }> {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(CHUNK);
  let position = 0;
  let script = false;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
    if (bytesRead === 0) break;
    if (position === 0) script = bytesRead >= 2 && buffer[0] === 0x23 && buffer[1] === 0x21;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return { sha256: hash.digest('hex'), script };
}
