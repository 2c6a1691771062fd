// SPDX-License-Identifier: AGPL-3.0-only
// The error of starting a child, shared by the POSIX (spawn.ts) and Windows (spawn-win32.ts) paths.

/** Why `spawnChild` could not start the child. */
export const SpawnErrorCode = {
  /** The file does not exist (ENOENT, ENOTDIR from exec). */
  COMMAND_NOT_FOUND: 'COMMAND_NOT_FOUND',
  /** The file exists but may not be executed (EACCES, EPERM, ENOEXEC, EISDIR). */
  NOT_EXECUTABLE: 'NOT_EXECUTABLE',
  /** The working directory does not exist or cannot be entered. */
  BAD_CWD: 'BAD_CWD',
  /** Anything else: pipes, resource limits (EAGAIN, EMFILE, ENOMEM). */
  SPAWN_FAILED: 'SPAWN_FAILED',
} as const;

/** One of the values of {@link (SpawnErrorCode:variable)}. */
export type SpawnErrorCode = (typeof SpawnErrorCode)[keyof typeof SpawnErrorCode];

/** The error `spawnChild` throws; messages name the file or cwd, never env values. */
export class SpawnError extends Error {
  override readonly name = 'SpawnError';
  readonly code: SpawnErrorCode;
  /** The errno posix_spawn or a setup call returned. */
  readonly errno: number;
  /** The file or directory concerned. */
  readonly path: string;

  constructor(code: SpawnErrorCode, errno: number, path: string, message: string) {
    super(message);
    this.code = code;
    this.errno = errno;
    this.path = path;
  }
}

/**
 * Type guard for {@link SpawnError}, optionally for one code.
 * @param value - anything caught
 * @param code - when given, the error must carry this code
 * @returns whether `value` is a SpawnError (with `code`)
 */
export function isSpawnError(value: unknown, code?: SpawnErrorCode): value is SpawnError {
  return value instanceof SpawnError && (code === undefined || value.code === code);
}
