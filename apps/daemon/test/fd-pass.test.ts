// SPDX-License-Identifier: AGPL-3.0-only
// The passthrough fd handoff (issue 15), with real sockets and descriptors: the service's
// one-shot socket takes fds 0-2 from the expected process only, and a stall cannot hold it.
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { closeFds, listenForStdio, sendStdio } from '../src/shared/fd-pass.ts';

const dirs: TempDir[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await dir.remove();
});

async function tempDir(): Promise<string> {
  const dir = await makeTempDir('cora-fdpass-');
  dirs.push(dir);
  return dir.path;
}

const self = { pid: process.pid, uid: process.getuid?.() ?? 0 };

describe('fd handoff (SCM_RIGHTS over a one-shot socket)', () => {
  it('should receive the caller fds 0, 1, 2 (same open files) and remove its socket', async () => {
    const receiver = listenForStdio(await tempDir());
    try {
      const waiting = receiver.receive(self, new AbortController().signal, 5000);
      sendStdio(receiver.path);
      const fds = await waiting;
      try {
        expect(fds.map((fd) => readlinkSync(`/proc/self/fd/${String(fd)}`))).toEqual(
          [0, 1, 2].map((fd) => readlinkSync(`/proc/self/fd/${String(fd)}`)),
        );
        expect(fds.every((fd) => fd > 2)).toBe(true);
      } finally {
        closeFds(fds);
      }
    } finally {
      receiver.close();
    }
    expect(() => readlinkSync(receiver.path)).toThrow();
  });

  it('should refuse fds sent by another process of the same user', async () => {
    const receiver = listenForStdio(await tempDir());
    try {
      const waiting = receiver.receive(self, new AbortController().signal, 5000);
      // A same-uid process that learnt the path races the caller.
      const other = spawn(process.execPath, [
        '--experimental-strip-types',
        '-e',
        `import('${new URL('../src/shared/fd-pass.ts', import.meta.url).pathname}').then((m) => m.sendStdio(${JSON.stringify(receiver.path)}))`,
      ]);
      await expect(waiting).rejects.toThrow(/another process \(pid \d+\)/);
      await new Promise((r) => other.once('close', r));
    } finally {
      receiver.close();
    }
  });

  it('should give up after its timeout when nobody connects, and on abort', async () => {
    const receiver = listenForStdio(await tempDir());
    try {
      const started = performance.now();
      await expect(receiver.receive(self, new AbortController().signal, 200)).rejects.toThrow(/in time/);
      expect(performance.now() - started).toBeLessThan(2000);
      const abort = new AbortController();
      const waiting = receiver.receive(self, abort.signal, 5000);
      abort.abort();
      await expect(waiting).rejects.toThrow(/went away/);
    } finally {
      receiver.close();
    }
  });
});
