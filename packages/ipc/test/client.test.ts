// SPDX-License-Identifier: AGPL-3.0-only
// The client against a service in another process: what a caller sees when its own process is
// the slow one (a loaded machine), not the service.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitForLine } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc } from '../src/index.ts';
import { busy } from './helpers.ts';

const SERVER = fileURLToPath(new URL('./fixtures/server.ts', import.meta.url));

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

async function serverInOtherProcess(): Promise<string> {
  child = spawn(process.execPath, ['--conditions=cora-source', SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await waitForLine(child.stdout!, (l) => l.startsWith('READY '), 20_000);
  return line.slice('READY '.length);
}

describe('client timeouts', () => {
  it('should take a reply that arrived while its own process was starved past the timeout', async () => {
    const path = await serverInOtherProcess();
    const client = await connectIpc({ socketPath: path, timeoutMs: 5000 });
    try {
      const reply = client.request('status', {}, { timeoutMs: 100 });
      // The server answers within a few ms; this process sees the answer only after its timer
      // is already due. The answer was on time: the caller must get it, not TIMEOUT.
      busy(400);
      await expect(reply).resolves.toMatchObject({ state: 'locked' });
    } finally {
      client.close();
    }
  });

  it('should still time out when no reply comes', async () => {
    const path = await serverInOtherProcess();
    const client = await connectIpc({ socketPath: path, timeoutMs: 5000 });
    try {
      child!.kill('SIGSTOP');
      await expect(client.request('status', {}, { timeoutMs: 100 })).rejects.toMatchObject({
        code: 'TIMEOUT',
      });
    } finally {
      child!.kill('SIGCONT');
      client.close();
    }
  });
});
