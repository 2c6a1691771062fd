// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Landlock filesystem access rights (include/uapi/linux/landlock.h, "Filesystem flags"): one
 * bit each, stable kernel ABI. The ABI version that introduced a right is noted; a ruleset
 * handles only the rights its ABI knows ({@link handledAccess}).
 */
export const Access = {
  /** Execute a file. ABI 1. */
  EXECUTE: 1 << 0,
  /** Open a file with write access. ABI 1. */
  WRITE_FILE: 1 << 1,
  /** Open a file with read access. ABI 1. */
  READ_FILE: 1 << 2,
  /** Open a directory or list its content. ABI 1. */
  READ_DIR: 1 << 3,
  /** Remove an empty directory or rename one. ABI 1. */
  REMOVE_DIR: 1 << 4,
  /** Unlink (or rename) a file. ABI 1. */
  REMOVE_FILE: 1 << 5,
  /** Create (or rename or link) a character device. ABI 1. */
  MAKE_CHAR: 1 << 6,
  /** Create (or rename) a directory. ABI 1. */
  MAKE_DIR: 1 << 7,
  /** Create (or rename or link) a regular file. ABI 1. */
  MAKE_REG: 1 << 8,
  /** Create (or rename or link) a Unix domain socket: `bind()` on a path. ABI 1. */
  MAKE_SOCK: 1 << 9,
  /** Create (or rename or link) a named pipe. ABI 1. */
  MAKE_FIFO: 1 << 10,
  /** Create (or rename or link) a block device. ABI 1. */
  MAKE_BLOCK: 1 << 11,
  /** Create (or rename or link) a symbolic link. ABI 1. */
  MAKE_SYM: 1 << 12,
  /** Link or rename a file from or to a different directory. ABI 2. */
  REFER: 1 << 13,
  /** Truncate a file (`truncate`, `ftruncate`, `O_TRUNC`). ABI 3. */
  TRUNCATE: 1 << 14,
  /** `ioctl` on a character or block device opened after the restriction. ABI 5. */
  IOCTL_DEV: 1 << 15,
} as const;

/** The rights that apply to a file (not a directory): a rule on a file may grant only these. */
export const FILE_ACCESS: number =
  Access.EXECUTE | Access.WRITE_FILE | Access.READ_FILE | Access.TRUNCATE | Access.IOCTL_DEV;

/** Read and execute: open files for reading, list directories, run programs. */
export const READ_ACCESS: number = Access.EXECUTE | Access.READ_FILE | Access.READ_DIR;

/**
 * Read, write, create and remove anything but devices (and `ioctl` on devices, harmless where
 * no device can be created): what a project or temp directory needs.
 */
export const WRITE_ACCESS: number =
  READ_ACCESS |
  Access.WRITE_FILE |
  Access.REMOVE_DIR |
  Access.REMOVE_FILE |
  Access.MAKE_DIR |
  Access.MAKE_REG |
  Access.MAKE_SOCK |
  Access.MAKE_FIFO |
  Access.MAKE_SYM |
  Access.REFER |
  Access.TRUNCATE |
  Access.IOCTL_DEV;

/** Read, write and `ioctl` an existing device (`/dev/null`, `/dev/tty`, `/dev/pts/*`). */
export const DEVICE_ACCESS: number = READ_ACCESS | Access.WRITE_FILE | Access.TRUNCATE | Access.IOCTL_DEV;

/**
 * Devices a confined program reads and writes ({@link DEVICE_ACCESS}): the null and zero
 * devices, randomness, its terminal.
 */
export const DEVICE_PATHS: readonly string[] = Object.freeze([
  '/dev/null',
  '/dev/zero',
  '/dev/full',
  '/dev/random',
  '/dev/urandom',
  '/dev/tty',
  '/dev/ptmx',
  '/dev/pts',
]);

/** Every right that changes the file system or a file's content (all but read and execute). */
export const MODIFY_ACCESS: number = allRights() & ~READ_ACCESS;

function allRights(): number {
  let all = 0;
  for (const bit of Object.values(Access)) all |= bit;
  return all;
}

/**
 * The filesystem rights a ruleset of this Landlock ABI handles: everything the ABI knows, so
 * anything not granted by a rule is denied.
 *
 * @param abi - the Landlock ABI version (≥ 1)
 * @returns a bit mask of {@link Access} rights
 * @throws RangeError when `abi` is not an integer ≥ 1
 * @example
 * ```ts
 * handledAccess(7) === 0xffff; // every right up to IOCTL_DEV
 * ```
 */
export function handledAccess(abi: number): number {
  if (!Number.isInteger(abi) || abi < 1)
    throw new RangeError(`abi must be an integer ≥ 1, got ${String(abi)}`);
  let mask = (1 << 13) - 1; // ABI 1: EXECUTE … MAKE_SYM
  if (abi >= 2) mask |= Access.REFER;
  if (abi >= 3) mask |= Access.TRUNCATE;
  if (abi >= 5) mask |= Access.IOCTL_DEV;
  return mask;
}

/** Landlock scopes (ABI 6): what a sandboxed process may not reach outside its domain. */
export const Scope = {
  /** Connect to an abstract Unix socket created outside the domain. */
  ABSTRACT_UNIX_SOCKET: 1 << 0,
  /** Send a signal to a process outside the domain. */
  SIGNAL: 1 << 1,
} as const;

/** Landlock network rights (ABI 4): TCP only; UDP and other sockets are outside Landlock's reach. */
export const NetAccess = {
  /** Bind a TCP socket to a local port. */
  BIND_TCP: 1 << 0,
  /** Connect a TCP socket to a remote port. */
  CONNECT_TCP: 1 << 1,
} as const;
