// SPDX-License-Identifier: AGPL-3.0-only
// Issue 10, item 7: each format and lock-file refusal reaches the user as its own class — exit
// code and a message that says what to do — never "internal error", and the service keeps
// serving. Real bin/cr, real service, real files edited the way a damaged disk or a same-user
// process would.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { status, useCoraHomes, type CoraHome } from './e2e-helpers.ts';

const PASS = 'error class passphrase, long enough';
const newHome = useCoraHomes(PASS);

function vaultOf(home: CoraHome): string {
  return join(home.env['CORA_HOME']!, 'vault.cora');
}

/** Rewrite bytes of the vault file in place. */
function patch(home: CoraHome, edit: (bytes: Buffer) => void): void {
  const bytes = readFileSync(vaultOf(home));
  edit(bytes);
  writeFileSync(vaultOf(home), bytes);
}

async function initLocked(home: CoraHome): Promise<void> {
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
}

describe('refusals with their own class (issue 10, item 7)', () => {
  const at = (edit: (bytes: Buffer) => void) => (home: CoraHome) => {
    patch(home, edit);
  };
  it.each([
    ['not a vault (magic)', at((b) => b.write('XXXX', 0, 'latin1')), 15, /damaged or not a Cora vault/],
    ['unknown version', at((b) => b.writeUInt8(5, 4)), 16, /newer Cora: upgrade cr/],
    [
      'KDF under the floor (t = 2)',
      at((b) => b.writeUInt32LE(2, 6)),
      17,
      /refused before any key is derived/,
    ],
    [
      'KDF over the ceiling',
      at((b) => b.writeUInt32LE(4_194_305, 10)),
      17,
      /refused before any key is derived/,
    ],
    [
      'a truncated file',
      (home: CoraHome) => {
        writeFileSync(vaultOf(home), readFileSync(vaultOf(home)).subarray(0, 40));
      },
      15,
      /damaged/,
    ],
  ] as const)(
    'should refuse %s with its own exit code at unlock and on a write, and keep serving',
    async (_what, edit, exit, message) => {
      const home = await newHome();
      await initLocked(home);
      edit(home);
      const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile]);
      expect(unlock.code, unlock.stderr).toBe(exit);
      expect(unlock.stderr).toMatch(message);
      expect(unlock.stderr).not.toMatch(/internal error/);
      const write = await home.cr(['secrets', 'set', 'X_NAME', '--passphrase-file', home.passFile], {
        input: 'x-value-123456',
      });
      expect(write.code, write.stderr).toBe(exit);
      expect((await status(home)).running).toBe(true);
    },
  );

  it('should treat a garbage or empty lock file as stale and write at once', async () => {
    const home = await newHome();
    await initLocked(home);
    for (const content of ['', 'garbage \u0000\u00ff not json']) {
      writeFileSync(`${vaultOf(home)}.lock`, content);
      const started = Date.now();
      const write = await home.cr(['secrets', 'set', 'AFTER_LOCK', '--passphrase-file', home.passFile], {
        input: 'after-lock-value',
      });
      expect(write.code, write.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(8000); // not the 10 s lock timeout
    }
  });

  it('should name a live process that holds the write lock (exit 23)', async () => {
    const home = await newHome();
    await initLocked(home);
    // A lock held by this test process: alive, with its real start time.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const holder = {
      v: 1,
      pid: process.pid,
      start,
      host: (await import('node:os')).hostname(),
      token: 'test',
    };
    writeFileSync(`${vaultOf(home)}.lock`, `${JSON.stringify(holder)}\n`);
    const write = await home.cr(['secrets', 'set', 'BLOCKED', '--passphrase-file', home.passFile], {
      input: 'blocked-value-1',
    });
    expect(write.code, write.stderr).toBe(23);
    expect(write.stderr).toContain(`pid ${String(process.pid)}`);
  }, 30_000);
});
