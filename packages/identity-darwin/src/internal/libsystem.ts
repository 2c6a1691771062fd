// SPDX-License-Identifier: AGPL-3.0-only
// The libSystem calls Node does not expose, through koffi (architecture §3), loaded at first
// use. macOS only: written against the documented prototypes (<sys/socket.h>, <libproc.h>,
// <sys/sysctl.h>) and not yet run on a macOS host. Every call returns raw bytes; decoding
// lives in layout.ts, which is tested everywhere.
import { createRequire } from 'node:module';
import type Koffi from 'koffi';
import {
  AUDIT_TOKEN_SIZE,
  CTL_KERN,
  KERN_PROCARGS2,
  LOCAL_PEERCRED,
  LOCAL_PEERPID,
  LOCAL_PEERTOKEN,
  PROC_BSDINFO_SIZE,
  PROC_PIDPATHINFO_MAXSIZE,
  PROC_PIDT_BSDINFOWITHUNIQID,
  PROC_PIDTBSDINFO,
  PROC_PIDVNODEPATHINFO,
  PROC_UNIQID_SIZE,
  PROC_VNODEPATHINFO_SIZE,
  SOL_LOCAL,
  XUCRED_SIZE,
} from './layout.ts';

interface Calls {
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: number[]): number;
  proc_pidinfo(pid: number, flavor: number, arg: number, buffer: Buffer, size: number): number;
  proc_pidpath(pid: number, buffer: Buffer, size: number): number;
  sysctl(
    name: Int32Array,
    namelen: number,
    old: Buffer,
    oldlen: number[],
    newp: null,
    newlen: number,
  ): number;
  errno(): number;
}

/** The C prototypes bound (exported so a test can check koffi parses them off macOS). */
export const PROTOTYPES = {
  getsockopt:
    'int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)',
  proc_pidinfo: 'int proc_pidinfo(int pid, int flavor, uint64_t arg, _Out_ uint8_t *buffer, int buffersize)',
  proc_pidpath: 'int proc_pidpath(int pid, _Out_ uint8_t *buffer, uint32_t buffersize)',
  sysctl:
    'int sysctl(int *name, unsigned int namelen, _Out_ uint8_t *oldp, _Inout_ size_t *oldlenp, void *newp, size_t newlen)',
} as const;

let calls: Calls | undefined;

function load(): Calls {
  if (calls !== undefined) return calls;
  // Required here, not imported: apps that never identify a caller never load the addon.
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const lib = koffi.load('/usr/lib/libSystem.B.dylib');
  const getsockopt = lib.func(PROTOTYPES.getsockopt);
  const pidinfo = lib.func(PROTOTYPES.proc_pidinfo);
  const pidpath = lib.func(PROTOTYPES.proc_pidpath);
  const sysctl = lib.func(PROTOTYPES.sysctl);
  calls = {
    getsockopt: (fd, level, name, value, length) => getsockopt(fd, level, name, value, length) as number,
    proc_pidinfo: (pid, flavor, arg, buffer, size) => pidinfo(pid, flavor, arg, buffer, size) as number,
    proc_pidpath: (pid, buffer, size) => pidpath(pid, buffer, size) as number,
    sysctl: (name, namelen, old, oldlen, newp, newlen) =>
      sysctl(name, namelen, old, oldlen, newp, newlen) as number,
    errno: () => koffi.errno(),
  };
  return calls;
}

/** A failed libSystem call: `errno` is the C errno. */
export class LibcError extends Error {
  override readonly name = 'LibcError';
  readonly errno: number;
  constructor(call: string, code: number) {
    super(`${call} failed with errno ${code}`);
    this.errno = code;
  }
}

/** getsockopt(SOL_LOCAL, option) into a buffer of `size`; returns the buffer and the length written. */
function localOption(
  fd: number,
  option: number,
  size: number,
  what: string,
): { buf: Buffer; length: number } {
  const c = load();
  const buf = Buffer.alloc(size);
  const length = [size];
  if (c.getsockopt(fd, SOL_LOCAL, option, buf, length) !== 0) throw new LibcError(what, c.errno());
  return { buf, length: length[0] ?? 0 };
}

/** LOCAL_PEERTOKEN: the peer's `audit_token_t` bytes as of connect. */
function peerTokenBytes(fd: number): { buf: Buffer; length: number } {
  return localOption(fd, LOCAL_PEERTOKEN, AUDIT_TOKEN_SIZE, 'getsockopt(LOCAL_PEERTOKEN)');
}

