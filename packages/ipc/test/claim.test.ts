// SPDX-License-Identifier: AGPL-3.0-only
// Claiming the socket path (README "Socket"): what is at the path, and what the directory
// is, decide between serving, replacing a stale socket and refusing; a refusal touches
// nothing and leaves nothing behind.
import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { NOBODY_UID } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc, isIpcError, type IpcServer } from '../src/index.ts';
import { fdCount, Scratch, spawnListener, staleSocket } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const tempDir = (): Promise<string> => scratch.dir('cora-ipc-claim-');
const serve = (path: string): Promise<IpcServer> => scratch.serve(path);

/** A private run directory (0700) in a fresh temp dir; returns the socket path in it. */
async function runPath(): Promise<string> {
  const run = join(await tempDir(), 'run');
  await mkdir(run, { mode: 0o700 });
  return join(run, 'cora.sock');
}

/** The error `serve` rejects with (it must reject). */
async function refusal(path: string): Promise<{ code: string }> {
  const error: unknown = await serve(path).then(
    () => new Error('the server started'),
    (e: unknown) => e,
  );
  if (!isIpcError(error)) throw error instanceof Error ? error : new Error(String(error));
  return error;
}

async function status(path: string): Promise<unknown> {
  const client = await connectIpc({ socketPath: path });
  try {
    return await client.request('status', {});
  } finally {
    client.close();
  }
}

describe('createIpcServer: something already at the socket path', () => {
  it('should refuse a FIFO at the path at once, and leave it alone', async () => {
    const path = await runPath();
    execFileSync('mkfifo', ['-m', '600', path]);
    const start = performance.now();
    // Opening a FIFO would block until a writer came: lstat never opens it.
    expect((await refusal(path)).code).toBe('UNSAFE_SOCKET');
    expect(performance.now() - start).toBeLessThan(2000);
    expect((await lstat(path)).isFIFO()).toBe(true);
  });

  it('should refuse a directory at the path, and leave it alone', async () => {
    const path = await runPath();
    await mkdir(path);
    await writeFile(join(path, 'keep'), 'x');
    expect((await refusal(path)).code).toBe('UNSAFE_SOCKET');
    expect(await readdir(path)).toEqual(['keep']);
  });

  it.runIf(isRoot)('should refuse a stale socket of another uid, and not remove it', async () => {
    const path = await runPath();
    await staleSocket(path);
    await chown(path, NOBODY_UID, NOBODY_UID);
    const before = await lstat(path);
    // Stale or not, another user's file is never ours to delete.
    expect((await refusal(path)).code).toBe('UNSAFE_SOCKET');
    const after = await lstat(path);
    expect([after.ino, after.uid]).toEqual([before.ino, NOBODY_UID]);
  });

  it('should not steal the path of a service that accepts but never answers', async () => {
    const path = await runPath();
    const child = await spawnListener(path);
    try {
      expect((await refusal(path)).code).toBe('ALREADY_RUNNING');
      expect((await lstat(path)).isSocket()).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('should let exactly one of two services started at once claim the path', async () => {
    const path = await runPath();
    const results = await Promise.allSettled([serve(path), serve(path)]);
    const codes = results.map((r) =>
      r.status === 'fulfilled' ? 'served' : (r.reason as { code: string }).code,
    );
    expect(codes.toSorted()).toEqual(['ALREADY_RUNNING', 'served']);
    expect(await status(path)).toMatchObject({ state: 'locked' });
  });

  it('should leave no temporary socket and no open fd behind after refusals', async () => {
    const path = await runPath();
    await serve(path);
    const fds = fdCount();
    for (let i = 0; i < 20; i++) expect((await refusal(path)).code).toBe('ALREADY_RUNNING');
    expect(await readdir(dirname(path))).toEqual(['cora.sock']);
    expect(fdCount()).toBeLessThanOrEqual(fds);
    expect(await status(path)).toMatchObject({ state: 'locked' });
  });
});

describe('createIpcServer: the socket directory', () => {
  it.each([0o755, 0o750, 0o770, 0o777, 0o1777, 0o711, 0o600, 0o500])(
    'should refuse an existing directory of mode %o and never chmod it',
    async (mode) => {
      const run = join(await tempDir(), 'run');
      await mkdir(run);
      await chmod(run, mode);
      expect((await refusal(join(run, 'cora.sock'))).code).toBe('UNSAFE_SOCKET_DIR');
      expect((await lstat(run)).mode & 0o7777).toBe(mode);
      expect(await readdir(run)).toEqual([]);
    },
  );

  it('should refuse a regular file where the directory should be', async () => {
    const run = join(await tempDir(), 'run');
    await writeFile(run, 'x');
    expect((await refusal(join(run, 'cora.sock'))).code).toBe('UNSAFE_SOCKET_DIR');
  });

  it('should create every missing ancestor 0700', async () => {
    const root = await tempDir();
    const path = join(root, 'a', 'b', 'run', 'cora.sock');
    await serve(path);
    for (const dir of ['a', 'a/b', 'a/b/run']) {
      expect((await lstat(join(root, dir))).mode & 0o777).toBe(0o700);
    }
  });

  it('should make a 0600 socket under umask 0, and give the umask back', async () => {
    const previous = process.umask(0);
    try {
      const path = join(await tempDir(), 'run', 'cora.sock');
      await serve(path);
      expect((await lstat(path)).mode & 0o777).toBe(0o600);
      expect((await lstat(dirname(path))).mode & 0o777).toBe(0o700);
      expect(process.umask(0)).toBe(0); // given back: still 0
    } finally {
      process.umask(previous);
    }
  });
});

describe.runIf(process.platform === 'linux')('createIpcServer: long socket paths', () => {
  /** A socket path of exactly `bytes` bytes in a fresh private directory. */
  async function pathOf(bytes: number): Promise<string> {
    const root = await tempDir();
    const name = 'cora.sock';
    const pad = bytes - root.length - '/'.length - '/'.length - name.length;
    const dir = join(root, 'd'.repeat(pad));
    await mkdir(dir, { mode: 0o700 });
    const path = join(dir, name);
    expect(Buffer.byteLength(path)).toBe(bytes);
    return path;
  }

  it('should serve a path of 108 bytes, the most Linux sun_path holds', async () => {
    // The temporary name bound first must not be longer than the final one.
    const path = await pathOf(108);
    await serve(path);
    expect(await status(path)).toMatchObject({ state: 'locked' });
    expect(await readdir(dirname(path))).toEqual(['cora.sock']);
  });

  it('should refuse a path of 109 bytes with UNSAFE_SOCKET, not a raw system error', async () => {
    const path = await pathOf(109);
    expect((await refusal(path)).code).toBe('UNSAFE_SOCKET');
    expect(await readdir(dirname(path))).toEqual([]);
  });
});
