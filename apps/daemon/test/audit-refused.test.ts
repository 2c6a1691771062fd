// SPDX-License-Identifier: AGPL-3.0-only
// Issue 10: a connection from another uid, refused before the service could identify it, was
// audited as `protocol-error` with `pid: null` and no uid. The service now records the uid and
// pid the kernel gave for the socket (SO_PEERCRED).
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NOBODY_UID, unprivilegedCanRun } from '@cora/test-utils';
import { useCoraHomes } from './e2e-helpers.ts';
import { APP_DIR } from './helpers.ts';

const newHome = useCoraHomes('refused caller passphrase, long enough');

interface Rec {
  readonly type: string;
  readonly [key: string]: unknown;
}

function records(log: string): Rec[] {
  return readFileSync(join(log, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Rec);
}

describe('a caller of another uid (e2e)', () => {
  // The service runs as nobody from this checkout, and this test (root) calls it: needs root
  // and a checkout nobody can read. A service of nobody cannot read root's /proc entries, so
  // it refuses the caller before it could identify it.
  it.runIf(
    process.getuid?.() === 0 &&
      unprivilegedCanRun([join(APP_DIR, 'dist', 'service-main.js'), join(APP_DIR, 'bin', 'cr')]),
  )('should be audited with the uid and pid the kernel gave for its socket', async () => {
    const home = await newHome({ owner: NOBODY_UID });
    const init = await home.cr(['init', '--passphrase-file', home.passFile], { asUid: NOBODY_UID });
    expect({ code: init.code, stderr: init.stderr }).toEqual({ code: 0, stderr: '' });
    const log = home.env['CORA_HOME'] ?? '';
    const socket = createConnection(join(log, 'run', 'cora.sock'));
    socket.on('error', () => undefined);
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    const deadline = Date.now() + 5000;
    let refused: Rec | undefined;
    while (refused === undefined && Date.now() < deadline) {
      refused = records(log).find((r) => r.type === 'protocol-error');
      if (refused === undefined) await new Promise((r) => setTimeout(r, 25));
    }
    expect(refused).toMatchObject({ type: 'protocol-error', pid: process.pid, uid: 0, code: 'NOT_ALLOWED' });
  });
});
