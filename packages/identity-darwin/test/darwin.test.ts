// SPDX-License-Identifier: AGPL-3.0-only
// Real kernel calls on a real Unix socket and real processes: these need macOS (libSystem,
// LOCAL_PEERTOKEN, proc_pidinfo) and are skipped elsewhere. Ready for a macOS CI runner
// (.github/workflows/ci.yml); not yet run on one.
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IdentityError,
  scriptEvidence,
  isIdentityError,
  type IdentityPlatform,
  type PlatformHost,
} from '@cora/identity';
import { createIdentityPlatform } from '../src/index.ts';

const onDarwin = process.platform === 'darwin';

function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new IdentityError('NO_PEER_CREDENTIALS', 'no fd');
  return fd;
}

const host: PlatformHost = {
  makeError: (code, message, options) => new IdentityError(code, message, options),
  scriptEvidence,
  socketFd,
};

describe.skipIf(!onDarwin)('identity on a macOS host (skipped elsewhere: needs libSystem)', () => {
  let dir: string;
  let server: Server;
  let path: string;
  const accepted: Socket[] = [];
  let platform: IdentityPlatform;

  beforeAll(async () => {
    platform = createIdentityPlatform(host);
    dir = await mkdtemp(join(tmpdir(), 'cora-darwin-'));
    path = join(dir, 's.sock');
    server = createServer((s) => accepted.push(s));
    await new Promise<void>((resolve) => server.listen(path, resolve));
  });

  afterAll(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  /** A node child that connects and waits on stdin; resolves with it and the accepted socket. */
  async function client(): Promise<{ child: ChildProcess; socket: Socket }> {
    const before = accepted.length;
    const code = `const s=require('net').connect(${JSON.stringify(path)},()=>console.log('up'));process.stdin.resume();process.stdin.on('end',()=>process.exit(0));s.on('error',()=>{});`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    while (accepted.length === before) await new Promise((r) => setTimeout(r, 5));
    return { child, socket: accepted[accepted.length - 1]! };
  }

  async function exit(child: ChildProcess): Promise<void> {
    const done = new Promise((resolve) => child.once('exit', resolve));
    child.stdin!.end();
    await done;
  }

  it('should identify a node client: pid, uid, exe, argv, start time, ancestry from the runner', async () => {
    const { child, socket } = await client();
    const peer = await platform.peerIdentity(socket, { hashExe: true });
    try {
      expect(peer.identity.pid).toBe(child.pid);
      expect(peer.identity.uid).toBe(process.geteuid!());
      expect(peer.identity.gid).toBe(process.getegid!());
      expect(peer.identity.exe).toBe(realpathSync(process.execPath));
      expect(peer.identity.argv[1]).toBe('-e');
      expect(peer.identity.exeSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(peer.identity.startTime).toBeGreaterThan(0n);
      expect(peer.identity.pinned).toBe(true);
      expect(peer.identity.ancestry[0]?.pid).toBe(process.pid);
      expect(platform.peerCredentials(socket)).toEqual({
        pid: child.pid,
        uid: process.geteuid!(),
        gid: process.getegid!(),
      });
      expect(peer.stillSame()).toBe(true);
      await exit(child);
      expect(peer.stillSame()).toBe(false);
      // The exited client's pid names no process now (Node reaped it before 'exit').
      const late: unknown = await platform.processIdentity(child.pid!, {}).catch((e: unknown) => e);
      expect(isIdentityError(late, 'PEER_GONE')).toBe(true);
    } finally {
      peer.close();
    }
  });

  it('should turn stillSame() false after close()', async () => {
    const { child, socket } = await client();
    const peer = await platform.peerIdentity(socket, {});
    peer.close();
    peer.close();
    expect(peer.stillSame()).toBe(false);
    await exit(child);
  });

  it('should identify this process by pid and refuse a pid nobody holds', async () => {
    const self = await platform.processIdentity(process.pid, {});
    expect(self.identity.exe).toBe(realpathSync(process.execPath));
    self.close();
    const none: unknown = await platform.processIdentity(4_194_000, {}).catch((e: unknown) => e);
    expect(isIdentityError(none, 'PEER_GONE')).toBe(true);
  });

  it('should refuse a TCP socket with NO_PEER_CREDENTIALS', async () => {
    const tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const address = tcp.address() as { port: number };
    const socket = connect(address.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    expect(() => platform.peerCredentials(socket)).toThrow(
      expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }),
    );
    socket.destroy();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  });
});
