// SPDX-License-Identifier: AGPL-3.0-only
import { chmod, chown, lstat, mkdir, readFile, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc, socketPath, type IpcServer } from '../src/index.ts';
import { Scratch, spawnListener, staleSocket } from './helpers.ts';

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const tempDir = (): Promise<string> => scratch.dir('cora-ipc-sock-');
const serve = (path: string): Promise<IpcServer> => scratch.serve(path);

const isRoot = process.getuid?.() === 0;

describe('socketPath', () => {
  it('should follow architecture §5: <home>/run/cora.sock, whatever XDG_RUNTIME_DIR says', () => {
    expect(socketPath({ HOME: '/h' })).toBe('/h/.cora/run/cora.sock');
    expect(socketPath({ CORA_HOME: '/c', HOME: '/h' })).toBe('/c/run/cora.sock');
    expect(socketPath({ CORA_HOME: '', HOME: '/h' })).toBe('/h/.cora/run/cora.sock');
    // One vault, one service: a shell with a runtime dir and one without (cron, su, ssh
    // without pam_systemd) must find the same socket.
    expect(socketPath({ XDG_RUNTIME_DIR: '/run/user/7', HOME: '/h' })).toBe('/h/.cora/run/cora.sock');
    expect(socketPath({ XDG_RUNTIME_DIR: 'relative', HOME: '/h' })).toBe('/h/.cora/run/cora.sock');
    expect(socketPath({ CORA_HOME: '/c', XDG_RUNTIME_DIR: '/run/user/7', HOME: '/h' })).toBe(
      '/c/run/cora.sock',
    );
  });
});

