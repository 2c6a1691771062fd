// SPDX-License-Identifier: AGPL-3.0-only
// Byte layouts of the macOS structs Cora reads, decoded from plain buffers so they can be
// tested anywhere. Sources: xnu bsd/sys/un.h (LOCAL_* options), bsd/bsm/audit.h and
// bsd/kern/kern_prot.c (audit_token_t slots), bsd/sys/ucred.h (xucred), bsd/sys/proc_info.h
// (proc_bsdinfo, proc_vnodepathinfo, proc_uniqidentifierinfo), bsd/kern/kern_sysctl.c
// (KERN_PROCARGS2). All little-endian: every Mac Cora supports (x86_64, arm64) is.

/** `<sys/un.h>`: getsockopt level for Unix-domain options. */
export const SOL_LOCAL = 0;
/** `<sys/un.h>`: `struct xucred` of the peer, as of connect. */
export const LOCAL_PEERCRED = 0x001;
/** `<sys/un.h>`: pid of the peer, as of connect. */
export const LOCAL_PEERPID = 0x002;
/** `<sys/un.h>`: `audit_token_t` of the peer, as of connect (pid and pid version). */
export const LOCAL_PEERTOKEN = 0x006;

/** `audit_token_t`: `unsigned int val[8]`. */
export const AUDIT_TOKEN_SIZE = 32;

/** The slots of an audit token that Cora reads (kern_prot.c `set_security_token`). */
export interface AuditToken {
  /** val[1]: effective uid. */
  readonly euid: number;
  /** val[2]: effective gid. */
  readonly egid: number;
  /** val[5]: pid. */
  readonly pid: number;
  /** val[7]: pid version (`p_idversion`), a new one for every process the pid names. */
  readonly pidversion: number;
}

/**
 * Decode an `audit_token_t` (what `audit_token_to_euid`, `_to_pid` and `_to_pidversion` of
 * libbsm read: slots 1, 5 and 7).
 * @returns `null` when the buffer is not exactly 32 bytes
 */
export function decodeAuditToken(buf: Uint8Array, length: number): AuditToken | null {
  if (length !== AUDIT_TOKEN_SIZE || buf.byteLength < AUDIT_TOKEN_SIZE) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, AUDIT_TOKEN_SIZE);
  return {
    euid: view.getUint32(4, true),
    egid: view.getUint32(8, true),
    pid: view.getInt32(20, true),
    pidversion: view.getInt32(28, true),
  };
}

/** `struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; }`. */
export const XUCRED_SIZE = 76;
/** `<sys/ucred.h>`: the only version the kernel writes. */
const XUCRED_VERSION = 0;

/**
 * Decode a `struct xucred`: the effective uid, and `cr_groups[0]` (the effective gid).
 * @returns `null` for a short buffer, an unknown version or no groups
 */
export function decodeXucred(buf: Uint8Array, length: number): { uid: number; gid: number } | null {
  if (length !== XUCRED_SIZE || buf.byteLength < XUCRED_SIZE) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, XUCRED_SIZE);
  if (view.getUint32(0, true) !== XUCRED_VERSION) return null;
  const ngroups = view.getInt16(8, true);
  if (ngroups < 1 || ngroups > 16) return null;
  // cr_groups starts at 12: the short at 8 is padded to the 4-byte alignment of gid_t.
  return { uid: view.getUint32(4, true), gid: view.getUint32(12, true) };
}

/** `<sys/proc_info.h>`: `proc_pidinfo` flavors. */
export const PROC_PIDTBSDINFO = 3;
export const PROC_PIDVNODEPATHINFO = 9;
/** xnu `proc_info.h` (not in the public SDK): BSD info and unique ids in one call. */
export const PROC_PIDT_BSDINFOWITHUNIQID = 18;
/** `sizeof(struct proc_bsdinfo)`. */
export const PROC_BSDINFO_SIZE = 136;
/** `sizeof(struct proc_uniqidentifierinfo)`. */
export const PROC_UNIQID_SIZE = 56;
/** `sizeof(struct proc_vnodepathinfo)`: two `vnode_info_path` of 152 + MAXPATHLEN bytes. */
export const PROC_VNODEPATHINFO_SIZE = 2352;
/** `PROC_PIDPATHINFO_MAXSIZE` (4 × MAXPATHLEN). */
export const PROC_PIDPATHINFO_MAXSIZE = 4096;

/** `pbi_status` of a process that has exited and is not reaped yet (`SZOMB`). */
const SZOMB = 5;
/** `pbi_flags`: the process is working its way through exit(). */
const PROC_FLAG_INEXIT = 4;

