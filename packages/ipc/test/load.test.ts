// SPDX-License-Identifier: AGPL-3.0-only
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc, isIpcError } from '../src/index.ts';
import { fdCount, HELLO, rawConnect, startServer, waitFor, type Fixture } from './helpers.ts';

let fx: Fixture | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await fx?.close();
  fx = undefined;
});

/** 500 connections that each send the first bytes of a frame and then nothing. */
async function slowLoris(path: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async () => {
        const s = await rawConnect(path);
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        s.write(HELLO.subarray(0, 5));
        return s;
      }),
    );
    sockets.push(...batch);
  }
}

describe('createIpcServer under load', () => {
  it('should serve a valid client in under 1 s while 500 slow-loris connections hang', async () => {
    fx = await startServer({ limits: { maxConnections: 600, handshakeTimeoutMs: 10_000 } });
    await slowLoris(fx.path, 500);
    await waitFor(() => fx!.server.connections === 500);
    const start = performance.now();
    const client = await connectIpc({ socketPath: fx.path });
    expect(await client.request('status', {})).toMatchObject({ state: 'locked' });
    expect(performance.now() - start).toBeLessThan(1000);
    client.close();
  });

  it('should refuse a client cleanly with BUSY when slow-loris connections fill maxConnections', async () => {
    fx = await startServer({ limits: { maxConnections: 64, handshakeTimeoutMs: 10_000 } });
    await slowLoris(fx.path, 500);
    const error = await connectIpc({ socketPath: fx.path }).catch((e: unknown) => e);
    expect(isIpcError(error, 'BUSY')).toBe(true);
    expect(fx.server.connections).toBe(64);
    // Once the loris connections are cut (handshake deadline, here: they leave), service resumes.
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor(() => fx!.server.connections === 0);
    const client = await connectIpc({ socketPath: fx.path });
    expect(await client.request('status', {})).toMatchObject({ state: 'locked' });
    client.close();
  });

  it('should cut slow-loris connections at the handshake deadline', async () => {
    fx = await startServer({ limits: { maxConnections: 600, handshakeTimeoutMs: 300 } });
    await slowLoris(fx.path, 200);
    await waitFor(() => fx!.server.connections === 0, 5000);
    expect(fx.protocolErrors.filter((c) => c === 'HANDSHAKE_TIMEOUT')).toHaveLength(200);
  });

  it('should serve or cleanly refuse 1000 parallel connections, and give back every fd', async () => {
    const baseline = fdCount();
    fx = await startServer({
      limits: { maxConnections: 256, rate: { capacity: 5000, refillPerSecond: 5000 } },
    });
    // All 1000 connect and stay connected at once, then each connected one asks for status.
    const connected = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        try {
          return await connectIpc({ socketPath: fx!.path, timeoutMs: 20_000 });
        } catch (error) {
          return isIpcError(error, 'BUSY') ? 'busy' : `other: ${String(error)}`;
        }
      }),
    );
    const outcomes = await Promise.all(
      connected.map(async (c) => {
        if (typeof c === 'string') return c;
        try {
          await c.request('status', {});
          return 'served';
        } catch (error) {
          return `other: ${String(error)}`;
        }
      }),
    );
    for (const c of connected) if (typeof c !== 'string') c.close();
    const tally = outcomes.reduce<Record<string, number>>(
      (acc, o) => ({ ...acc, [o]: (acc[o] ?? 0) + 1 }),
      {},
    );
    expect(Object.keys(tally).filter((k) => k !== 'served' && k !== 'busy')).toEqual([]);
    expect(tally['served']).toBe(256);
    expect(tally['busy']).toBe(744);
    await waitFor(() => fx!.server.connections === 0);
    await fx.close();
    fx = undefined;
    await waitFor(() => fdCount() <= baseline, 5000);
    expect(fdCount()).toBeLessThanOrEqual(baseline);
    console.log('1000 parallel connections:', tally);
  });
});