describe('createIpcServer: the socket on disk', () => {
  it('should create the directory 0700 and the socket 0600', async () => {
    const path = join(await tempDir(), 'a', 'run', 'cora.sock');
    await serve(path);
    expect((await lstat(join(path, '..'))).mode & 0o777).toBe(0o700);
    const st = await lstat(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('should refuse a symlink planted at the socket path, and leave it and its target alone', async () => {
    const dir = await tempDir();
    const run = join(dir, 'run');
    await mkdir(run, { mode: 0o700 });
    const target = join(dir, 'victim');
    await writeFile(target, 'keep me');
    await symlink(target, join(run, 'cora.sock'));
    await expect(serve(join(run, 'cora.sock'))).rejects.toMatchObject({ code: 'UNSAFE_SOCKET' });
    expect((await lstat(join(run, 'cora.sock'))).isSymbolicLink()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('keep me');
  });

  it('should refuse a regular file at the socket path', async () => {
    const run = join(await tempDir(), 'run');
    await mkdir(run, { mode: 0o700 });
    await writeFile(join(run, 'cora.sock'), 'x');
    await expect(serve(join(run, 'cora.sock'))).rejects.toMatchObject({ code: 'UNSAFE_SOCKET' });
  });

  it('should refuse a socket directory with a wider mode or that is a symlink', async () => {
    const dir = await tempDir();
    const wide = join(dir, 'wide');
    await mkdir(wide, { mode: 0o755 });
    await chmod(wide, 0o755);
    await expect(serve(join(wide, 'cora.sock'))).rejects.toMatchObject({ code: 'UNSAFE_SOCKET_DIR' });
    const real = join(dir, 'real');
    await mkdir(real, { mode: 0o700 });
    await symlink(real, join(dir, 'link'));
    await expect(serve(join(dir, 'link', 'cora.sock'))).rejects.toMatchObject({ code: 'UNSAFE_SOCKET_DIR' });
  });

  it.runIf(isRoot)('should refuse a socket directory owned by another uid', async () => {
    const other = join(await tempDir(), 'other');
    await mkdir(other, { mode: 0o700 });
    await chown(other, 12345, 12345);
    await expect(serve(join(other, 'cora.sock'))).rejects.toMatchObject({ code: 'UNSAFE_SOCKET_DIR' });
  });

  it('should refuse a second service while one runs (ALREADY_RUNNING), and keep the first', async () => {
    const path = join(await tempDir(), 'run', 'cora.sock');
    await serve(path);
    await expect(serve(path)).rejects.toMatchObject({ code: 'ALREADY_RUNNING' });
    const client = await connectIpc({ socketPath: path });
    expect(await client.request('status', {})).toMatchObject({ state: 'locked' });
    client.close();
  });

  it('should replace a stale socket left by a service killed with SIGKILL', async () => {
    const path = join(await tempDir(), 'run', 'cora.sock');
    await mkdir(join(path, '..'), { mode: 0o700 });
    const child = await spawnListener(path);
    try {
      // While it runs, it is a live service.
      await expect(serve(path)).rejects.toMatchObject({ code: 'ALREADY_RUNNING' });
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    } finally {
      child.kill('SIGKILL');
    }
    expect((await lstat(path)).isSocket()).toBe(true); // left behind
    await serve(path);
    const client = await connectIpc({ socketPath: path });
    expect(await client.request('status', {})).toMatchObject({ state: 'locked' });
    client.close();
  });

  it('should remove its socket on close, but not a socket that replaced it', async () => {
    const path = join(await tempDir(), 'run', 'cora.sock');
    const server = await serve(path);
    await server.close();
    await expect(lstat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    const second = await serve(path);
    await unlink(path);
    await writeFile(path, 'someone else');
    await second.close();
    expect(await readFile(path, 'utf8')).toBe('someone else');
  });
});

describe('connectIpc: checks before sending anything', () => {
  it('should refuse a socket directory with a wider mode', async () => {
    const path = join(await tempDir(), 'run', 'cora.sock');
    await serve(path);
    await chmod(join(path, '..'), 0o755);
    await expect(connectIpc({ socketPath: path })).rejects.toMatchObject({ code: 'UNSAFE_SOCKET_DIR' });
    await chmod(join(path, '..'), 0o700);
  });

  it('should refuse a symlinked socket directory', async () => {
    const dir = await tempDir();
    const path = join(dir, 'run', 'cora.sock');
    await serve(path);
    await symlink(join(dir, 'run'), join(dir, 'alias'));
    await expect(connectIpc({ socketPath: join(dir, 'alias', 'cora.sock') })).rejects.toMatchObject({
      code: 'UNSAFE_SOCKET_DIR',
    });
  });

  it.runIf(isRoot)('should refuse a socket directory owned by another uid', async () => {
    const path = join(await tempDir(), 'run', 'cora.sock');
    await serve(path);
    await chown(join(path, '..'), 12345, 12345);
    await expect(connectIpc({ socketPath: path })).rejects.toMatchObject({ code: 'UNSAFE_SOCKET_DIR' });
    await chown(join(path, '..'), 0, 0);
  });

  it('should refuse a symlink at the socket path', async () => {
    const dir = await tempDir();
    const path = join(dir, 'run', 'cora.sock');
    await serve(path);
    await symlink(path, join(dir, 'run', 'other.sock'));
    await expect(connectIpc({ socketPath: join(dir, 'run', 'other.sock') })).rejects.toMatchObject({
      code: 'UNSAFE_SOCKET',
    });
  });

  it.runIf(isRoot)(
    'should refuse a server whose peer credentials name another uid (UNTRUSTED_SERVER)',
    async () => {
      const path = join(await tempDir(), 'run', 'cora.sock');
      await serve(path);
      // The socket file claims uid 12345; the kernel says the process behind it is root.
      await chown(path, 12345, 12345);
      await expect(connectIpc({ socketPath: path, expectedUid: 12345 })).rejects.toMatchObject({
        code: 'UNTRUSTED_SERVER',
      });
    },
  );

  it('should refuse a socket owned by another uid than expected', async () => {
    const path = join(await tempDir(), 'run', 'cora.sock');
    await serve(path);
    await expect(connectIpc({ socketPath: path, expectedUid: 12345 })).rejects.toMatchObject({
      code: 'UNSAFE_SOCKET',
    });
  });

  it('should say NOT_RUNNING when there is no socket or only a stale one', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'run'), { mode: 0o700 });
    await expect(connectIpc({ socketPath: join(dir, 'run', 'cora.sock') })).rejects.toMatchObject({
      code: 'NOT_RUNNING',
    });
    const path = join(dir, 'run', 'cora.sock');
    await staleSocket(path);
    await expect(connectIpc({ socketPath: path })).rejects.toMatchObject({ code: 'NOT_RUNNING' });
  });

  it('should time out against a server that never answers hello', async () => {
    const path = join(await tempDir(), 'run', 'cora.sock');
    await scratch.fixture({
      socketPath: path,
      authenticate: () => new Promise<{ uid: number }>(() => undefined),
    });
    await expect(connectIpc({ socketPath: path, timeoutMs: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('should throw RangeError for bad options', async () => {
    await expect(connectIpc({ timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(connectIpc({ expectedUid: -1 })).rejects.toThrow(RangeError);
  });
});
