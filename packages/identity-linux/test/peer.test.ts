// SPDX-License-Identifier: AGPL-3.0-only
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isIdentityError, peerCredentials, peerIdentity, type VerifiedPeer } from '@cora/identity';
import { unprivilegedCanRun, waitForLine } from '@cora/test-utils';
import { Children, exitOf, PYTHON, pythonClient, startServer, until, type TestServer } from './helpers.ts';

const NODE_CLIENT = fileURLToPath(new URL('./fixtures/node-client.mts', import.meta.url));
const isRoot = process.getuid?.() === 0;

let server: TestServer;
const children = new Children();
const peers: VerifiedPeer[] = [];

beforeEach(async () => {
  server = await startServer();
});

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  await children.killAll();
  await server.close();
});

async function verified(socket: Socket, options?: { hashExe?: boolean }): Promise<VerifiedPeer> {
  const peer = await peerIdentity(socket, options);
  peers.push(peer);
  return peer;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isIdentityError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}

/**
 * Start a python client and wait until it printed the line `ready` accepts (by default the
 * "connected" line); returns the child, the accepted socket and that line.
 */
async function python(
  after?: string,
  command = PYTHON,
  ready: (line: string) => boolean = (l) => l === 'connected',
) {
  const child = children.spawn(command, ['-c', pythonClient(after), server.path]);
  // One wait only: lines that arrive in the same chunk as a matched line are not kept.
  const line = await waitForLine(child.stdout!, ready);
  return { child, socket: await server.next(), line };
}

describe('peerCredentials', () => {
  it('should return the uid, gid and pid of the connecting process', async () => {
    const { child, socket } = await python();
    expect(peerCredentials(socket)).toEqual({
      uid: process.getuid!(),
      gid: process.getgid!(),
      pid: child.pid,
    });
  });

  it('should refuse a TCP socket with NO_PEER_CREDENTIALS', async () => {
    const tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const address = tcp.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    const accepted = new Promise<Socket>((resolve) => tcp.once('connection', resolve));
    const client = connect(address.port, '127.0.0.1');
    const socket = await accepted;
    try {
      expect(() => peerCredentials(socket)).toThrow(expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }));
      await expectCode(peerIdentity(socket), 'NO_PEER_CREDENTIALS');
    } finally {
      client.destroy();
      socket.destroy();
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('should refuse a destroyed socket with NO_PEER_CREDENTIALS', async () => {
    const { socket } = await python();
    socket.destroy();
    expect(() => peerCredentials(socket)).toThrow(expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }));
  });
});

