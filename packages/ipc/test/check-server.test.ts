// SPDX-License-Identifier: AGPL-3.0-only
// connectIpc's checkServer: the caller ties the process behind the socket to the service it
// expects before a byte is sent (issue 13: an impostor on the socket gets nothing).
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc } from '../src/index.ts';
import { startServer, type Fixture } from './helpers.ts';

let fx: Fixture | undefined;
let raw: { server: Server; dir: TempDir } | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  raw?.server.close();
  await raw?.dir.remove();
  raw = undefined;
});

describe('connectIpc checkServer', () => {
  it('should hand the check the server’s kernel credentials and connect when it passes', async () => {
    fx = await startServer();
    const seen: number[] = [];
    const client = await connectIpc({
      socketPath: fx.path,
      checkServer: (server) => {
        seen.push(server.pid, server.uid);
      },
    });
    client.close();
    expect(seen).toEqual([process.pid, process.getuid!()]);
  });

  it('should refuse with UNTRUSTED_SERVER, the reason as cause, before sending a byte', async () => {
    const dir = await makeTempDir('cora-impostor-');
    mkdirSync(join(dir.path, 'run'), { mode: 0o700 });
    const path = join(dir.path, 'run', 'cora.sock');
    let received = 0;
    const server = createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
    });
    raw = { server, dir };
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const why = new Error('not the Cora service of this home');
    await expect(
      connectIpc({
        socketPath: path,
        timeoutMs: 2000,
        checkServer: async () => {
          await Promise.resolve();
          throw why;
        },
      }),
    ).rejects.toMatchObject({ code: 'UNTRUSTED_SERVER', cause: why });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toBe(0);
  });
});
