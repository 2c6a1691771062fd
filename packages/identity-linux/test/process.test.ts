// SPDX-License-Identifier: AGPL-3.0-only
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isIdentityError, processIdentity, type VerifiedPeer } from '@cora/identity';
import { makeTempDir, waitForLine } from '@cora/test-utils';
import { Children, exitOf, PYTHON, until } from './helpers.ts';

const children = new Children();
const peers: VerifiedPeer[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  await children.killAll();
});

async function identify(pid: number, options?: { hashExe?: boolean }): Promise<VerifiedPeer> {
  const peer = await processIdentity(pid, options);
  peers.push(peer);
  return peer;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isIdentityError(error), String(error)).toBe(true);
  return (error as { code: string }).code;
}

/** Start `command` and wait until /proc shows it ran (its exe is no longer this Node). */
async function started(command: string, args: readonly string[]): Promise<number> {
  const child = children.spawn(command, args);
  const pid = child.pid ?? -1;
  await until(() => {
    try {
      return realpathSync(`/proc/${String(pid)}/exe`) === realpathSync(command);
    } catch {
      return false;
    }
  });
  return pid;
}

describe('processIdentity', () => {
  it('should identify a running binary by its pid, pinned by a pidfd, with this test as its parent', async () => {
    const pid = await started('/bin/sleep', ['30']);
    const peer = await identify(pid);
    expect(peer.identity).toMatchObject({
      pid,
      uid: process.getuid!(),
      gid: process.getgid!(),
      exe: realpathSync('/bin/sleep'),
      argv: ['/bin/sleep', '30'],
      pinned: true,
    });
    expect(peer.identity.script).toBeUndefined();
    expect(peer.identity.ancestry[0]).toMatchObject({
      pid: process.pid,
      exe: realpathSync(process.execPath),
    });
    expect(peer.identity.startTime).toBe(
      BigInt(
        readFileSync(`/proc/${String(pid)}/stat`, 'latin1')
          .split(') ')[1]
          ?.split(' ')[19] ?? '-1',
      ),
    );
    expect(peer.stillSame()).toBe(true);
  });

  it('should name the script an interpreter runs, as weaker evidence', async () => {
    const dir = await makeTempDir('cora-process-');
    try {
      const script = join(dir.path, 'agent.py');
      writeFileSync(script, 'import sys\nprint("up", flush=True)\nsys.stdin.read()\n');
      const child = children.spawn(PYTHON, [script], { cwd: dir.path });
      await waitForLine(child.stdout!, (line) => line === 'up');
      const { identity } = await identify(child.pid ?? -1);
      expect(identity.exe).toBe(realpathSync(PYTHON));
      expect(identity.script?.path).toBe(script);
      expect(identity.script?.interpreter).toMatch(/^python/);
      expect(identity.script?.weak).toBe(true);
    } finally {
      await dir.remove();
    }
  });

  it('should hash the running binary when asked', async () => {
    const pid = await started('/bin/sleep', ['30']);
    const { identity } = await identify(pid, { hashExe: true });
    expect(identity.exeSha256).toBe(createHash('sha256').update(readFileSync('/bin/sleep')).digest('hex'));
  });

  it('should identify its own process', async () => {
    const { identity } = await identify(process.pid);
    expect(identity.exe).toBe(realpathSync(process.execPath));
    expect(identity.pinned).toBe(true);
  });

  it('should refuse a pid no process holds, and one that exited (PEER_GONE)', async () => {
    const child = children.spawn('/bin/sleep', ['30']);
    const pid = child.pid ?? -1;
    child.kill('SIGKILL');
    await exitOf(child);
    expect(await codeOf(processIdentity(pid))).toBe('PEER_GONE');
    // pid_max is at most 2^22; a pid above the running maximum is never held.
    const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    if (max < 4_194_304) expect(await codeOf(processIdentity(max + 1))).toBe('PEER_GONE');
  });

  it('should report stillSame() false once the process exited', async () => {
    const child = children.spawn('/bin/sleep', ['30']);
    const peer = await identify(child.pid ?? -1);
    expect(peer.stillSame()).toBe(true);
    child.kill('SIGKILL');
    await exitOf(child);
    expect(peer.stillSame()).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)(
    "should refuse another user's process with PROC_UNREADABLE (its executable link is not ours to read)",
    async () => {
      expect(await codeOf(processIdentity(1))).toBe('PROC_UNREADABLE');
    },
  );

  it('should throw TypeError and RangeError for pids that cannot exist', async () => {
    await expect(processIdentity(1.5)).rejects.toThrow(TypeError);
    await expect(processIdentity(Number.NaN)).rejects.toThrow(TypeError);
    await expect(processIdentity('42' as unknown as number)).rejects.toThrow(TypeError);
    await expect(processIdentity(0)).rejects.toThrow(RangeError);
    await expect(processIdentity(-1)).rejects.toThrow(RangeError);
    await expect(processIdentity(4_194_305)).rejects.toThrow(RangeError);
    await expect(processIdentity(process.pid, { hashExe: 1 as unknown as boolean })).rejects.toThrow(
      TypeError,
    );
  });
});
