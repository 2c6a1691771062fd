// SPDX-License-Identifier: AGPL-3.0-only
// Issue 13, item 3: a same-user process that holds the service's socket gets nothing. The
// impostor is a real Node process of the same uid on the real socket path; `cr` ties the
// socket's peer to this installation's service before it sends a byte.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForLine } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { useCoraHomes } from './e2e-helpers.ts';

const PASS = 'impostor test passphrase, long enough';
const newHome = useCoraHomes(PASS);

/** Listens on SOCKET, appends every byte it receives to LOG; prints READY. */
const IMPOSTOR = `
const net = require('node:net');
const fs = require('node:fs');
const [socket, log] = process.argv.slice(1);
net.createServer((c) => c.on('data', (d) => fs.appendFileSync(log, d))).listen(socket, () => console.log('READY'));
`;

let impostor: ChildProcess | undefined;
afterEach(() => {
  impostor?.kill('SIGKILL');
});

describe('an impostor on the service socket', () => {
  it('should get no byte of the passphrase: cr refuses it before speaking', async () => {
    const home = await newHome();
    expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
    await home.stopService();
    const dir = home.env['CORA_HOME'] ?? '';
    mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 });
    const log = join(home.dir.path, 'stolen');
    impostor = spawn(process.execPath, ['-e', IMPOSTOR, join(dir, 'run', 'cora.sock'), log], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await waitForLine(impostor.stdout!, (line) => line === 'READY', 10_000);

    const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(unlock.code).not.toBe(0);
    expect(unlock.stderr).toMatch(/something other than your Cora service holds the socket/);
    expect(unlock.stderr).toMatch(/is not the expected service: it was started with -e/);
    let stolen = '';
    try {
      stolen = readFileSync(log, 'latin1');
    } catch {
      // nothing was ever written: the file does not exist
    }
    expect(stolen).toBe('');
  });
});
