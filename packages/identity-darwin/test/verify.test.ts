// SPDX-License-Identifier: AGPL-3.0-only
// The verification steps of peer.ts over a strict fake kernel: libSystem (LOCAL_PEERTOKEN,
// proc_pidinfo, proc_pidpath, KERN_PROCARGS2) cannot run here, so the fake answers with byte
// buffers in Apple's layouts (structs.ts) from a table of processes the test edits to play
// the attacker (recycle a pid, exec, exit, swap the binary). Executables are real files, so
// the path/inode checks and the hash run against the real file system. The same flows run
// against the real kernel in darwin.test.ts on a macOS host.
import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  IdentityError,
  scriptEvidence,
  isIdentityError,
  type IdentityErrorCode,
  type PlatformHost,
} from '@cora/identity';
import { LibcError, type Answer, type Kernel } from '../src/internal/libsystem.ts';
import { DarwinErrno } from '../src/internal/walk.ts';
import { platformWithKernel } from '../src/peer.ts';
import { bsdinfo, procargs, token, vnodepath, xucred } from './structs.ts';

const FD = 7;
const dir = mkdtempSync(join(tmpdir(), 'cora-darwin-fake-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface FakeProcess {
  ppid: number;
  uid: number;
  gid: number;
  sec: bigint;
  usec: bigint;
  pidversion: number;
  status?: number;
  exe: string;
  argv: string[];
  env: string[];
  cwd: string;
}

/** What the socket's kernel record says (set at "connect"). */
interface Connect {
  pid: number;
  pidversion: number;
  euid: number;
  credUid: number;
  gid: number;
  peerPid: number;
}

class FakeKernel implements Kernel {
  table = new Map<number, FakeProcess>();
  connect: Connect | null = null;
  /** Runs before each proc_pidinfo of `pid`, with the call's number (1-based) for that pid. */
  onInfo: ((pid: number, call: number) => void) | null = null;
  /** Runs before each proc_pidpath. */
  onPath: ((pid: number, call: number) => void) | null = null;
  /** false: the kernel does not answer PROC_PIDT_BSDINFOWITHUNIQID (no pid version). */
  uniqid = true;
  /** errno for proc_pidpath, or null. */
  pathErrno: number | null = null;
  readonly #infoCalls = new Map<number, number>();
  readonly #pathCalls = new Map<number, number>();

  #socket(fd: number, what: string): Connect {
    if (fd !== FD) throw new Error(`strict fake: ${what} on fd ${fd}`);
    if (this.connect === null) throw new LibcError(`getsockopt(${what})`, DarwinErrno.ENOTCONN);
    return this.connect;
  }

  peerToken(fd: number): Answer {
    const c = this.#socket(fd, 'LOCAL_PEERTOKEN');
    return { buf: token([0, c.euid, c.gid, c.euid, c.gid, c.pid, 100_001, c.pidversion]), length: 32 };
  }

  peerCred(fd: number): Answer {
    const c = this.#socket(fd, 'LOCAL_PEERCRED');
    return { buf: xucred(0, c.credUid, [c.gid, 12]), length: 76 };
  }

  peerPid(fd: number): Answer {
    const c = this.#socket(fd, 'LOCAL_PEERPID');
    const buf = Buffer.alloc(4);
    buf.writeInt32LE(c.peerPid, 0);
    return { buf, length: 4 };
  }

  #process(pid: number, call: string): FakeProcess {
    const p = this.table.get(pid);
    if (p === undefined) throw new LibcError(call, DarwinErrno.ESRCH);
    return p;
  }

  bsdInfo(pid: number): Answer {
    const n = (this.#infoCalls.get(pid) ?? 0) + 1;
    this.#infoCalls.set(pid, n);
    this.onInfo?.(pid, n);
    const p = this.#process(pid, 'proc_pidinfo');
    const buf = bsdinfo({
      pid,
      ppid: p.ppid,
      uid: p.uid,
      gid: p.gid,
      sec: p.sec,
      usec: p.usec,
      ...(p.status === undefined ? {} : { status: p.status }),
      ...(this.uniqid ? { pidversion: p.pidversion } : {}),
    });
    return { buf, length: buf.length };
  }

  pidPath(pid: number): string {
    const n = (this.#pathCalls.get(pid) ?? 0) + 1;
    this.#pathCalls.set(pid, n);
    this.onPath?.(pid, n);
    if (this.pathErrno !== null) throw new LibcError('proc_pidpath', this.pathErrno);
    return this.#process(pid, 'proc_pidpath').exe;
  }

  vnodePath(pid: number): Answer {
    const buf = vnodepath(this.#process(pid, 'proc_pidinfo').cwd);
    return { buf, length: buf.length };
  }

  withProcArgs<T>(pid: number, use: (buf: Buffer, length: number) => T): T {
    const p = this.#process(pid, 'sysctl');
    const buf = procargs(p.argv.length, p.exe, p.argv, p.env);
    return use(buf, buf.length - 64);
  }
}

const host: PlatformHost = {
  makeError: (code, message, options) => new IdentityError(code, message, options),
  scriptEvidence,
  socketFd: () => FD,
};

function binary(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function refusal(promise: Promise<unknown>): Promise<IdentityErrorCode | 'resolved' | 'other'> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isIdentityError(error) ? error.code : 'other';
  }
}

let kernel: FakeKernel;
let python: string;
const socket = new Socket();

/** A fresh kernel: python agent 4242 ← zsh 4000 ← root login 300, connected as 4242. */
function makeKernel(): FakeKernel {
  const kernel = new FakeKernel();
  python = binary('python3', 'python binary v1');
  const zsh = binary('zsh', 'zsh binary');
  const login = binary('login', 'login binary');
  kernel.table.set(4242, {
    ppid: 4000,
    uid: 501,
    gid: 20,
    sec: 1_764_800_100n,
    usec: 5n,
    pidversion: 7,
    exe: python,
    argv: ['python3', 'agent.py', '--fast'],
    env: ['OPENAI_API_KEY=canary-value-1234'],
    cwd: '/Users/me/proj',
  });
  kernel.table.set(4000, {
    ppid: 300,
    uid: 501,
    gid: 20,
    sec: 1_764_800_000n,
    usec: 0n,
    pidversion: 3,
    exe: zsh,
    argv: ['-zsh'],
    env: [],
    cwd: '/Users/me',
  });
  kernel.table.set(300, {
    ppid: 1,
    uid: 0,
    gid: 0,
    sec: 1_764_700_000n,
    usec: 0n,
    pidversion: 1,
    exe: login,
    argv: ['login', '-pf', 'me'],
    env: [],
    cwd: '/',
  });
  kernel.connect = connectRecord();
  return kernel;
}

beforeEach(() => {
  kernel = makeKernel();
});

describe('peerIdentity over the fake kernel', () => {
  it('should identify the peer: ids, exe, argv without the environment, script, ancestry, pinned', async () => {
    const platform = platformWithKernel(host, kernel);
    const peer = await platform.peerIdentity(socket, { hashExe: true });
    const id = peer.identity;
    expect(id).toMatchObject({ pid: 4242, uid: 501, gid: 20, exe: python, pinned: true });
    expect(id.startTime).toBe(1_764_800_100_000_005n);
    expect(id.argv).toEqual(['python3', 'agent.py', '--fast']);
    expect(JSON.stringify(id.argv)).not.toContain('canary');
    expect(id.script).toEqual({ interpreter: 'python3', path: '/Users/me/proj/agent.py', weak: true });
    expect(id.exeSha256).toBe(createHash('sha256').update('python binary v1').digest('hex'));
    expect(id.ancestry.map((a) => [a.pid, a.uid, a.argv0])).toEqual([
      [4000, 501, '-zsh'],
      [300, 0, 'login'],
    ]);
    expect(platform.peerCredentials(socket)).toEqual({ pid: 4242, uid: 501, gid: 20 });
    expect(peer.stillSame()).toBe(true);
    peer.close();
    expect(peer.stillSame()).toBe(false);
  });

  it('should turn stillSame() false on pid reuse, exec, a new pid version, a swapped binary or exit', async () => {
    const cases: ((p: FakeProcess) => void)[] = [
      (p) => (p.usec = 6n), // another process holds the pid
      (p) => (p.pidversion = 8),
      (p) => (p.exe = binary('other', 'another program')),
      () => renameSync(binary('python3.new', 'python binary v2'), python),
      (p) => (p.status = 5), // zombie
      () => kernel.table.delete(4242),
    ];
    for (const change of cases) {
      kernel = makeKernel();
      const peer = await platformWithKernel(host, kernel).peerIdentity(socket, {});
      expect(peer.stillSame()).toBe(true);
      change(kernel.table.get(4242)!);
      expect(peer.stillSame()).toBe(false);
      peer.close();
    }
  });

  it('should refuse a pid recycled between connect and the first read (pid version)', async () => {
    kernel.table.get(4242)!.pidversion = 9;
    expect(await refusal(platformWithKernel(host, kernel).peerIdentity(socket, {}))).toBe('PID_REUSED');
  });

  it('should refuse a pid recycled, or an exec, during verification', async () => {
    const platform = platformWithKernel(host, kernel);
    kernel.onInfo = (pid, call) => {
      if (pid === 4242 && call === 2) kernel.table.get(4242)!.sec += 1n;
    };
    expect(await refusal(platform.peerIdentity(socket, {}))).toBe('PID_REUSED');

    kernel = makeKernel();
    kernel.onInfo = (pid, call) => {
      if (pid === 4242 && call === 2) kernel.table.get(4242)!.pidversion = 8;
    };
    expect(await refusal(platformWithKernel(host, kernel).peerIdentity(socket, {}))).toBe('PEER_CHANGED');

    kernel = makeKernel();
    kernel.onPath = (pid, call) => {
      if (pid === 4242 && call === 2) kernel.table.get(4242)!.exe = binary('bash', 'bash');
    };
    expect(await refusal(platformWithKernel(host, kernel).peerIdentity(socket, {}))).toBe('PEER_CHANGED');
  });

  it('should refuse a peer that exited or is a zombie (PEER_GONE)', async () => {
    kernel.table.get(4242)!.status = 5;
    expect(await refusal(platformWithKernel(host, kernel).peerIdentity(socket, {}))).toBe('PEER_GONE');
    kernel.table.delete(4242);
    expect(await refusal(platformWithKernel(host, kernel).peerIdentity(socket, {}))).toBe('PEER_GONE');
  });

  it('should refuse a binary no longer at its path (EXE_DELETED) and unreadable processes', async () => {
    unlinkSync(python);
    expect(await refusal(platformWithKernel(host, kernel).peerIdentity(socket, {}))).toBe('EXE_DELETED');
    python = binary('python3', 'python binary v1');
    kernel.pathErrno = DarwinErrno.EPERM;
    expect(await refusal(platformWithKernel(host, kernel).peerIdentity(socket, {}))).toBe('PROC_UNREADABLE');
  });

  it('should refuse a socket whose token, credentials and pid disagree, or have none', async () => {
    const platform = platformWithKernel(host, kernel);
    for (const change of [
      (c: Connect) => (c.credUid = 0),
      (c: Connect) => (c.peerPid = 4243),
      (c: Connect) => (c.pid = 0),
    ]) {
      kernel.connect = connectRecord();
      change(kernel.connect);
      expect(() => platform.peerCredentials(socket)).toThrow(
        expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }),
      );
      expect(await refusal(platform.peerIdentity(socket, {}))).toBe('NO_PEER_CREDENTIALS');
    }
    kernel.connect = null;
    expect(await refusal(platform.peerIdentity(socket, {}))).toBe('NO_PEER_CREDENTIALS');
  });

  it('should say pinned: false where the kernel gives no pid version', async () => {
    kernel.uniqid = false;
    const peer = await platformWithKernel(host, kernel).peerIdentity(socket, {});
    expect(peer.identity.pinned).toBe(false);
    expect(peer.stillSame()).toBe(true);
  });

  it('should stop the ancestry at a parent younger than the peer (recycled parent pid)', async () => {
    kernel.table.get(4000)!.sec = 1_764_900_000n;
    const peer = await platformWithKernel(host, kernel).peerIdentity(socket, {});
    expect(peer.identity.ancestry).toEqual([]);
  });
});

describe('processIdentity over the fake kernel', () => {
  it('should identify a pid with its effective ids, pinned by its first read', async () => {
    const peer = await platformWithKernel(host, kernel).processIdentity(4000, {});
    expect(peer.identity).toMatchObject({ pid: 4000, uid: 501, gid: 20, pinned: true, argv: ['-zsh'] });
    expect(peer.identity.ancestry.map((a) => a.pid)).toEqual([300]);
  });

  it('should say PEER_GONE for a pid nobody holds', async () => {
    expect(await refusal(platformWithKernel(host, kernel).processIdentity(999, {}))).toBe('PEER_GONE');
  });
});

function connectRecord(): Connect {
  return { pid: 4242, pidversion: 7, euid: 501, credUid: 501, gid: 20, peerPid: 4242 };
}