/** LOCAL_PEERCRED: the peer's `struct xucred` bytes as of connect. */
function peerCredBytes(fd: number): { buf: Buffer; length: number } {
  return localOption(fd, LOCAL_PEERCRED, XUCRED_SIZE, 'getsockopt(LOCAL_PEERCRED)');
}

/** LOCAL_PEERPID: the peer's pid (`pid_t`) as of connect. */
function peerPidBytes(fd: number): { buf: Buffer; length: number } {
  return localOption(fd, LOCAL_PEERPID, 4, 'getsockopt(LOCAL_PEERPID)');
}

/**
 * proc_pidinfo BSD info: with the unique ids (pid version) when the kernel answers
 * PROC_PIDT_BSDINFOWITHUNIQID, else plain PROC_PIDTBSDINFO.
 * @throws LibcError with the errno (ESRCH: gone; EPERM: another uid).
 */
function bsdInfoBytes(pid: number): { buf: Buffer; length: number } {
  const c = load();
  const full = PROC_BSDINFO_SIZE + PROC_UNIQID_SIZE;
  const buf = Buffer.alloc(full);
  const both = c.proc_pidinfo(pid, PROC_PIDT_BSDINFOWITHUNIQID, 0, buf, full);
  if (both === full) return { buf, length: both };
  const written = c.proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, buf, PROC_BSDINFO_SIZE);
  if (written <= 0) throw new LibcError('proc_pidinfo(PROC_PIDTBSDINFO)', c.errno());
  return { buf, length: written };
}

/** proc_pidpath: the executable's path. @throws LibcError */
function pidPath(pid: number): string {
  const c = load();
  const buf = Buffer.alloc(PROC_PIDPATHINFO_MAXSIZE);
  const n = c.proc_pidpath(pid, buf, PROC_PIDPATHINFO_MAXSIZE);
  if (n <= 0) throw new LibcError('proc_pidpath', c.errno());
  return buf.toString('utf8', 0, n);
}

/** PROC_PIDVNODEPATHINFO bytes (cwd and root). @throws LibcError */
function vnodePathBytes(pid: number): { buf: Buffer; length: number } {
  const c = load();
  const buf = Buffer.alloc(PROC_VNODEPATHINFO_SIZE);
  const n = c.proc_pidinfo(pid, PROC_PIDVNODEPATHINFO, 0, buf, PROC_VNODEPATHINFO_SIZE);
  if (n <= 0) throw new LibcError('proc_pidinfo(PROC_PIDVNODEPATHINFO)', c.errno());
  return { buf, length: n };
}

/** Largest KERN_PROCARGS2 answer read (ARG_MAX is 1 MiB on current macOS). */
const PROCARGS_MAX = 1 << 20;

/**
 * Run `use` over the KERN_PROCARGS2 bytes of `pid`, then wipe them: they include the
 * process's environment, which may hold its secrets.
 * @throws LibcError
 */
function withProcArgs<T>(pid: number, use: (buf: Buffer, length: number) => T): T {
  const c = load();
  const buf = Buffer.alloc(PROCARGS_MAX);
  try {
    const length = [PROCARGS_MAX];
    const mib = Int32Array.of(CTL_KERN, KERN_PROCARGS2, pid);
    if (c.sysctl(mib, 3, buf, length, null, 0) !== 0)
      throw new LibcError('sysctl(KERN_PROCARGS2)', c.errno());
    return use(buf, length[0] ?? 0);
  } finally {
    buf.fill(0);
  }
}

/** Raw bytes of one kernel answer and the length the kernel wrote. */
export interface Answer {
  readonly buf: Buffer;
  readonly length: number;
}

/**
 * The kernel calls verification makes, as one object: libSystem on macOS, a strict fake in
 * tests elsewhere (the orchestration in peer.ts is then tested without a Mac).
 */
export interface Kernel {
  peerToken(fd: number): Answer;
  peerCred(fd: number): Answer;
  peerPid(fd: number): Answer;
  bsdInfo(pid: number): Answer;
  pidPath(pid: number): string;
  vnodePath(pid: number): Answer;
  withProcArgs<T>(pid: number, use: (buf: Buffer, length: number) => T): T;
}

/** The real kernel: libSystem through koffi, loaded at the first call. */
export const libSystem: Kernel = Object.freeze({
  peerToken: peerTokenBytes,
  peerCred: peerCredBytes,
  peerPid: peerPidBytes,
  bsdInfo: bsdInfoBytes,
  pidPath,
  vnodePath: vnodePathBytes,
  withProcArgs,
});
