// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The pty of an interactive child (issue 15, SECURITY.md "Interactive children"): the service
 * holds the master, the child opens the slave as its controlling terminal (spawn.ts, with
 * POSIX_SPAWN_SETSID and an open file action). The service itself never opens the slave, so it
 * cannot become the service's controlling terminal, and the master is O_CLOEXEC, so no other
 * child inherits it.
 */
import koffi from 'koffi';

/** <fcntl.h> flags (glibc, x86_64 and aarch64). */
const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_CLOEXEC = 0o2000000;
/** <asm-generic/ioctls.h>: the same numbers on x86_64 and aarch64. */
const TIOCSWINSZ = 0x5414;
/** ptsname_r's buffer: "/dev/pts/NNN" fits many times over. */
const PTS_NAME_BYTES = 128;

interface PtyLibc {
  posixOpenpt(flags: number): number;
  grantpt(fd: number): number;
  unlockpt(fd: number): number;
  ptsnameR(fd: number, buf: Uint8Array, len: number): number;
  ioctl(fd: number, request: number, arg: Uint16Array): number;
  close(fd: number): number;
}

let libc: PtyLibc | undefined;

function load(): PtyLibc {
  if (libc !== undefined) return libc;
  const lib = koffi.load('libc.so.6');
  const openpt = lib.func('int posix_openpt(int flags)');
  const grant = lib.func('int grantpt(int fd)');
  const unlock = lib.func('int unlockpt(int fd)');
  const ptsname = lib.func('int ptsname_r(int fd, void *buf, size_t len)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, void *arg)');
  const close = lib.func('int close(int fd)');
  libc = {
    posixOpenpt: (flags) => openpt(flags) as number,
    grantpt: (fd) => grant(fd) as number,
    unlockpt: (fd) => unlock(fd) as number,
    ptsnameR: (fd, buf, len) => ptsname(fd, buf, len) as number,
    ioctl: (fd, request, arg) => ioctl(fd, request, arg) as number,
    close: (fd) => close(fd) as number,
  };
  return libc;
}

/** A freshly opened pty: the master fd (the caller owns it) and the slave's path. */
export interface OpenedPty {
  readonly master: number;
  readonly slavePath: string;
}

/** A terminal size; out-of-range values are clamped to 1–65535 (the wire bounds them already). */
export interface PtySize {
  readonly cols: number;
  readonly rows: number;
}

/**
 * Open a pty master (O_RDWR | O_NOCTTY | O_CLOEXEC), unlock its slave and size it.
 * @param size - the initial window size
 * @returns the master fd and the slave path
 * @throws Error with the errno when the kernel refuses (no /dev/ptmx, pty limit reached).
 */
export function openPty(size: PtySize): OpenedPty {
  const c = load();
  const master = c.posixOpenpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) throw new Error(`cannot open a pty (errno ${String(koffi.errno())})`);
  try {
    if (c.grantpt(master) !== 0 || c.unlockpt(master) !== 0) {
      throw new Error(`cannot unlock the pty (errno ${String(koffi.errno())})`);
    }
    const buf = new Uint8Array(new ArrayBuffer(PTS_NAME_BYTES));
    const rc = c.ptsnameR(master, buf, PTS_NAME_BYTES);
    if (rc !== 0) throw new Error(`cannot name the pty (errno ${String(rc)})`);
    const end = buf.indexOf(0);
    const slavePath = Buffer.from(buf.subarray(0, end < 0 ? 0 : end)).toString('utf8');
    if (!slavePath.startsWith('/dev/')) throw new Error('the pty has no slave path');
    if (!resizePty(master, size)) throw new Error(`cannot size the pty (errno ${String(koffi.errno())})`);
    return { master, slavePath };
  } catch (error) {
    c.close(master);
    throw error;
  }
}

/**
 * Set the window size of the pty behind `master` (TIOCSWINSZ); the kernel sends SIGWINCH to
 * the pty's foreground process group when it changed. The caller must know `master` is still
 * its open master fd (a closed number may have been reused).
 * @param master - the master fd
 * @param size - columns and rows
 * @returns whether the kernel took it
 */
export function resizePty(master: number, size: PtySize): boolean {
  const clamp = (n: number): number => Math.min(0xffff, Math.max(1, Math.trunc(n) || 1));
  // struct winsize { unsigned short ws_row, ws_col, ws_xpixel, ws_ypixel; }
  const ws = new Uint16Array(new ArrayBuffer(8));
  ws[0] = clamp(size.rows);
  ws[1] = clamp(size.cols);
  return load().ioctl(master, TIOCSWINSZ, ws) === 0;
}

/**
 * Close a master fd that no stream owns yet (a failed spawn).
 * @param master - the fd from {@link openPty}
 */
export function closePty(master: number): void {
  load().close(master);
}
