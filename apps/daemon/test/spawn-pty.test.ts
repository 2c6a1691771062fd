// SPDX-License-Identifier: AGPL-3.0-only
// spawnChild on a pty (issue 15), against the real kernel: the child leads its own session with
// the slave as controlling terminal, the master reaches no other child, the service keeps no
// terminal, a resize is seen, and closing the master hangs the child up.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnChild, type SpawnedChild } from '../src/service/exec/spawn.ts';
import { resizePty } from '../src/service/exec/pty.ts';

const SH = '/bin/sh';
const children: SpawnedChild[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await child.exited;
  }
});

function start(script: string, pty?: { cols: number; rows: number }): SpawnedChild {
  const child = spawnChild({
    file: SH,
    argv: ['sh', '-c', script],
    env: [{ name: 'PATH', value: new TextEncoder().encode('/usr/bin:/bin') }],
    cwd: '/',
    ...(pty === undefined ? {} : { pty }),
  });
  children.push(child);
  return child;
}

/** Read `stream` until `pattern` shows, answering with what was read. */
function readUntil(child: SpawnedChild, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      reject(new Error(`no ${String(pattern)} in: ${text}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      if (pattern.test(text)) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(text);
      }
    };
    child.stdout.on('data', onData);
  });
}

/** Field 7 of /proc/<pid>/stat: the controlling terminal's device number (0: none). */
function ttyNr(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4]);
}

describe('spawnChild on a pty', () => {
  it('should make the child a session leader with the slave as controlling terminal on 0, 1, 2', async () => {
    const before = ttyNr('self');
    const child = start('echo "TTY=$(tty) SIZE=$(stty size)"; sleep 30', { cols: 132, rows: 43 });
    expect(child.terminalFd).not.toBeNull();
    const text = await readUntil(child, /SIZE=\d+ \d+/);
    expect(text).toMatch(/TTY=\/dev\/pts\/\d+ SIZE=43 132/);
    const stat = readFileSync(`/proc/${String(child.pid)}/stat`, 'utf8');
    const [, , pgid, sid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    expect(Number(sid)).toBe(child.pid);
    expect(Number(pgid)).toBe(child.pid);
    expect(ttyNr(child.pid)).not.toBe(0);
    // The service did not acquire the pty.
    expect(ttyNr('self')).toBe(before);
    const targets = [0, 1, 2].map((fd) => readlinkSync(`/proc/${String(child.pid)}/fd/${String(fd)}`));
    expect(new Set(targets).size).toBe(1);
    expect(targets[0]).toMatch(/^\/dev\/pts\/\d+$/);
    expect(readdirSync(`/proc/${String(child.pid)}/fd`).sort()).toEqual(['0', '1', '2']);
  });

  it('should keep the master from every other child (O_CLOEXEC, closefrom)', async () => {
    const first = start('echo READY; sleep 30', { cols: 80, rows: 24 });
    await readUntil(first, /READY/);
    // A child of Node's own spawn (no closefrom there): only O_CLOEXEC keeps the master out.
    const text = spawnSync('ls', ['-l', '/proc/self/fd/'], { encoding: 'utf8' }).stdout;
    expect(text).toMatch(/ 0 -> /);
    expect(text).not.toContain('ptmx');
    expect(text).not.toContain('/dev/pts');
  });

  it('should send SIGWINCH with the new size on resize', async () => {
    const child = start(`trap 'echo "WINCH=$(stty size)"' WINCH; echo READY; while :; do sleep 0.05; done`, {
      cols: 80,
      rows: 24,
    });
    await readUntil(child, /READY/);
    expect(resizePty(child.terminalFd ?? -1, { cols: 100, rows: 50 })).toBe(true);
    expect(await readUntil(child, /WINCH=\d+ \d+/)).toMatch(/WINCH=50 100/);
  });

  it('should hang the child up when the master closes', async () => {
    const child = start(`trap 'exit 42' HUP; echo READY; while :; do sleep 0.05; done`, {
      cols: 80,
      rows: 24,
    });
    await readUntil(child, /READY/);
    child.stdout.destroy();
    const exit = await child.exited;
    expect(exit.code === 42 || exit.signal === 'SIGHUP').toBe(true);
  });

  it('should turn a typed Ctrl-C into SIGINT for the child', async () => {
    const child = start(`trap 'echo GOT-INT; exit 3' INT; echo READY; while :; do sleep 0.05; done`, {
      cols: 80,
      rows: 24,
    });
    await readUntil(child, /READY/);
    child.stdin.write(Buffer.of(0x03));
    expect(await readUntil(child, /GOT-INT/)).toContain('GOT-INT');
    expect((await child.exited).code).toBe(3);
  });
});
