// SPDX-License-Identifier: AGPL-3.0-only
// connectIpc checks the socket and the process behind it before it sends a byte (G5): a
// passphrase must never reach a listener planted by another user or in a directory others
// can write. Each refusal is checked against a live listener that counts what reached it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, NOBODY_UID, unprivilegedCanRun, waitForLine, type TempDir } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc, encodeFrame } from '../src/index.ts';

const isRoot = process.getuid?.() === 0;
const dirs: TempDir[] = [];
const servers: Server[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const d of dirs.splice(0)) await d.remove();
});

async function runDir(): Promise<string> {
  const dir = await makeTempDir('cora-ipc-connect-');
  dirs.push(dir);
  const run = join(dir.path, 'run');
  await mkdir(run, { mode: 0o700 });
  return run;
}

/** A listener that answers nothing and counts connections and bytes. */
async function counter(path: string): Promise<{ connections: number; bytes: number }> {
  const seen = { connections: 0, bytes: 0 };
  const server = createServer((socket) => {
    seen.connections += 1;
    socket.on('data', (chunk) => (seen.bytes += chunk.length));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return seen;
}

async function refusal(path: string, expectedUid?: number): Promise<string> {
  const options = {
    socketPath: path,
    timeoutMs: 2000,
    ...(expectedUid === undefined ? {} : { expectedUid }),
  };
  return connectIpc(options).then(
    (client) => {
      client.close();
      return 'connected';
    },
    (e: unknown) => (e as { code: string }).code,
  );
}

describe('connectIpc: the socket directory', () => {
  it.each([0o770, 0o777, 0o1777, 0o750, 0o711, 0o600])(
    'should refuse a directory of mode %o without connecting',
    async (mode) => {
      const run = await runDir();
      const seen = await counter(join(run, 'cora.sock'));
      await chmod(run, mode);
      expect(await refusal(join(run, 'cora.sock'))).toBe('UNSAFE_SOCKET_DIR');
      expect(seen).toEqual({ connections: 0, bytes: 0 });
    },
  );

  it.runIf(isRoot)('should refuse a 0700 directory of another uid without connecting', async () => {
    const run = await runDir();
    const seen = await counter(join(run, 'cora.sock'));
    await chown(run, NOBODY_UID, NOBODY_UID);
    expect(await refusal(join(run, 'cora.sock'))).toBe('UNSAFE_SOCKET_DIR');
    expect(seen).toEqual({ connections: 0, bytes: 0 });
  });
});

describe('connectIpc: what sits at the socket path', () => {
  it('should refuse a regular file', async () => {
    const path = join(await runDir(), 'cora.sock');
    await writeFile(path, '');
    expect(await refusal(path)).toBe('UNSAFE_SOCKET');
  });

  it('should refuse a FIFO at once, without opening it', async () => {
    const path = join(await runDir(), 'cora.sock');
    execFileSync('mkfifo', ['-m', '600', path]);
    const start = performance.now();
    expect(await refusal(path)).toBe('UNSAFE_SOCKET');
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('should refuse a directory', async () => {
    const path = join(await runDir(), 'cora.sock');
    await mkdir(path);
    expect(await refusal(path)).toBe('UNSAFE_SOCKET');
  });

  it('should refuse a symlink to a live socket without connecting through it', async () => {
    const run = await runDir();
    const seen = await counter(join(run, 'real.sock'));
    execFileSync('ln', ['-s', join(run, 'real.sock'), join(run, 'cora.sock')]);
    expect(await refusal(join(run, 'cora.sock'))).toBe('UNSAFE_SOCKET');
    expect(seen).toEqual({ connections: 0, bytes: 0 });
  });

  it.runIf(isRoot)('should refuse a live socket file of another uid without connecting', async () => {
    const path = join(await runDir(), 'cora.sock');
    const seen = await counter(path);
    await chown(path, NOBODY_UID, NOBODY_UID);
    expect(await refusal(path)).toBe('UNSAFE_SOCKET');
    expect(seen).toEqual({ connections: 0, bytes: 0 });
  });
});

// The attack the peer check is for: a process of another user binds a socket, and the file
// ends up at our path looking like ours (owner and mode are only metadata). Only the kernel's
// SO_PEERCRED tells who listens.
describe.runIf(isRoot && unprivilegedCanRun([]))('connectIpc: a service of another uid', () => {
  /** A listener run as nobody that answers hello and reports every byte it reads. */
  async function nobodyListener(): Promise<{ path: string; bytes: () => number }> {
    const run = await runDir();
    const own = join(run, '..', 'nobody');
    await mkdir(own, { mode: 0o700 });
    await chown(own, NOBODY_UID, NOBODY_UID);
    await chmod(join(run, '..'), 0o711);
    const hello = encodeFrame({ id: 1, ok: true, result: { protocol: 1, server: 'nobody' } }).toString('hex');
    const script = `require('net').createServer((s) => s.on('data', (d) => {
      console.log('BYTES ' + d.length); s.write(Buffer.from('${hello}', 'hex'));
    })).listen(${JSON.stringify(join(own, 's.sock'))}, () => console.log('READY'))`;
    const drop = [`--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups'];
    const child = spawn('setpriv', [...drop, process.execPath, '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let bytes = 0;
    await waitForLine(child.stdout, (l) => l === 'READY', 20_000);
    child.stdout.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/BYTES (\d+)/g)) bytes += Number(m[1]);
    });
    // Moved into our private directory and made to look like ours.
    const path = join(run, 'cora.sock');
    await rename(join(own, 's.sock'), path);
    await chown(path, 0, 0);
    await chmod(path, 0o600);
    return { path, bytes: () => bytes };
  }

  it('should refuse it with UNTRUSTED_SERVER before sending anything', async () => {
    const { path, bytes } = await nobodyListener();
    expect(await refusal(path)).toBe('UNTRUSTED_SERVER');
    await new Promise((r) => setTimeout(r, 100));
    expect(bytes()).toBe(0);
  });

  it('should speak to it when that uid is the one expected', async () => {
    const { path, bytes } = await nobodyListener();
    await chown(path, NOBODY_UID, NOBODY_UID);
    expect(await refusal(path, NOBODY_UID)).toBe('connected');
    // The server reports what it read on its stdout, which reaches us a moment later.
    const deadline = Date.now() + 5000;
    while (bytes() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(bytes()).toBeGreaterThan(0);
  });
});
