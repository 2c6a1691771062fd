// SPDX-License-Identifier: AGPL-3.0-only
// The owner lock's struct flock per platform: both layouts pinned from the headers (macOS
// cannot run here), and the Linux one against the real kernel with a real holder process.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { makeTempDir, waitForLine } from '@cora/test-utils';
import { claimOwnership, flockAbi, flockHolder, flockRequest, ownerPid } from '../src/shared/owner-lock.ts';
import { APP_DIR, SOURCE_FLAGS } from './helpers.ts';

describe('flockAbi', () => {
  it('should put l_type first and l_pid at 24 in a 32-byte struct on Linux', () => {
    const abi = flockAbi('linux');
    const request = flockRequest(abi);
    expect(request.length).toBe(32);
    expect(Buffer.from(request).readInt16LE(0)).toBe(1); // F_WRLCK
    expect(abi).toMatchObject({ F_GETLK: 5, F_SETLK: 6, busy: [11, 13] });
  });

  it('should use the BSD layout on macOS: l_start, l_len, l_pid at 16, l_type at 20 (24 bytes)', () => {
    const abi = flockAbi('darwin');
    const request = flockRequest(abi);
    expect(request.length).toBe(24);
    expect(Buffer.from(request).readInt16LE(20)).toBe(3); // F_WRLCK on xnu
    expect(
      Buffer.from(request)
        .subarray(0, 16)
        .every((b) => b === 0),
    ).toBe(true); // whole file
    const answer = Buffer.alloc(24);
    answer.writeInt32LE(4242, 16);
    answer.writeInt16LE(3, 20);
    expect(flockHolder(abi, answer)).toBe(4242);
    answer.writeInt16LE(2, 20); // F_UNLCK: nobody holds it
    expect(flockHolder(abi, answer)).toBeNull();
    expect(abi).toMatchObject({ F_GETLK: 7, F_SETLK: 8, busy: [35, 13] });
  });

  it('should refuse a platform without an owner lock here', () => {
    expect(() => flockAbi('win32')).toThrow(/not implemented on win32/);
  });
});

describe.runIf(process.platform === 'linux')('the owner lock against the Linux kernel', () => {
  it('should name the holding process, and refuse a second claim with its pid', async () => {
    await using home = await makeTempDir('cora-owner-');
    expect(ownerPid(home.path)).toBeNull();
    const holder = spawn(
      process.execPath,
      [...SOURCE_FLAGS, 'test/fixtures/owner-lock-child.ts', home.path],
      {
        cwd: APP_DIR,
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    try {
      const line = await waitForLine(holder.stdout, (l) => l.startsWith('{'));
      expect(JSON.parse(line)).toEqual({ owned: true });
      expect(ownerPid(home.path)).toBe(holder.pid);
      expect(claimOwnership(home.path)).toEqual({ owned: false, holder: holder.pid });
    } finally {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.stdin.end();
      await exited;
    }
    expect(ownerPid(home.path)).toBeNull();
  });
});
