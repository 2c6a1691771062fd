// SPDX-License-Identifier: AGPL-3.0-only
// connectIpc({ verifyPeer: false }): the start-up path of clients that send nothing secret
// (`cr status`, `cr exec`, issue 14) loads no FFI and no libsodium, keeps the socket checks,
// and refuses to send an attachment.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc } from '../src/index.ts';
import { secret, startServer, type Fixture } from './helpers.ts';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'light-client.ts');

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** Run the client in a child (the server runs in this process, so not synchronously). */
async function addonsLoaded(path: string, verifyPeer: boolean): Promise<{ koffi: boolean; sodium: boolean }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=cora-source', CLIENT, path, String(verifyPeer)],
    { encoding: 'utf8', timeout: 20_000 },
  );
  return JSON.parse(stdout) as { koffi: boolean; sodium: boolean };
}

describe('connectIpc verifyPeer: false', () => {
  it('should load neither koffi nor sodium-native for a status round trip, and both paths answer', async () => {
    fx = await startServer();
    expect(await addonsLoaded(fx.path, false)).toEqual({ koffi: false, sodium: false });
    // The default path reads SO_PEERCRED through the FFI: the same probe sees it.
    expect((await addonsLoaded(fx.path, true)).koffi).toBe(true);
  }, 30_000);

  it('should refuse a request that carries a passphrase or value, sending nothing', async () => {
    fx = await startServer();
    const client = await connectIpc({ socketPath: fx.path, verifyPeer: false });
    try {
      const passphrase = secret('correct horse battery staple');
      await expect(client.request('unlock', {}, { parts: [passphrase] })).rejects.toMatchObject({
        code: 'UNTRUSTED_SERVER',
      });
      await expect(client.approve(passphrase).done).rejects.toMatchObject({ code: 'UNTRUSTED_SERVER' });
      // The connection still serves requests without attachments.
      await expect(client.request('status', {})).resolves.toBeDefined();
    } finally {
      client.close();
    }
  });

  it('should keep the directory and socket checks, and not combine with checkServer', async () => {
    fx = await startServer();
    await expect(
      connectIpc({ socketPath: fx.path, verifyPeer: false, checkServer: () => undefined }),
    ).rejects.toThrow(RangeError);
    chmodSync(dirname(fx.path), 0o755);
    await expect(connectIpc({ socketPath: fx.path, verifyPeer: false })).rejects.toMatchObject({
      code: 'UNSAFE_SOCKET_DIR',
    });
    chmodSync(dirname(fx.path), 0o700);
  });
});
