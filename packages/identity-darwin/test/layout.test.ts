// SPDX-License-Identifier: AGPL-3.0-only
// The struct decoders, fed fixture buffers built at the offsets of Apple's headers (xnu
// bsd/sys/un.h, bsd/sys/ucred.h, bsd/sys/proc_info.h, kern_prot.c, kern_sysctl.c). These run
// everywhere; what the kernel really writes is checked by darwin.test.ts on a macOS host.
import { describe, expect, it } from 'vitest';
import {
  cString,
  decodeAuditToken,
  decodeBsdInfo,
  decodeCwd,
  decodeProcArgs,
  decodeXucred,
  LOCAL_PEERCRED,
  LOCAL_PEERPID,
  LOCAL_PEERTOKEN,
  PROC_BSDINFO_SIZE,
  PROC_UNIQID_SIZE,
  PROC_VNODEPATHINFO_SIZE,
  SOL_LOCAL,
  XUCRED_SIZE,
} from '../src/internal/layout.ts';
import { bsdinfo, procargs, token, xucred, type BsdFields } from './structs.ts';

describe('option numbers', () => {
  it('should match <sys/un.h>', () => {
    expect([SOL_LOCAL, LOCAL_PEERCRED, LOCAL_PEERPID, LOCAL_PEERTOKEN]).toEqual([0, 1, 2, 6]);
  });
});

describe('decodeAuditToken', () => {
  it('should read euid from val[1], egid from val[2], pid from val[5], pidversion from val[7]', () => {
    const buf = token([4294967295, 501, 20, 502, 21, 4242, 100_007, 77]);
    expect(decodeAuditToken(buf, 32)).toEqual({ euid: 501, egid: 20, pid: 4242, pidversion: 77 });
  });

  it('should refuse an answer of another length', () => {
    expect(decodeAuditToken(token([0, 501, 20, 0, 0, 4242, 0, 1]), 28)).toBeNull();
    expect(decodeAuditToken(Buffer.alloc(16), 32)).toBeNull();
  });
});

describe('decodeXucred', () => {
  it('should read cr_uid and cr_groups[0] after the padded cr_ngroups', () => {
    expect(decodeXucred(xucred(0, 501, [20, 12, 61]), XUCRED_SIZE)).toEqual({ uid: 501, gid: 20 });
  });

  it('should refuse an unknown version, no groups, too many groups or a short answer', () => {
    expect(decodeXucred(xucred(1, 501, [20]), XUCRED_SIZE)).toBeNull();
    expect(decodeXucred(xucred(0, 501, []), XUCRED_SIZE)).toBeNull();
    const many = xucred(0, 501, [20]);
    many.writeInt16LE(17, 8);
    expect(decodeXucred(many, XUCRED_SIZE)).toBeNull();
    expect(decodeXucred(xucred(0, 501, [20]), 72)).toBeNull();
  });
});

describe('decodeBsdInfo', () => {
  const base: BsdFields = { pid: 4242, ppid: 4000, uid: 501, gid: 20, sec: 1_764_800_000n, usec: 123_456n };

  it('should read pid, ppid, uid, gid and the start time in microseconds', () => {
    const buf = bsdinfo(base);
    expect(decodeBsdInfo(buf, PROC_BSDINFO_SIZE)).toEqual({
      pid: 4242,
      ppid: 4000,
      uid: 501,
      gid: 20,
      startTime: 1_764_800_000_123_456n,
      dead: false,
      pidversion: null,
    });
  });

  it('should read p_idversion at offset 32 of the trailing proc_uniqidentifierinfo', () => {
    const buf = bsdinfo({ ...base, pidversion: 31337 });
    expect(decodeBsdInfo(buf, PROC_BSDINFO_SIZE + PROC_UNIQID_SIZE)?.pidversion).toBe(31337);
  });

  it('should call a zombie (SZOMB) or an exiting process (PROC_FLAG_INEXIT) dead', () => {
    expect(decodeBsdInfo(bsdinfo({ ...base, status: 5 }), PROC_BSDINFO_SIZE)?.dead).toBe(true);
    expect(decodeBsdInfo(bsdinfo({ ...base, flags: 0x10 | 4 }), PROC_BSDINFO_SIZE)?.dead).toBe(true);
  });

  it('should refuse a truncated answer or one whose microseconds are not a timeval', () => {
    expect(decodeBsdInfo(bsdinfo(base), 128)).toBeNull();
    expect(decodeBsdInfo(bsdinfo(base), 0)).toBeNull();
    expect(decodeBsdInfo(bsdinfo({ ...base, usec: 1_000_000n }), PROC_BSDINFO_SIZE)).toBeNull();
  });
});

describe('decodeProcArgs', () => {
  it('should return argv and never the environment after it', () => {
    const buf = procargs(3, '/usr/bin/python3', ['python3', 'agent.py', 'ünï'], ['API_KEY=canary-secret']);
    const argv = decodeProcArgs(buf, buf.length - 64);
    expect(argv).toEqual(['python3', 'agent.py', 'ünï']);
    expect(JSON.stringify(argv)).not.toContain('canary');
  });

  it('should refuse a negative or huge argc, or argv cut short', () => {
    const neg = procargs(-1, '/bin/sh', ['sh'], []);
    expect(decodeProcArgs(neg, neg.length)).toBeNull();
    const huge = procargs(1 << 20, '/bin/sh', ['sh'], []);
    expect(decodeProcArgs(huge, huge.length)).toBeNull();
    const cut = procargs(2, '/bin/sh', ['sh', 'script-without-end'], []);
    expect(decodeProcArgs(cut, cut.length - 64 - 1)).toBeNull();
    expect(decodeProcArgs(Buffer.alloc(2), 2)).toBeNull();
  });
});

describe('decodeCwd and cString', () => {
  it('should read pvi_cdir.vip_path at offset 152 of proc_vnodepathinfo', () => {
    const buf = Buffer.alloc(PROC_VNODEPATHINFO_SIZE);
    buf.write('/Users/me/proj\0', 152, 'utf8');
    buf.write('/\0', 152 + 1024 + 152, 'utf8'); // pvi_rdir
    expect(decodeCwd(buf, PROC_VNODEPATHINFO_SIZE)).toBe('/Users/me/proj');
    expect(decodeCwd(buf, 1176)).toBeNull();
    expect(decodeCwd(Buffer.alloc(PROC_VNODEPATHINFO_SIZE), PROC_VNODEPATHINFO_SIZE)).toBeNull();
  });

  it('should refuse a string without its NUL inside the field', () => {
    const buf = Buffer.from('abcdef', 'latin1');
    expect(cString(buf, 0, 4)).toBeNull();
    expect(cString(Buffer.from('ab\0cd', 'latin1'), 0, 5)).toBe('ab');
  });
});

describe('libSystem prototypes', () => {
  it('should all parse with koffi (the binding itself needs macOS)', async () => {
    const { createRequire } = await import('node:module');
    const koffi = createRequire(import.meta.url)('koffi') as { proto(signature: string): unknown };
    const { PROTOTYPES } = await import('../src/internal/libsystem.ts');
    for (const signature of Object.values(PROTOTYPES)) expect(() => koffi.proto(signature)).not.toThrow();
    expect(() => koffi.proto('int broken(int fd,')).toThrow();
  });
});
