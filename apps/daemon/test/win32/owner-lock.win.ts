// SPDX-License-Identifier: AGPL-3.0-only
// owner-lock-win32.ts under Windows node.exe in Wine (tooling/test-windows.sh), from its
// TypeScript source: one owner per vault home across processes, the holder's pid for everyone
// else, no stale lock after the holder dies, and a lock file that cannot be removed under it.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { claimOwnershipWin32, ownerPidWin32 } from '../../src/shared/owner-lock-win32.ts';

const module = new URL('../../src/shared/owner-lock-win32.ts', import.meta.url).href;

/** A node.exe that claims `home`, prints what it got, and stays until killed. */
async function holder(home: string): Promise<{ child: ChildProcess; answer: string }> {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { claimOwnershipWin32 } = await import(${JSON.stringify(module)});
       const claim = claimOwnershipWin32(${JSON.stringify(home)});
       console.log(claim.owned ? 'owned' : 'holder ' + claim.holder);
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return { child, answer: line.toString().trim() };
}

void describe('the vault owner lock on Windows', () => {
  void it('should give one owner, tell others its pid, and free the vault when the owner dies', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cora-owner-'));
    try {
      assert.equal(ownerPidWin32(home), null, 'no lock file: no owner');
      const first = await holder(home);
      assert.equal(first.answer, 'owned');
      try {
        assert.equal(ownerPidWin32(home), first.child.pid);
        const second = await holder(home);
        assert.equal(second.answer, `holder ${String(first.child.pid)}`);
        second.child.kill();
        const here = claimOwnershipWin32(home);
        assert.deepEqual(here, { owned: false, holder: first.child.pid });
        // Held without FILE_SHARE_DELETE: no one can remove or replace the lock file meanwhile.
        assert.throws(() => {
          unlinkSync(join(home, 'service.lock'));
        });
        writeFileSync(join(home, 'other'), '1');
        assert.throws(() => {
          renameSync(join(home, 'other'), join(home, 'service.lock'));
        });
      } finally {
        first.child.kill();
        await once(first.child, 'exit');
      }
      // The handle died with its process: the vault is free at once, no stale lock.
      assert.equal(ownerPidWin32(home), null);
      const third = await holder(home);
      assert.equal(third.answer, 'owned');
      third.child.kill();
      await once(third.child, 'exit');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  void it('should end concurrent claims with exactly one owner', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cora-owner-race-'));
    try {
      const claims = await Promise.all(Array.from({ length: 6 }, () => holder(home)));
      try {
        const owners = claims.filter((c) => c.answer === 'owned');
        assert.equal(owners.length, 1, claims.map((c) => c.answer).join(', '));
        const ownerPid = owners[0]?.child.pid;
        for (const c of claims) {
          if (c.answer !== 'owned') assert.equal(c.answer, `holder ${String(ownerPid)}`);
        }
      } finally {
        for (const c of claims) c.child.kill();
        await Promise.all(claims.map((c) => once(c.child, 'exit')));
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
