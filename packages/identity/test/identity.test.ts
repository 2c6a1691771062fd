// SPDX-License-Identifier: AGPL-3.0-only
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeTempDir, waitForLine, type TempDir } from '@cora/test-utils';
import type * as PlatformModule from '../src/platform.ts';
import {
  IdentityError,
  isIdentityError,
  loadPlatform,
  peerCredentials,
  peerIdentity,
  socketFd,
  type IdentityPlatform,
} from '../src/index.ts';

/** A connected pair over a real Unix socket: the accepted server side and the node child that connected. */
interface Pair {
  readonly socket: Socket;
  readonly child: ChildProcess;
}

let dir: TempDir;
let server: Server;
const children: ChildProcess[] = [];
const sockets = new Set<Socket>();

beforeEach(async () => {
  dir = await makeTempDir('cora-identity-');
  server = createServer({ pauseOnConnect: true }, (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(join(dir.path, 's.sock'), resolve));
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise((resolve) => server.close(resolve));
  await dir.remove();
});

async function connectChild(): Promise<Pair> {
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('net').connect(process.argv[1], () => console.log('connected')); process.stdin.resume()`,
      join(dir.path, 's.sock'),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.push(child);
  await waitForLine(child.stdout, (line) => line === 'connected');
  const socket = await accepted;
  return { socket, child };
}

describe('IdentityError', () => {
  it('should carry code, pid and cause, and be recognised by isIdentityError', () => {
    const cause = new Error('inner');
    const error = new IdentityError('PID_REUSED', 'pid 7 reused', { cause, pid: 7 });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'IdentityError', code: 'PID_REUSED', pid: 7, cause });
    expect(isIdentityError(error)).toBe(true);
    expect(isIdentityError(error, 'PID_REUSED')).toBe(true);
    expect(isIdentityError(error, 'PEER_GONE')).toBe(false);
    expect(isIdentityError(new Error('x'))).toBe(false);
    expect(isIdentityError({ code: 'PEER_GONE' })).toBe(false);
  });

  it('should recognise an IdentityError made by a second copy of the package', async () => {
    vi.resetModules();
    const copy = await import('../src/errors.ts');
    const foreign = new copy.IdentityError('PEER_GONE', 'gone');
    expect(foreign).not.toBeInstanceOf(IdentityError);
    expect(isIdentityError(foreign, 'PEER_GONE')).toBe(true);
  });
});

describe('socketFd', () => {
  it('should return the fd of a connected Unix socket', async () => {
    const { socket } = await connectChild();
    expect(socketFd(socket)).toBeGreaterThanOrEqual(0);
  });

  it('should throw TypeError for a non-object', () => {
    expect(() => socketFd(null as unknown as Socket)).toThrow(TypeError);
  });

  it('should fail closed with NO_PEER_CREDENTIALS when there is no fd', async () => {
    expect(() => socketFd(new Socket())).toThrow(expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }));
    const { socket } = await connectChild();
    socket.destroy();
    expect(() => socketFd(socket)).toThrow(expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }));
  });
});

describe('the platform loaded at import', () => {
  it('should identify a real Node caller through @cora/identity-linux', async () => {
    const { socket, child } = await connectChild();
    expect(peerCredentials(socket)).toEqual({
      uid: process.getuid!(),
      gid: process.getgid!(),
      pid: child.pid,
    });
    const peer = await peerIdentity(socket);
    try {
      expect(peer.identity).toMatchObject({
        pid: child.pid,
        exe: realpathSync(process.execPath),
        pinned: true,
      });
      expect(peer.identity.ancestry[0]?.pid).toBe(process.pid);
      expect(peer.stillSame()).toBe(true);
    } finally {
      peer.close();
    }
  });

  it('should be returned by loadPlatform()', async () => {
    expect((await loadPlatform()).platform).toBe(process.platform);
  });

  it('should throw TypeError for bad arguments', async () => {
    expect(() => peerCredentials(undefined as unknown as Socket)).toThrow(TypeError);
    const { socket } = await connectChild();
    await expect(peerIdentity(undefined as unknown as Socket)).rejects.toThrow(TypeError);
    await expect(peerIdentity(socket, null as unknown as object)).rejects.toThrow(TypeError);
    await expect(peerIdentity(socket, { hashExe: 'yes' as unknown as boolean })).rejects.toThrow(TypeError);
  });
});

describe('registerPlatform and loadPlatform (a fresh, unloaded copy of the registry)', () => {
  let fresh: typeof PlatformModule;

  beforeEach(async () => {
    vi.resetModules();
    // platform.ts alone does not load anything (the entry point does): a clean registry.
    fresh = await import('../src/platform.ts');
  });

  /** A strict fake: records calls, throws on anything not provided. */
  function fakePlatform(platform: NodeJS.Platform = process.platform): IdentityPlatform {
    return {
      platform,
      peerCredentials: () => ({ uid: 1, gid: 2, pid: 3 }),
      peerIdentity: () => Promise.reject(new Error('strict fake: peerIdentity not expected')),
      processIdentity: () => Promise.reject(new Error('strict fake: processIdentity not expected')),
    };
  }

  it('should refuse peerCredentials and peerIdentity with UNSUPPORTED_PLATFORM while nothing is loaded', async () => {
    const { socket } = await connectChild();
    expect(() => fresh.peerCredentials(socket)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' }),
    );
    await expect(fresh.peerIdentity(socket)).rejects.toMatchObject({ code: 'UNSUPPORTED_PLATFORM' });
    await expect(fresh.processIdentity(process.pid)).rejects.toMatchObject({ code: 'UNSUPPORTED_PLATFORM' });
  });

  it('should use a registered platform', async () => {
    fresh.registerPlatform(fakePlatform());
    const { socket } = await connectChild();
    expect(fresh.peerCredentials(socket)).toEqual({ uid: 1, gid: 2, pid: 3 });
  });

  it('should throw TypeError for a registration of the wrong shape', () => {
    expect(() => fresh.registerPlatform({ platform: 'linux' } as unknown as IdentityPlatform)).toThrow(
      TypeError,
    );
  });

  it('should refuse a platform built for another OS with UNSUPPORTED_PLATFORM', () => {
    const other = process.platform === 'win32' ? 'linux' : 'win32';
    expect(() => fresh.registerPlatform(fakePlatform(other))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' }),
    );
  });

  it('should load @cora/identity-<platform> through an importer from the app', async () => {
    const seen: string[] = [];
    const platform = await fresh.loadPlatform((specifier) => {
      seen.push(specifier);
      return import(specifier);
    });
    expect(seen).toEqual([`@cora/identity-${process.platform}`]);
    expect(platform.platform).toBe(process.platform);
    const { socket, child } = await connectChild();
    expect(fresh.peerCredentials(socket).pid).toBe(child.pid);
  });

  it('should refuse with UNSUPPORTED_PLATFORM when the package cannot be imported', async () => {
    const error: unknown = await fresh
      .loadPlatform(() => Promise.reject(new Error('not installed')))
      .catch((e: unknown) => e);
    // Made by the fresh copy's IdentityError class: still recognised (brand).
    expect(isIdentityError(error, 'UNSUPPORTED_PLATFORM')).toBe(true);
    expect(error).toMatchObject({ code: 'UNSUPPORTED_PLATFORM', cause: { message: 'not installed' } });
  });

  it('should refuse with UNSUPPORTED_PLATFORM a module without createIdentityPlatform', async () => {
    await expect(fresh.loadPlatform(() => Promise.resolve({}))).rejects.toMatchObject({
      code: 'UNSUPPORTED_PLATFORM',
    });
    await expect(
      fresh.loadPlatform(() =>
        Promise.resolve({ createIdentityPlatform: () => ({ platform: process.platform }) }),
      ),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED_PLATFORM' });
  });
});
