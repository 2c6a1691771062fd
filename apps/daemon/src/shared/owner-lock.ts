// SPDX-License-Identifier: AGPL-3.0-only
/**
 * One service per vault home, whatever the environment says. The service holds a POSIX
 * record lock (`fcntl F_SETLK`) on `<home>/service.lock` for its whole life; the kernel drops
 * it when the process dies, so a stale lock cannot exist, and `F_GETLK` tells anyone else the
 * holder's pid. The socket is found from the home too (`<home>/run/cora.sock`), so every shell
 * that names the same home — through CORA_HOME, `~/.cora`, a symlink or a bind mount — reaches
 * the same service.
 *
 * Why fcntl and not a lock file with a pid in it: the kernel is the only party a same-user
 * process cannot lie to about who holds it, and a crash leaves nothing to clean up.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { CrError } from './errors.ts';
import { koffi } from './ffi.ts';
import { claimOwnershipWin32, ownerPidWin32 } from './owner-lock-win32.ts';

/**
 * Exit code of a service that found the vault owned by another (EX_TEMPFAIL): it exits at once
 * and writes nothing, and the CLI that started it connects to the owner instead.
 */
export const EXIT_NOT_OWNER = 75;

/** The lock file inside the home (empty; only its kernel lock matters). */
const OWNER_LOCK_FILE = 'service.lock';

/** What the record-lock calls look like on one platform (`<fcntl.h>`, `<sys/errno.h>`). */
export interface FlockAbi {
  readonly F_GETLK: number;
  readonly F_SETLK: number;
  readonly F_WRLCK: number;
  readonly F_UNLCK: number;
  /** `sizeof(struct flock)` and the offsets of `l_type` (short) and `l_pid` (pid_t). */
  readonly size: number;
  readonly typeOffset: number;
  readonly pidOffset: number;
  /** The errnos of a lock held by someone else. */
  readonly busy: readonly number[];
  readonly library: string;
}

/**
 * The record-lock ABI of a platform. Linux (x86_64 and aarch64 alike): `struct flock { short
 * l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid; }`. macOS (xnu, the BSD
 * layout; written against the headers, not yet run on a Mac): `{ off_t l_start; off_t l_len;
 * pid_t l_pid; short l_type; short l_whence; }` and other command and type numbers.
 *
 * @param platform - a `process.platform` value
 * @returns the ABI
 * @throws Error on a platform without POSIX record locks here (the service refuses to start).
 */
export function flockAbi(platform: NodeJS.Platform): FlockAbi {
  if (platform === 'linux') {
    return {
      F_GETLK: 5,
      F_SETLK: 6,
      F_WRLCK: 1,
      F_UNLCK: 2,
      size: 32,
      typeOffset: 0,
      pidOffset: 24,
      busy: [11, 13],
      library: 'libc.so.6',
    };
  }
  if (platform === 'darwin') {
    return {
      F_GETLK: 7,
      F_SETLK: 8,
      F_WRLCK: 3,
      F_UNLCK: 2,
      size: 24,
      typeOffset: 20,
      pidOffset: 16,
      busy: [35, 13],
      library: '/usr/lib/libSystem.B.dylib',
    };
  }
  throw new Error(`the vault owner lock is not implemented on ${platform}`);
}

/**
 * A whole-file write lock request (`l_start` = `l_len` = 0, `SEEK_SET`).
 * @param abi - the platform's {@link FlockAbi}
 * @returns the `struct flock` bytes
 */
export function flockRequest(abi: FlockAbi): Uint8Array {
  const buf = new Uint8Array(abi.size);
  new DataView(buf.buffer).setInt16(abi.typeOffset, abi.F_WRLCK, true);
  return buf;
}

/**
 * The holder's pid in an `F_GETLK` answer, or null when nobody holds the lock.
 * @param abi - the platform's {@link FlockAbi}
 * @param answer - the `struct flock` the kernel filled
 * @returns the pid or null
 */
export function flockHolder(abi: FlockAbi, answer: Uint8Array): number | null {
  const view = new DataView(answer.buffer, answer.byteOffset, abi.size);
  if (view.getInt16(abi.typeOffset, true) === abi.F_UNLCK) return null;
  return view.getInt32(abi.pidOffset, true);
}

type Fcntl = (fd: number, cmd: number, flock: Uint8Array) => number;
let fcntl: Fcntl | undefined;
let abi: FlockAbi | undefined;

