// SPDX-License-Identifier: AGPL-3.0-only
/* eslint-disable @typescript-eslint/require-await -- handlers and hooks are async by contract */
// Issue 10: connections that never say hello, or say it and idle, must not lock the real
// client out. Attackers run in their own processes (test/fixtures/attacker.ts) over real
// sockets, as a hostile local program would.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { PeerCredentials } from '@cora/identity';
import { NOBODY_UID, unprivilegedCanRun, waitForLine } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc, isIpcError, type WireErrorCode } from '../src/index.ts';
import {
  fakeHandlers,
  fdCount,
  framesUntilClose,
  HELLO,
  rawConnect,
  startServer,
  waitFor,
  type Fixture,
} from './helpers.ts';

const ATTACKER = fileURLToPath(new URL('./fixtures/attacker.ts', import.meta.url));
/** How long the real client may take to connect, say hello and get `status` under attack. */
const BOUND_MS = 1000;
/** A connect rate no test process reaches. */
const FAST = { capacity: 100_000, refillPerSecond: 100_000 };

let fx: Fixture | undefined;
const children: ChildProcess[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const s of sockets.splice(0)) s.destroy();
  await fx?.close();
  fx = undefined;
});

/** Start an attacker process; resolves with how many connections it holds once it is ready. */
async function attacker(
  path: string,
  mode: 'silent' | 'idle',
  count: number,
  options: { reconnect?: boolean; asUid?: number } = {},
): Promise<{ child: ChildProcess; open: number }> {
  const args = [ATTACKER, path, mode, String(count), ...(options.reconnect === true ? ['reconnect'] : [])];
  const child =
    options.asUid === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(
          'setpriv',
          [
            `--reuid=${options.asUid}`,
            `--regid=${options.asUid}`,
            '--clear-groups',
            process.execPath,
            ...args,
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
  children.push(child);
  const line = await waitForLine(child.stdout, (l) => l.startsWith('READY'), 20_000);
  return { child, open: Number(line.split(' ')[1]) };
}

/** Connect, say hello and ask for status; resolves with the time it took. */
async function legitStatus(path: string): Promise<number> {
  const start = performance.now();
  const client = await connectIpc({ socketPath: path, timeoutMs: 5000 });
  try {
    expect(await client.request('status', {}, { timeoutMs: 5000 })).toMatchObject({ state: 'locked' });
  } finally {
    client.close();
  }
  return performance.now() - start;
}

describe('createIpcServer: a connection flood does not lock the real client out', () => {
  it('should serve a client within the bound while another process holds 500 silent connections', async () => {
    // A long handshake deadline: the deadline is not what lets the client in.
    fx = await startServer({ limits: { handshakeTimeoutMs: 60_000 } });
    await attacker(fx.path, 'silent', 500);
    // One process gets half of the table (32 of 64); its newer connections cut its older.
    expect(fx.server.connections).toBeLessThanOrEqual(32);
    for (let i = 0; i < 5; i++) expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
  });

  it('should serve every client within the bound while 500 connections reconnect as soon as they are cut', async () => {
    fx = await startServer({ limits: { handshakeTimeoutMs: 60_000 } });
    await attacker(fx.path, 'silent', 500, { reconnect: true });
    const times: number[] = [];
    for (let i = 0; i < 10; i++) times.push(await legitStatus(fx.path));
    expect(Math.max(...times)).toBeLessThan(BOUND_MS);
    // The flood goes on (the server keeps cutting its oldest) and the service keeps serving.
    expect(fx.protocolErrors.filter((c) => c === 'BUSY').length).toBeGreaterThan(100);
  });

  it('should refuse a process that reconnects faster than connectRate before doing any identity work for it', async () => {
    let authenticated = 0;
    fx = await startServer({
      limits: { handshakeTimeoutMs: 60_000, connectRate: { capacity: 20, refillPerSecond: 10 } },
      authenticate: async () => {
        authenticated += 1;
        return { uid: process.getuid!() };
      },
    });
    const start = performance.now();
    await attacker(fx.path, 'silent', 500, { reconnect: true });
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 5; i++) expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
    const seconds = (performance.now() - start) / 1000;
    // The attacker's burst, its refill, and the 5 real clients; the rest never reached authenticate.
    expect(authenticated).toBeLessThanOrEqual(20 + Math.ceil(10 * seconds) + 5);
    expect(fx.protocolErrors.filter((c) => c === 'BUSY').length).toBeGreaterThan(100);
  });

  it('should cut the oldest connection that has not said hello when 8 processes fill the table', async () => {
    fx = await startServer({ limits: { handshakeTimeoutMs: 60_000 } });
    const attackers = await Promise.all(
      Array.from({ length: 8 }, () => attacker(fx!.path, 'silent', 16, { reconnect: true })),
    );
    expect(attackers.every((a) => a.open > 0)).toBe(true);
    await waitFor(() => fx!.server.connections === 64);
    for (let i = 0; i < 5; i++) expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
  });

  it('should serve a client while silent connections of its own process fill the table', async () => {
    // Opened faster than the default connectRate allows: this test is about the table.
    fx = await startServer({ limits: { handshakeTimeoutMs: 60_000, connectRate: FAST } });
    for (let i = 0; i < 200; i++) {
      const s = await rawConnect(fx.path);
      s.on('error', () => undefined);
      s.resume();
      sockets.push(s);
    }
    await waitFor(() => fx!.server.connections === 32);
    expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
  });

  it('should cut the longest idle connection past hello when idle callers of many processes fill the table', async () => {
    const cut: { code: WireErrorCode; pid: number | undefined }[] = [];
    fx = await startServer({
      limits: { maxConnections: 8, handshakeTimeoutMs: 60_000 },
      onProtocolError: (_peer, code, kernel) => cut.push({ code, pid: kernel?.pid }),
    });
    const idlers = [];
    for (let i = 0; i < 4; i++) idlers.push(await attacker(fx.path, 'idle', 2));
    expect(idlers.map((a) => a.open)).toEqual([2, 2, 2, 2]);
    expect(fx.server.connections).toBe(8);
    expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
    // The first attacker's connections have been idle longest: one of them made room.
    expect(cut).toEqual([{ code: 'BUSY', pid: idlers[0]!.child.pid }]);
  });

  it('should refuse a newcomer with BUSY only when every connection has a request in flight', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const base = fakeHandlers();
    fx = await startServer({
      limits: { maxConnections: 2, maxConnectionsPerPid: 2 },
      handlers: {
        ...base,
        status: async (request, context) => {
          await gate;
          return base.status(request, context);
        },
      },
    });
    const busy = [await connectIpc({ socketPath: fx.path }), await connectIpc({ socketPath: fx.path })];
    const pending = busy.map((c) => c.request('status', {}));
    await new Promise((r) => setTimeout(r, 50));
    const refused = await connectIpc({ socketPath: fx.path }).catch((e: unknown) => e);
    expect(isIpcError(refused, 'BUSY')).toBe(true);
    expect(fx.protocolErrors).toEqual(['BUSY']);
    release();
    for (const result of await Promise.all(pending)) expect(result).toMatchObject({ state: 'locked' });
    // Idle now: the next client is let in by cutting the longest idle one.
    expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
    for (const c of busy) c.close();
  });

  it('should send a BUSY error frame to the connection it cuts', async () => {
    fx = await startServer({ limits: { maxConnections: 1, handshakeTimeoutMs: 60_000 } });
    const silent = await rawConnect(fx.path);
    const frames = framesUntilClose(silent);
    await waitFor(() => fx!.server.connections === 1);
    expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
    expect(await frames).toEqual([
      {
        id: 0,
        ok: false,
        error: {
          code: 'BUSY',
          message: 'too many connections: this one was closed to make room; retry later',
        },
      },
    ]);
  });
});