describe('peerIdentity', () => {
  it('should identify a python caller by its binary, argv and pid, pinned by a pidfd', async () => {
    const { child, socket } = await python();
    const { identity } = await verified(socket);
    expect(identity.pid).toBe(child.pid);
    expect(identity.uid).toBe(process.getuid!());
    expect(identity.exe).toBe(realpathSync(PYTHON));
    expect(identity.argv[0]).toBe(PYTHON);
    expect(identity.argv[1]).toBe('-c');
    expect(identity.argv[3]).toBe(server.path);
    expect(identity.script).toBeUndefined(); // inline code (-c) names no script
    expect(identity.exeSha256).toBeUndefined();
    expect(identity.pinned).toBe(true); // this kernel has SO_PEERPIDFD (Linux ≥ 6.5)
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'latin1');
    expect(identity.startTime).toBe(BigInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!));
    expect(
      Object.isFrozen(identity) && Object.isFrozen(identity.argv) && Object.isFrozen(identity.ancestry),
    ).toBe(true);
  });

  it('should name the script of a python caller as weak evidence, resolved against its cwd', async () => {
    writeFileSync(join(server.dir.path, 'client.py'), pythonClient());
    const child = children.spawn(PYTHON, ['-u', 'client.py', server.path], { cwd: server.dir.path });
    await waitForLine(child.stdout!, (line) => line === 'connected');
    const { identity } = await verified(await server.next());
    expect(identity.script).toEqual({
      interpreter: readlinkSync(`/proc/${child.pid}/exe`).split('/').pop(),
      path: join(realpathSync(server.dir.path), 'client.py'),
      weak: true,
    });
  });

  it('should show the script of a Node caller', async () => {
    const child = children.spawn(process.execPath, ['--no-warnings', NODE_CLIENT, server.path]);
    await waitForLine(child.stdout!, (line) => line === 'connected');
    const { identity } = await verified(await server.next());
    expect(identity.pid).toBe(child.pid);
    expect(identity.exe).toBe(realpathSync(process.execPath));
    expect(identity.script).toEqual({ interpreter: 'node', path: NODE_CLIENT, weak: true });
  });

  it('should name the script an interpreter ancestor runs, as a realpath (an npm agent)', async () => {
    // bin/agent -> lib/agent.cjs, run by node the way a shebang runs it: node is the ancestor's
    // exe, the symlink its argv; the script is reported by its realpath.
    const lib = join(server.dir.path, 'lib');
    mkdirSync(lib);
    const script = join(lib, 'agent.cjs');
    writeFileSync(
      script,
      "require('node:child_process').spawn(process.execPath, process.argv.slice(2), { stdio: 'inherit' });\n",
    );
    const link = join(server.dir.path, 'agent');
    symlinkSync(script, link);
    const child = children.spawn(process.execPath, [link, '--no-warnings', NODE_CLIENT, server.path]);
    await waitForLine(child.stdout!, (line) => line === 'connected');
    const { identity } = await verified(await server.next());
    expect(identity.script?.path).toBe(NODE_CLIENT);
    expect(identity.ancestry[0]).toMatchObject({
      pid: child.pid,
      exe: realpathSync(process.execPath),
      script: realpathSync(script),
    });
  });

  it('should record ancestry parent first, starting with the test runner', async () => {
    const { socket } = await python();
    const { identity } = await verified(socket);
    const [parent] = identity.ancestry;
    expect(parent).toMatchObject({
      pid: process.pid,
      uid: process.getuid!(),
      exe: realpathSync(process.execPath),
    });
    expect(parent!.startTime).toBeTypeOf('bigint');
    expect(identity.ancestry.length).toBeGreaterThan(1);
    expect(identity.ancestry.length).toBeLessThanOrEqual(8);
    // Each entry is the parent of the one before it.
    for (let i = 1; i < identity.ancestry.length; i++) {
      const stat = readFileSync(`/proc/${identity.ancestry[i - 1]!.pid}/stat`, 'latin1');
      expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])).toBe(identity.ancestry[i]!.pid);
    }
  });

  it.runIf(isRoot)('should stop the ancestry at the first process of another uid (included)', async () => {
    // The caller runs as nobody; its parent (this test runner) is root: one entry, then stop.
    chmodSync(server.dir.path, 0o755);
    chmodSync(server.path, 0o777);
    const child = children.spawn('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      PYTHON,
      '-c',
      pythonClient(),
      server.path,
    ]);
    await waitForLine(child.stdout!, (line) => line === 'connected');
    const { identity } = await verified(await server.next());
    expect(identity.uid).toBe(65534);
    expect(identity.pid).toBe(child.pid); // setpriv execs python in place
    expect(identity.ancestry).toHaveLength(1);
    expect(identity.ancestry[0]).toMatchObject({ pid: process.pid, uid: 0 });
  });

  it('should hash the running binary through /proc/<pid>/exe when asked', async () => {
    const { socket } = await python();
    const { identity } = await verified(socket, { hashExe: true });
    expect(identity.exeSha256).toBe(createHash('sha256').update(readFileSync(PYTHON)).digest('hex'));
  });

  it('should refuse a caller that exited before verification (PEER_GONE)', async () => {
    const { child, socket } = await python('sys.exit(0)');
    await exitOf(child); // exited and reaped: the pid may be reused from here on
    await expectCode(peerIdentity(socket), 'PEER_GONE');
  });

  it('should refuse a caller that is a zombie (exited, not yet reaped) with PEER_GONE', async () => {
    // The parent forks a child that connects and exits; the parent never waits for it.
    const parent = children.spawn(PYTHON, [
      '-c',
      [
        'import os, socket, sys, time',
        'pid = os.fork()',
        'if pid == 0:',
        '    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); os._exit(0)',
        'print(pid, flush=True)',
        'time.sleep(30)',
      ].join('\n'),
      server.path,
    ]);
    const pid = Number(await waitForLine(parent.stdout!, (line) => /^\d+$/.test(line)));
    const socket = await server.next();
    expect(peerCredentials(socket).pid).toBe(pid);
    await until(() => readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z '));
    await expectCode(peerIdentity(socket), 'PEER_GONE');
  });

  it('should report stillSame() false once the caller exited, even if its pid were reused', async () => {
    const { child, socket } = await python();
    const peer = await verified(socket);
    expect(peer.stillSame()).toBe(true);
    child.stdin!.end();
    await exitOf(child);
    // The pidfd names the exited process itself, so another process on the same pid number
    // cannot make this true again.
    expect(peer.stillSame()).toBe(false);
  });

  it('should report stillSame() false after the caller execs another binary', async () => {
    // Python keeps the connected socket across exec (inheritable fd) and becomes `sleep`.
    const { child, socket } = await python(
      'os.set_inheritable(s.fileno(), True)\nsys.stdin.readline()\nos.execv("/bin/sleep", ["sleep", "30"])',
    );
    const peer = await verified(socket);
    expect(peer.stillSame()).toBe(true);
    const before = peer.identity.startTime;
    child.stdin!.write('go\n');
    await until(() => readlinkSync(`/proc/${child.pid}/exe`) !== peer.identity.exe);
    // The start time does not change across exec: only the exe comparison catches it.
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'latin1');
    expect(BigInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!)).toBe(before);
    expect(peer.stillSame()).toBe(false);
    // A fresh verification of the same connection sees the new program.
    const again = await verified(socket);
    expect(again.identity.exe).toBe(realpathSync('/bin/sleep'));
    expect(again.identity.pid).toBe(child.pid);
  });

  it('should keep stillSame() true after an exec of the same binary (documented limit: argv is not re-checked)', async () => {
    const { child, socket } = await python(
      `os.set_inheritable(s.fileno(), True)\nsys.stdin.readline()\nos.execv(${JSON.stringify(PYTHON)}, ["python3", "-c", "import time; time.sleep(30)"])`,
    );
    const peer = await verified(socket);
    child.stdin!.write('go\n');
    await until(() => readFileSync(`/proc/${child.pid}/cmdline`, 'latin1').includes('time.sleep'));
    expect(peer.stillSame()).toBe(true);
  });

  it('should keep the connector as the identity when the connection is handed to a forked child', async () => {
    // The connector forks; the child keeps the socket; the connector waits for "exit" on stdin.
    const { child, socket, line } = await python(
      [
        'pid = os.fork()',
        'if pid == 0:',
        '    import time; time.sleep(30); os._exit(0)',
        'print("child", pid, flush=True)',
        'sys.stdin.readline()',
        'os._exit(0)',
      ].join('\n'),
      PYTHON,
      (l) => l.startsWith('child '),
    );
    const forked = Number(line.split(' ')[1]);
    try {
      const peer = await verified(socket);
      expect(peer.identity.pid).toBe(child.pid); // SO_PEERCRED names the connector, not the holder
      expect(peer.identity.pid).not.toBe(forked);
      child.stdin!.write('exit\n');
      await exitOf(child);
      expect(peer.stillSame()).toBe(false);
      // The forked child still holds the connection, but a new verification names the dead connector.
      await expectCode(peerIdentity(socket), 'PEER_GONE');
    } finally {
      try {
        process.kill(forked, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  describe('with a copied binary', () => {
    async function copiedPython(): Promise<{ copy: string; pid: number; socket: Socket }> {
      const copy = join(server.dir.path, 'python3-copy');
      copyFileSync(realpathSync(PYTHON), copy);
      const { child, socket } = await python(undefined, copy);
      return { copy, pid: child.pid!, socket };
    }

    it('should refuse a caller whose binary was deleted (EXE_DELETED)', async () => {
      const { copy, pid, socket } = await copiedPython();
      unlinkSync(copy);
      expect(readlinkSync(`/proc/${pid}/exe`)).toBe(`${copy} (deleted)`);
      await expectCode(peerIdentity(socket), 'EXE_DELETED');
    });

    it('should refuse a caller whose binary was replaced by another file (EXE_DELETED)', async () => {
      const { copy, socket } = await copiedPython();
      const other = join(server.dir.path, 'other');
      writeFileSync(other, '#!/bin/sh\n', { mode: 0o755 });
      renameSync(other, copy); // the path now names a different inode
      await expectCode(peerIdentity(socket), 'EXE_DELETED');
    });

    it('should refuse a caller whose path now names another hard link target (EXE_DELETED)', async () => {
      // The running inode keeps a second name, so /proc shows no "(deleted)": the inode check catches it.
      const { copy, socket } = await copiedPython();
      linkSync(copy, `${copy}.keep`);
      unlinkSync(copy);
      writeFileSync(copy, 'not the binary');
      await expectCode(peerIdentity(socket), 'EXE_DELETED');
    });

    it('should turn stillSame() false when the binary is deleted after verification', async () => {
      const { copy, socket } = await copiedPython();
      const peer = await verified(socket);
      expect(peer.identity.exe).toBe(copy);
      expect(peer.stillSame()).toBe(true);
      unlinkSync(copy);
      expect(peer.stillSame()).toBe(false);
    });
  });

  it('should make stillSame() false after close(), and close() idempotent', async () => {
    const { socket } = await python();
    const peer = await peerIdentity(socket);
    expect(peer.stillSame()).toBe(true);
    peer.close();
    peer.close();
    expect(peer.stillSame()).toBe(false);
  });

  it('should not leak pidfds across many verifications', async () => {
    const { socket } = await python();
    const count = (): number => readdirSync(`/proc/${process.pid}/fd`).length;
    const baseline = count();
    for (let i = 0; i < 50; i++) (await peerIdentity(socket)).close();
    expect(count()).toBe(baseline);
  });
});

// The server fixture runs as nobody from this checkout: needs a checkout nobody can read.
describe.runIf(unprivilegedCanRun([fileURLToPath(new URL('./fixtures/server.mts', import.meta.url))]))(
  'peerIdentity in a service of another uid',
  () => {
    const SERVER = fileURLToPath(new URL('./fixtures/server.mts', import.meta.url));
    const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

    async function unprivilegedServer(): Promise<{ path: string; lines: Readable }> {
      chmodSync(server.dir.path, 0o777);
      const path = join(server.dir.path, 'nobody.sock');
      const child = children.spawn('setpriv', [
        ...NOBODY,
        process.execPath,
        '--conditions=cora-source',
        SERVER,
        path,
      ]);
      await waitForLine(child.stdout!, (line) => line === 'listening');
      return { path, lines: child.stdout! };
    }

    it('should refuse with PROC_UNREADABLE when /proc/<pid>/exe of the caller is not readable', async () => {
      // nobody may not read the exe link of a root process (ptrace access check).
      const { path, lines } = await unprivilegedServer();
      const client = children.spawn(PYTHON, ['-c', pythonClient(), path]);
      const line = await waitForLine(lines, (l) => l.startsWith('{'));
      expect(JSON.parse(line)).toEqual({
        ok: false,
        credentials: { uid: 0, gid: 0, pid: client.pid },
        code: 'PROC_UNREADABLE',
      });
    });

    it('should refuse with PROC_UNREADABLE a same-uid caller that made itself non-dumpable', async () => {
      // PR_SET_DUMPABLE 0 hides /proc/<pid>/exe from the same uid too: such a caller cannot be identified.
      const { path, lines } = await unprivilegedServer();
      const dumpableOff = 'import ctypes; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n';
      children.spawn('setpriv', [...NOBODY, PYTHON, '-c', dumpableOff + pythonClient(), path]);
      const line = await waitForLine(lines, (l) => l.startsWith('{'));
      expect(JSON.parse(line)).toMatchObject({
        ok: false,
        credentials: { uid: 65534 },
        code: 'PROC_UNREADABLE',
      });
    });

    it('should identify a same-uid caller from an unprivileged service', async () => {
      const { path, lines } = await unprivilegedServer();
      children.spawn('setpriv', [...NOBODY, PYTHON, '-c', pythonClient(), path]);
      const line = await waitForLine(lines, (l) => l.startsWith('{'));
      expect(JSON.parse(line)).toMatchObject({
        ok: true,
        credentials: { uid: 65534 },
        exe: realpathSync(PYTHON),
        pinned: true,
      });
    });
  },
);