function loadFcntl(): { fcntl: Fcntl; abi: FlockAbi } {
  abi ??= flockAbi(process.platform);
  if (fcntl === undefined) {
    const fn = koffi().load(abi.library).func('int fcntl(int fd, int cmd, ...)');
    fcntl = (fd, cmd, flock) => fn(fd, cmd, 'void *', flock) as number;
  }
  return { fcntl, abi };
}

function openLockFile(home: string, write: boolean): number | null {
  // libuv opens every descriptor close-on-exec, so children never inherit the lock.
  const flags = write
    ? constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK
    : constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fd: number;
  try {
    fd = openSync(join(home, OWNER_LOCK_FILE), flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!write && code === 'ENOENT') return null;
    if (code === 'ELOOP') {
      throw new CrError('UNSAFE_PATH', `${join(home, OWNER_LOCK_FILE)} is a symbolic link; remove it`);
    }
    throw error;
  }
  const st = fstatSync(fd);
  if (!st.isFile() || st.uid !== (process.getuid?.() ?? st.uid)) {
    closeSync(fd);
    throw new CrError(
      'UNSAFE_PATH',
      `${join(home, OWNER_LOCK_FILE)} is not a regular file of yours; remove it and retry`,
    );
  }
  return fd;
}

/**
 * Which process owns the vault in `home`, as the kernel sees it.
 * @param home - the Cora home
 * @returns the pid of the live owner, or null when no process holds the lock
 * @throws CrError `UNSAFE_PATH` when the lock path is a symlink or not a file of ours.
 */
export function ownerPid(home: string): number | null {
  if (process.platform === 'win32') return ownerPidWin32(home);
  const fd = openLockFile(home, false);
  if (fd === null) return null;
  try {
    const { fcntl: call, abi: lock } = loadFcntl();
    const query = flockRequest(lock);
    if (call(fd, lock.F_GETLK, query) !== 0) {
      throw new Error(`fcntl(F_GETLK) failed (errno ${String(koffi().errno())})`);
    }
    return flockHolder(lock, query);
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether the lock held through `fd` is still on the file at `<home>/service.lock` (a same-user
 * process can unlink or replace the file; then a second service could lock a new one).
 * @param home - the Cora home
 * @param fd - the descriptor {@link claimOwnership} returned
 * @returns false when the path is gone or names another file
 */
export function stillOwner(home: string, fd: number): boolean {
  // Windows: the held file cannot be deleted or renamed while its handle is open (no
  // FILE_SHARE_DELETE, owner-lock-win32.ts), so the lock cannot be taken from under us.
  if (process.platform === 'win32') return true;
  try {
    const held = fstatSync(fd);
    const atPath = lstatSync(join(home, OWNER_LOCK_FILE));
    return held.ino === atPath.ino && held.dev === atPath.dev;
  } catch {
    return false;
  }
}

/** The outcome of {@link claimOwnership}. */
export type Claim =
  { readonly owned: true; readonly fd: number } | { readonly owned: false; readonly holder: number | null };

/**
 * Take the vault's ownership for the life of this process (Windows: owner-lock-win32.ts; `fd` is
 * then the file's HANDLE). The descriptor must stay open (and
 * no other descriptor of the same file may be closed in this process: POSIX record locks go
 * with any close), so it is never closed here.
 *
 * @param home - the Cora home (must exist)
 * @returns `{owned: true}` or the pid that holds it
 */
export function claimOwnership(home: string): Claim {
  if (process.platform === 'win32') return claimOwnershipWin32(home);
  const fd = openLockFile(home, true);
  if (fd === null) throw new Error('unreachable: the lock file is created');
  const { fcntl: call, abi: lock } = loadFcntl();
  if (call(fd, lock.F_SETLK, flockRequest(lock)) === 0) {
    // The file may have been unlinked or replaced between our open and our lock: then we hold
    // a lock nobody else can see. Only the file at the path counts.
    if (stillOwner(home, fd)) return { owned: true, fd };
    closeSync(fd);
    return { owned: false, holder: ownerPid(home) };
  }
  const errno = koffi().errno();
  closeSync(fd);
  if (!lock.busy.includes(errno)) {
    throw new Error(`fcntl(F_SETLK) on ${join(home, OWNER_LOCK_FILE)} failed (errno ${String(errno)})`);
  }
  return { owned: false, holder: ownerPid(home) };
}
