// SPDX-License-Identifier: AGPL-3.0-only
// Fixture buffers in the layouts of Apple's headers (xnu bsd/sys/un.h, bsd/sys/ucred.h,
// bsd/sys/proc_info.h, kern_prot.c, kern_sysctl.c), written field by field at the documented
// offsets: what the macOS kernel would hand back, for the tests that cannot call it here.
import {
  AUDIT_TOKEN_SIZE,
  PROC_BSDINFO_SIZE,
  PROC_UNIQID_SIZE,
  PROC_VNODEPATHINFO_SIZE,
  XUCRED_SIZE,
} from '../src/internal/layout.ts';

/** audit_token_t val[0..7]: auid, euid, egid, ruid, rgid, pid, asid, pidversion. */
export function token(val: readonly number[]): Buffer {
  const buf = Buffer.alloc(AUDIT_TOKEN_SIZE);
  val.forEach((v, i) => buf.writeUInt32LE(v >>> 0, i * 4));
  return buf;
}

export function xucred(version: number, uid: number, groups: readonly number[]): Buffer {
  const buf = Buffer.alloc(XUCRED_SIZE);
  buf.writeUInt32LE(version, 0);
  buf.writeUInt32LE(uid, 4);
  buf.writeInt16LE(groups.length, 8);
  groups.forEach((g, i) => buf.writeUInt32LE(g, 12 + i * 4));
  return buf;
}

export interface BsdFields {
  flags?: number;
  status?: number;
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  sec: bigint;
  usec: bigint;
  pidversion?: number;
}

/** struct proc_bsdinfo (136 bytes), optionally followed by proc_uniqidentifierinfo (56). */
export function bsdinfo(f: BsdFields): Buffer {
  const buf = Buffer.alloc(PROC_BSDINFO_SIZE + (f.pidversion === undefined ? 0 : PROC_UNIQID_SIZE));
  buf.writeUInt32LE(f.flags ?? 0x10, 0); // PROC_FLAG_LP64
  buf.writeUInt32LE(f.status ?? 2, 4); // SRUN
  buf.writeUInt32LE(f.pid, 12);
  buf.writeUInt32LE(f.ppid, 16);
  buf.writeUInt32LE(f.uid, 20);
  buf.writeUInt32LE(f.gid, 24);
  buf.write('zsh\0', 48, 'latin1'); // pbi_comm
  buf.writeBigUInt64LE(f.sec, 120);
  buf.writeBigUInt64LE(f.usec, 128);
  if (f.pidversion !== undefined) {
    buf.writeBigUInt64LE(0x1234n, PROC_BSDINFO_SIZE + 16); // p_uniqueid
    buf.writeInt32LE(f.pidversion, PROC_BSDINFO_SIZE + 32);
  }
  return buf;
}

/** argc, exec path, NUL padding, argv, then the environment (KERN_PROCARGS2), then slack. */
export function procargs(
  argc: number,
  execPath: string,
  argv: readonly string[],
  env: readonly string[],
): Buffer {
  const head = Buffer.alloc(4);
  head.writeInt32LE(argc, 0);
  const body = `${execPath}\0\0\0\0${argv.map((a) => `${a}\0`).join('')}${env.map((e) => `${e}\0`).join('')}`;
  return Buffer.concat([head, Buffer.from(body, 'utf8'), Buffer.alloc(64)]);
}

/** struct proc_vnodepathinfo with the cwd in pvi_cdir.vip_path (offset 152). */
export function vnodepath(cwd: string): Buffer {
  const buf = Buffer.alloc(PROC_VNODEPATHINFO_SIZE);
  buf.write(`${cwd}\0`, 152, 'utf8');
  return buf;
}