describe('createIpcServer: nothing is held once hostile connections are gone', () => {
  it('should hold no connection and give back every fd after 2,000 hostile connections', async () => {
    const baseline = fdCount();
    fx = await startServer({ limits: { maxConnections: 16, handshakeTimeoutMs: 200, connectRate: FAST } });
    const kinds: ((s: Socket) => void)[] = [
      () => undefined, // silent
      (s) => s.write(Buffer.from('GET / HTTP/1.1\r\n\r\n')), // garbage
      (s) => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff])), // oversized
      (s) => s.write(Buffer.concat([HELLO, Buffer.from([0, 0, 0, 100, 0, 0, 0, 2])])), // half a frame
      (s) => s.destroy(), // gone at once
    ];
    for (let i = 0; i < 2000; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, j) => {
          const s = await rawConnect(fx!.path);
          s.on('error', () => undefined);
          s.resume();
          kinds[(i + j) % kinds.length]!(s);
          // The client goes away after a moment, or when the server cuts it.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => s.destroy(), 300);
            s.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }),
      );
    }
    await waitFor(() => fx!.server.connections === 0);
    expect(await legitStatus(fx.path)).toBeLessThan(BOUND_MS);
    await fx.close();
    fx = undefined;
    await waitFor(() => fdCount() <= baseline, 5000);
  });
});

describe('createIpcServer: the kernel credentials of a refused peer', () => {
  type Seen = { peer: unknown; code: WireErrorCode; kernel: PeerCredentials | null };

  async function refusingServer(seen: Seen[]): Promise<Fixture> {
    return startServer({
      authenticate: async () => {
        throw new Error('refused');
      },
      onProtocolError: (peer, code, kernel) => seen.push({ peer, code, kernel }),
    });
  }

  it('should give onProtocolError the uid and pid of a caller refused before it was identified', async () => {
    const seen: Seen[] = [];
    fx = await refusingServer(seen);
    const socket = await rawConnect(fx.path);
    const frames = framesUntilClose(socket);
    expect((await frames).at(-1)).toMatchObject({ ok: false, error: { code: 'NOT_ALLOWED' } });
    expect(seen).toEqual([
      {
        peer: null,
        code: 'NOT_ALLOWED',
        kernel: { uid: process.getuid!(), gid: process.getgid!(), pid: process.pid },
      },
    ]);
  });

  // As root, a caller of another uid: an attacker process run as nobody (setpriv).
  it.runIf(process.getuid?.() === 0 && unprivilegedCanRun([ATTACKER]))(
    'should give onProtocolError the uid and pid of a caller of another uid',
    async () => {
      const seen: Seen[] = [];
      fx = await refusingServer(seen);
      // Let nobody reach the socket (the server checked its directory at start only).
      await chmod(fx.dir.path, 0o711);
      await chmod(dirname(fx.path), 0o711);
      await chmod(fx.path, 0o666);
      const { child } = await attacker(fx.path, 'idle', 1, { asUid: NOBODY_UID });
      await waitFor(() => seen.length > 0);
      expect(seen).toEqual([
        { peer: null, code: 'NOT_ALLOWED', kernel: { uid: NOBODY_UID, gid: NOBODY_UID, pid: child.pid } },
      ]);
    },
  );
});
