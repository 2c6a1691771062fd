// SPDX-License-Identifier: AGPL-3.0-only
import { closeSync, constants, openSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { SecretBuf } from '@cora/memstore';
import { CrError } from '../shared/errors.ts';
import { readFdToSecret, readFileToSecret } from './read-bytes.ts';

/** Longest passphrase accepted, in bytes. Argon2id takes any length; this bounds the prompt. */
export const MAX_PASSPHRASE_BYTES = 1024;

/**
 * Where a passphrase comes from. Neither set: the masked prompt on the controlling terminal.
 * There is deliberately no argv or environment source: both are readable by other processes
 * of the same user through `/proc/<pid>/cmdline` and `/proc/<pid>/environ`.
 */
export interface PassphraseSource {
  /** Read to end of file from this descriptor (`--passphrase-fd N`). */
  readonly fd?: number | undefined;
  /** Read this private file (`--passphrase-file PATH`): mode 0600 or stricter, ours, no symlink. */
  readonly file?: string | undefined;
}

/**
 * Read one passphrase as bytes in secure memory, never as a string (architecture §1 G3).
 * From a descriptor or file, one trailing newline (`\n` or `\r\n`) is removed.
 *
 * @param source - descriptor, file, or neither for the terminal prompt
 * @param prompt - what the terminal prompt says
 * @returns the passphrase; the caller wipes it
 * @throws CrError `USAGE` when both sources are given or there is no terminal to prompt on,
 *   `INVALID_INPUT` when empty or over {@link MAX_PASSPHRASE_BYTES}, `UNSAFE_PATH` /
 *   `NOT_FOUND` for a bad passphrase file, `CANCELLED` when the user presses Ctrl-C or Ctrl-D.
 * @example
 * ```ts
 * const passphrase = await readPassphrase({ fd: 3 }, 'Passphrase: ');
 * try { await unlock(passphrase); } finally { passphrase.wipe(); }
 * ```
 */
export async function readPassphrase(source: PassphraseSource, prompt: string): Promise<SecretBuf> {
  if (source.fd !== undefined && source.file !== undefined) {
    throw new CrError('USAGE', '--passphrase-fd and --passphrase-file cannot be used together');
  }
  let raw: SecretBuf;
  if (source.fd !== undefined) {
    checkFd(source.fd);
    raw = stripTrailingNewline(readFdToSecret(source.fd, MAX_PASSPHRASE_BYTES + 2, 'the passphrase'));
  } else if (source.file !== undefined) {
    raw = stripTrailingNewline(
      readFileToSecret(source.file, {
        requirePrivate: true,
        maxBytes: MAX_PASSPHRASE_BYTES + 2,
        what: 'the passphrase file',
      }),
    );
  } else {
    raw = await promptSecret(prompt, MAX_PASSPHRASE_BYTES);
  }
  if (raw.length === 0 || raw.length > MAX_PASSPHRASE_BYTES) {
    raw.wipe();
    throw new CrError(
      'INVALID_INPUT',
      raw.length === 0
        ? 'the passphrase is empty'
        : `the passphrase is longer than ${String(MAX_PASSPHRASE_BYTES)} bytes`,
    );
  }
  return raw;
}

/**
 * Read a new passphrase (`init`, `passwd`). From the terminal it is asked twice and the two
 * are compared in constant time; from a descriptor or file it is read once.
 *
 * @param source - descriptor, file, or neither for the terminal prompt
 * @param prompt - first prompt
 * @param confirmPrompt - second prompt
 * @returns the passphrase; the caller wipes it
 * @throws CrError `MISMATCH` when the two entries differ, and everything {@link readPassphrase} throws.
 */
export async function readNewPassphrase(
  source: PassphraseSource,
  prompt: string,
  confirmPrompt: string,
): Promise<SecretBuf> {
  const first = await readPassphrase(source, prompt);
  if (source.fd !== undefined || source.file !== undefined) return first;
  let second: SecretBuf | undefined;
  try {
    second = await readPassphrase(source, confirmPrompt);
    if (!first.equals(second)) {
      throw new CrError('MISMATCH', 'the two passphrases differ; nothing was changed');
    }
    return first;
  } catch (error) {
    first.wipe();
    throw error;
  } finally {
    second?.wipe();
  }
}

/**
 * Warnings about a weak passphrase, computed on the bytes (never a string). Cora warns and
 * does not enforce (architecture §1: weak passphrases are out of scope).
 *
 * @param passphrase - the candidate
 * @returns human-readable warnings, empty when none apply; they never quote the passphrase
 */
export function passphraseWarnings(passphrase: SecretBuf): string[] {
  return passphrase.use((bytes) => {
    const warnings: string[] = [];
    let lower = false;
    let upper = false;
    let digit = false;
    let other = false;
    let distinct = 0;
    const seen = new Uint8Array(256);
    for (const b of bytes) {
      if (b >= 0x61 && b <= 0x7a) lower = true;
      else if (b >= 0x41 && b <= 0x5a) upper = true;
      else if (b >= 0x30 && b <= 0x39) digit = true;
      else other = true;
      if (seen[b] === 0) distinct += 1;
      seen[b] = 1;
    }
    seen.fill(0);
    const classes = Number(lower) + Number(upper) + Number(digit) + Number(other);
    if (bytes.length < 12) {
      warnings.push(`it is only ${String(bytes.length)} bytes long; 12 or more is recommended`);
    }
    if (distinct < 6) warnings.push('it uses very few different characters');
    else if (classes < 2 && bytes.length < 20) {
      warnings.push('it uses one kind of character only; mix in others or make it longer (20+)');
    }
    return warnings;
  });
}

/**
 * A copy of `buf` without one trailing `\n` or `\r\n`; wipes `buf`.
 * @param buf - the bytes read
 * @returns `buf` itself when there is no trailing newline, otherwise a shorter copy
 */
export function stripTrailingNewline(buf: SecretBuf): SecretBuf {
  const cut = buf.use((bytes) => {
    const n = bytes.length;
    if (n >= 2 && bytes[n - 2] === 0x0d && bytes[n - 1] === 0x0a) return 2;
    if (n >= 1 && bytes[n - 1] === 0x0a) return 1;
    return 0;
  });
  if (cut === 0) return buf;
  try {
    return buf.use((bytes) => SecretBuf.from(bytes.subarray(0, bytes.length - cut)));
  } finally {
    buf.wipe();
  }
}

function checkFd(fd: number): void {
  if (!Number.isSafeInteger(fd) || fd < 0) {
    throw new CrError('USAGE', `--passphrase-fd must be a non-negative integer, got ${String(fd)}`);
  }
}

const KEY = {
  CTRL_C: 0x03,
  CTRL_D: 0x04,
  BACKSPACE: 0x08,
  LF: 0x0a,
  CR: 0x0d,
  CTRL_U: 0x15,
  ESC: 0x1b,
  DEL: 0x7f,
} as const;

/**
 * Masked prompt on the controlling terminal (`/dev/tty`, so it works while stdin carries a
 * value). Raw mode, nothing echoed (not even `*`: the length stays private too). Keystrokes
 * arrive as Buffers that are copied into secure memory and zeroed at once; the input is never
 * decoded. Backspace removes one UTF-8 character, Ctrl-U clears, Enter ends, Ctrl-C cancels,
 * Ctrl-D cancels on an empty line and ends otherwise; escape sequences (arrow keys) are ignored.
 *
 * @param prompt - shown on the terminal
 * @param maxBytes - refuse longer input
 * @returns the bytes typed
 * @throws CrError `USAGE` when there is no terminal, `CANCELLED`, `INVALID_INPUT` when too long.
 */
export async function promptSecret(prompt: string, maxBytes: number): Promise<SecretBuf> {
  let inFd: number;
  let outFd: number;
  try {
    inFd = openSync('/dev/tty', constants.O_RDONLY | constants.O_NOCTTY);
  } catch {
    throw new CrError(
      'USAGE',
      'no terminal to ask for the passphrase on; use --passphrase-fd N or --passphrase-file PATH',
    );
  }
  try {
    outFd = openSync('/dev/tty', constants.O_WRONLY | constants.O_NOCTTY);
  } catch (error) {
    closeSync(inFd);
    throw error;
  }
  const input = new ReadStream(inFd);
  const output = new WriteStream(outFd);
  const acc = SecretBuf.alloc(maxBytes);
  let length = 0;
  // A holder: the data callback sets it, which TypeScript's narrowing cannot see.
  const overflow = { seen: false };
  const restore = (): void => {
    try {
      input.setRawMode(false);
    } catch {
      // The terminal went away; nothing to restore.
    }
  };
  process.once('exit', restore);
  try {
    input.setRawMode(true);
    output.write(prompt);
    const outcome = await new Promise<'done' | 'cancel'>((resolve, reject) => {
      const finish = (how: 'done' | 'cancel'): void => {
        input.off('data', onData);
        input.off('error', onError);
        input.off('end', onEnd);
        resolve(how);
      };
      const onError = (error: Error): void => {
        input.off('data', onData);
        reject(error);
      };
      const onEnd = (): void => {
        finish('cancel');
      };
      const onData = (chunk: Buffer): void => {
        try {
          const result = acc.use((view) => {
            for (let i = 0; i < chunk.length; i++) {
              const b = chunk[i] ?? 0;
              if (b === KEY.CR || b === KEY.LF) return 'done';
              if (b === KEY.CTRL_C) return 'cancel';
              if (b === KEY.CTRL_D) return length === 0 ? 'cancel' : 'done';
              if (b === KEY.ESC) return undefined; // the rest of the chunk is the sequence
              if (b === KEY.DEL || b === KEY.BACKSPACE) {
                // Drop continuation bytes (10xxxxxx), then the lead byte of the character.
                while (length > 0) {
                  length -= 1;
                  const dropped = view[length] ?? 0;
                  view[length] = 0;
                  if ((dropped & 0xc0) !== 0x80) break;
                }
              } else if (b === KEY.CTRL_U) {
                view.fill(0, 0, length);
                length = 0;
              } else if (b >= 0x20) {
                if (length < view.length) {
                  view[length] = b;
                  length += 1;
                } else {
                  overflow.seen = true;
                }
              }
            }
            return undefined;
          });
          if (result !== undefined) finish(result);
        } finally {
          chunk.fill(0);
        }
      };
      input.on('data', onData);
      input.on('error', onError);
      input.on('end', onEnd);
    });
    output.write('\n');
    if (outcome === 'cancel') throw new CrError('CANCELLED', 'cancelled');
    if (overflow.seen) throw new CrError('INVALID_INPUT', `input is longer than ${String(maxBytes)} bytes`);
    return acc.use((view) => SecretBuf.from(view.subarray(0, length)));
  } finally {
    acc.wipe();
    restore();
    process.off('exit', restore);
    input.destroy();
    output.destroy();
  }
}
