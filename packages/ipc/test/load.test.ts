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

/** Connections that each send the first bytes of a frame and then nothing. */
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
    fx = await startServer({
      limits: {
        maxConnections: 600,
        maxConnectionsPerPid: 600,
        handshakeTimeoutMs: 10_000,
        connectRate: { capacity: 10_000, refillPerSecond: 10_000 },
      },
    });
    await slowLoris(fx.path, 500);
    await waitFor(() => fx!.server.connections === 500);
    const start = performance.now();
    const client = await connectIpc({ socketPath: fx.path });
    expect(await client.request('status', {})).toMatchObject({ state: 'locked' });
    expect(performance.now() - start).toBeLessThan(1000);
    client.close();
  });

  it('should let a client in when slow-loris connections fill maxConnections, cutting the oldest', async () => {
    fx = await startServer({
      limits: {
        maxConnections: 64,
        maxConnectionsPerPid: 64,
        handshakeTimeoutMs: 10_000,
        connectRate: { capacity: 10_000, refillPerSecond: 10_000 },
      },
    });
    await slowLoris(fx.path, 500);
    // Each connection past 64 cut the oldest one that had not said hello.
    await waitFor(() => fx!.protocolErrors.filter((c) => c === 'BUSY').length === 500 - 64);
    expect(fx.server.connections).toBe(64);
    const client = await connectIpc({ socketPath: fx.path });
    expect(await client.request('status', {})).toMatchObject({ state: 'locked' });
    expect(fx.server.connections).toBe(64);
    client.close();
  });

  it('should cut slow-loris connections at the handshake deadline', async () => {
    fx = await startServer({
      limits: {
        maxConnections: 600,
        maxConnectionsPerPid: 600,
        handshakeTimeoutMs: 300,
        connectRate: { capacity: 10_000, refillPerSecond: 10_000 },
      },
    });
    await slowLoris(fx.path, 200);
    await waitFor(() => fx!.server.connections === 0, 5000);
    expect(fx.protocolErrors.filter((c) => c === 'HANDSHAKE_TIMEOUT')).toHaveLength(200);
  });

  it('should serve or cleanly refuse 1000 parallel clients, never hold more than maxConnections, and give back every fd', async () => {
    const baseline = fdCount();
    fx = await startServer({
      limits: { maxConnections: 256, rate: { capacity: 5000, refillPerSecond: 5000 } },
    });
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, fx!.server.connections)), 1);
    // All 1000 connect and ask for status at once; a full table cuts its oldest to let the
    // newest in, so some are refused (BUSY) and the rest served.
    const outcomes = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        try {
          const c = await connectIpc({ socketPath: fx!.path, timeoutMs: 20_000 });
          try {
            await c.request('status', {});
            return 'served';
          } finally {
            c.close();
          }
        } catch (error) {
          return isIpcError(error, 'BUSY') ? 'busy' : `other: ${String(error)}`;
        }
      }),
    );
    clearInterval(watch);
    const tally = outcomes.reduce<Record<string, number>>(
      (acc, o) => ({ ...acc, [o]: (acc[o] ?? 0) + 1 }),
      {},
    );
    expect(Object.keys(tally).filter((k) => k !== 'served' && k !== 'busy')).toEqual([]);
    expect(tally['served']).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(256);
    await waitFor(() => fx!.server.connections === 0);
    await fx.close();
    fx = undefined;
    await waitFor(() => fdCount() <= baseline, 5000);
    expect(fdCount()).toBeLessThanOrEqual(baseline);
    console.log('1000 parallel clients:', tally);
  });
});