/** The parts of `struct proc_bsdinfo` (and, when available, the pid version) Cora uses. */
export interface BsdInfo {
  readonly pid: number;
  readonly ppid: number;
  /** `pbi_uid`: the effective uid. */
  readonly uid: number;
  /** `pbi_gid`: the effective gid. */
  readonly gid: number;
  /** Start time in microseconds since the epoch (`pbi_start_tvsec`, `pbi_start_tvusec`). */
  readonly startTime: bigint;
  /** Zombie or exiting. */
  readonly dead: boolean;
  /** `p_idversion` from `proc_uniqidentifierinfo`, or `null` when only PROC_PIDTBSDINFO answered. */
  readonly pidversion: number | null;
}

/**
 * Decode a `struct proc_bsdinfo`, optionally followed by a `proc_uniqidentifierinfo`
 * (`PROC_PIDT_BSDINFOWITHUNIQID`). `length` is what `proc_pidinfo` returned.
 * @returns `null` when `length` is neither size (old kernel, truncated answer)
 */
export function decodeBsdInfo(buf: Uint8Array, length: number): BsdInfo | null {
  const withUniq = length === PROC_BSDINFO_SIZE + PROC_UNIQID_SIZE;
  if (!withUniq && length !== PROC_BSDINFO_SIZE) return null;
  if (buf.byteLength < length) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, length);
  const flags = view.getUint32(0, true);
  const status = view.getUint32(4, true);
  const sec = view.getBigUint64(120, true);
  const usec = view.getBigUint64(128, true);
  if (usec >= 1_000_000n) return null; // not a timeval: the layout is not what we think
  return {
    pid: view.getUint32(12, true),
    ppid: view.getUint32(16, true),
    uid: view.getUint32(20, true),
    gid: view.getUint32(24, true),
    startTime: sec * 1_000_000n + usec,
    dead: status === SZOMB || (flags & PROC_FLAG_INEXIT) !== 0,
    // p_uuid[16], p_uniqueid, p_puniqueid, then p_idversion at offset 32 of the second struct.
    pidversion: withUniq ? view.getInt32(PROC_BSDINFO_SIZE + 32, true) : null,
  };
}

/** A NUL-terminated UTF-8 string at `offset`, at most `max` bytes; `null` without a NUL. */
export function cString(buf: Uint8Array, offset: number, max: number): string | null {
  const end = Math.min(buf.byteLength, offset + max);
  const nul = buf.subarray(offset, end).indexOf(0);
  if (nul < 0) return null;
  return Buffer.from(buf.buffer, buf.byteOffset + offset, nul).toString('utf8');
}

/** `vip_path` of `pvi_cdir`: after `struct vnode_info` (vinfo_stat 136 + type, pad, fsid = 152). */
const CDIR_PATH_OFFSET = 152;
const MAXPATHLEN = 1024;

/** The working directory from a `struct proc_vnodepathinfo`, or `null` when empty or malformed. */
export function decodeCwd(buf: Uint8Array, length: number): string | null {
  if (length !== PROC_VNODEPATHINFO_SIZE) return null;
  const path = cString(buf, CDIR_PATH_OFFSET, MAXPATHLEN);
  return path === null || path === '' ? null : path;
}

/** sysctl MIB names: `CTL_KERN`, `KERN_PROCARGS2` (kern_sysctl.c). */
export const CTL_KERN = 1;
export const KERN_PROCARGS2 = 49;

/**
 * argv from a `KERN_PROCARGS2` answer: `int argc`, the exec path, NUL padding, then argc
 * NUL-terminated strings — followed by the environment, which is never decoded (it may
 * hold the caller's secrets; the caller wipes the buffer).
 * @returns `null` when the answer is malformed (argc out of range, strings cut short)
 */
export function decodeProcArgs(buf: Uint8Array, length: number): string[] | null {
  if (length < 4 || buf.byteLength < length) return null;
  const argc = new DataView(buf.buffer, buf.byteOffset, 4).getInt32(0, true);
  if (argc < 0 || argc > 65_536) return null;
  const data = buf.subarray(0, length);
  let at = data.indexOf(0, 4); // end of the exec path
  if (at < 0) return null;
  while (at < length && data[at] === 0) at++; // padding up to argv[0]
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) {
    const end = data.indexOf(0, at);
    if (end < 0) return null;
    argv.push(Buffer.from(data.buffer, data.byteOffset + at, end - at).toString('utf8'));
    at = end + 1;
  }
  return argv;
}
