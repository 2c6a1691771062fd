// SPDX-License-Identifier: AGPL-3.0-only
import { spawn as nodeSpawn } from 'node:child_process';
import { createHash, pbkdf2 } from 'node:crypto';
import { chmodSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { adoptWithOwnBuffer } from '@cora/ipc';
import { SecretBuf } from '@cora/memstore';
import { canaryForms, makeCanary, makeTempDir, scanProcessMemory, waitForLine } from '@cora/test-utils';
import type { TempDir } from '@cora/test-utils';
// memstore's count of SecretBufs not yet wiped (vitest resolves @cora/memstore to these same
// sources, so this is the very counter spawnChild's SecretBuf updates).
import { liveSecretBufs } from '../../../packages/memstore/src/internal/live.ts';
import { OUTPUT_PIPE_BYTES, isSpawnError, spawnChild } from '../src/service/exec/spawn.ts';
import type { SpawnEnvEntry, SpawnOptions, SpawnedChild } from '../src/service/exec/spawn.ts';
import { APP_DIR, SOURCE_FLAGS, secret } from './helpers.ts';

const PATH_ENV: SpawnEnvEntry = { name: 'PATH', value: Buffer.from('/usr/bin:/bin') };
const live: SpawnedChild[] = [];
const strayPids: number[] = [];
const temps: TempDir[] = [];

afterEach(async () => {
  for (const child of live.splice(0)) {
    child.kill('SIGKILL');
    child.stdout.destroy();
    child.stderr.destroy();
    child.stdin.destroy();
    await child.exited;
  }
  for (const pid of strayPids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

afterAll(async () => {
  for (const temp of temps) await temp.remove();
});

function start(options: Partial<SpawnOptions> & Pick<SpawnOptions, 'file' | 'argv'>): SpawnedChild {
  const child = spawnChild({ env: [PATH_ENV], cwd: '/', ...options });
  live.push(child);
  return child;
}

function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.on('end', () => {
      resolve(Buffer.concat(chunks));
    });
    stream.on('error', reject);
  });
}

async function run(
  options: Partial<SpawnOptions> & Pick<SpawnOptions, 'file' | 'argv'>,
  input?: string,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const child = start(options);
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  child.stdin.end(input);
  const [exit, stdout, stderr] = await Promise.all([child.exited, out, err]);
  return { ...exit, stdout: stdout.toString(), stderr: stderr.toString() };
}

const sh = (script: string, env: readonly SpawnEnvEntry[] = [PATH_ENV]) =>
  run({ file: '/bin/sh', argv: ['sh', '-c', script], env });

/** Children of this process in state Z (zombies), from /proc. */
function zombieChildren(): number[] {
  const zombies: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue;
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === process.pid && state === 'Z') zombies.push(Number(entry));
  }
  return zombies;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('spawnChild', () => {
  it('should give the child exactly the environment it was given', async () => {
    const result = await run({
      file: '/usr/bin/env',
      argv: ['env'],
      env: [
        { name: 'A', value: Buffer.from('1') },
        { name: 'SPACED', value: Buffer.from('two words = ok') },
        { name: 'EMPTY', value: new Uint8Array(0) },
        { name: 'S', value: secret('from secure memory') },
      ],
    });
    expect(result).toEqual({
      code: 0,
      signal: null,
      stdout: 'A=1\nSPACED=two words = ok\nEMPTY=\nS=from secure memory\n',
      stderr: '',
    });
    expect((await run({ file: '/usr/bin/env', argv: ['env'], env: [] })).stdout).toBe('');
  });

  it('should pass a SecretBuf value that reaches the child intact, leaving the caller copy alone', async () => {
    const bytes = Buffer.concat([makeCanary(), Buffer.from([0x01, 0xff, 0x80, 0x20, 0x22, 0x24])]);
    const value = SecretBuf.from(bytes);
    const result = await sh('printf %s "$X" | sha256sum', [PATH_ENV, { name: 'X', value }]);
    expect(result.stdout).toBe(`${createHash('sha256').update(bytes).digest('hex')}  -\n`);
    expect(value.wiped).toBe(false);
    value.wipe();
  });

  it('should wipe its per-spawn environment block before returning, on success and on failure', async () => {
    const value = secret('per-spawn copy');
    const before = liveSecretBufs.count;
    const child = start({ file: '/bin/cat', argv: ['cat'], env: [{ name: 'V', value }] });
    // A garbage collection would also free the block, so count, do not scan, here.
    expect(liveSecretBufs.count).toBe(before);
    child.stdin.end();
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(() =>
      spawnChild({ file: '/nonexistent', argv: ['x'], env: [{ name: 'V', value }], cwd: '/' }),
    ).toThrow();
    expect(liveSecretBufs.count).toBe(before);
    value.wipe();
  });

  it('should leave no copy of the value in the parent once the child runs and the source is wiped', async () => {
    const canary = makeCanary();
    const fixture = nodeSpawn(process.execPath, [...SOURCE_FLAGS, 'test/fixtures/spawn-residue.ts'], {
      cwd: APP_DIR,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      fixture.stdin.end(canary);
      const lines: string[] = [];
      fixture.stdout.setEncoding('utf8').on('data', (text: string) => lines.push(text));
      await waitForLine(fixture.stdout, (line) => line === 'ready', 20_000);
      const report = JSON.parse(lines.join('').split('\n')[0] ?? '') as { pid: number; out: string };
      strayPids.push(report.pid);
      expect(report.out).toBe(`${createHash('sha256').update(canary).digest('hex')}  -\n`);
      const needles = [...canaryForms(canary), Buffer.concat([Buffer.from('CORA_VALUE='), canary])];
      const hits = await scanProcessMemory(fixture.pid ?? -1, needles);
      expect(hits).toEqual([]);
    } finally {
      fixture.kill('SIGKILL');
    }
  });

  it('should run the child in the given cwd', async () => {
    const temp = await makeTempDir('cora-spawn-');
    temps.push(temp);
    const result = await run({ file: '/bin/pwd', argv: ['pwd'], cwd: temp.path });
    expect(result.stdout).toBe(`${realpathSync(temp.path)}\n`);
    expect(process.cwd()).not.toBe(temp.path);
  });

  it('should report exit codes 0, 3 and 255', async () => {
    for (const code of [0, 3, 255]) {
      const result = await sh(`exit ${String(code)}`);
      expect(result).toMatchObject({ code, signal: null });
    }
  });

  it('should report the signal that killed the child, sent by kill() or by the child itself', async () => {
    const sleeper = start({ file: '/bin/sleep', argv: ['sleep', '30'] });
    sleeper.kill('SIGTERM');
    expect(await sleeper.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await sh('kill -KILL $$')).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('should start the child with no signal blocked or ignored, in its own process group', async () => {
    // Node ignores SIGPIPE and glibc's spawn child runs with everything blocked:
    // POSIX_SPAWN_SETSIGDEF / SETSIGMASK must undo both for the program (read its own status).
    const sigs = await run({ file: '/bin/grep', argv: ['grep', '-E', '^Sig(Blk|Ign)', '/proc/self/status'] });
    expect(sigs.stdout).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
    const child = start({ file: '/usr/bin/cut', argv: ['cut', '-d', ' ', '-f5', '/proc/self/stat'] });
    const out = collect(child.stdout);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect((await out).toString()).toBe(`${String(child.pid)}\n`);
  });

  it('should pass no fd but 0, 1 and 2, even while other children hold pipes and pidfds', async () => {
    start({ file: '/bin/sleep', argv: ['sleep', '30'] });
    // ls opens /proc/self/fd itself: that is the one extra entry (3).
    const result = await run({ file: '/bin/ls', argv: ['ls', '/proc/self/fd'] });
    expect(result.stdout).toBe('0\n1\n2\n3\n');
  });

  it('should swallow EPIPE when the child exits without reading its stdin', async () => {
    const child = start({ file: '/bin/true', argv: ['true'] });
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const closed = new Promise((resolve) => child.stdin.on('close', resolve));
    child.stdin.write(Buffer.alloc(1024 * 1024));
    await closed;
  });

  it('should pipe stdin to the child', async () => {
    const result = await run({ file: '/bin/cat', argv: ['cat'] }, 'hello\nworld\n');
    expect(result).toEqual({ code: 0, signal: null, stdout: 'hello\nworld\n', stderr: '' });
  });

  it('should give the child output pipes of OUTPUT_PIPE_BYTES and leave its stdin pipe at the default', async () => {
    // F_GETPIPE_SZ (1032) on each of the child's own fds: the masker reads in pieces this large.
    const script = 'import fcntl\nfor fd in (0, 1, 2): print(fcntl.fcntl(fd, 1032))';
    const result = await run({ file: '/usr/bin/python3', argv: ['python3', '-c', script] });
    expect(result.stdout).toBe(`65536\n${String(OUTPUT_PIPE_BYTES)}\n${String(OUTPUT_PIPE_BYTES)}\n`);
    expect(OUTPUT_PIPE_BYTES).toBeGreaterThan(65536);
  });
  it('should stream 50 MB of output with back-pressure and bounded memory', async () => {
    const size = 50 * 1024 * 1024;
    const child = start({ file: '/usr/bin/head', argv: ['head', '-c', String(size), '/dev/zero'] });
    // Read the way the service does (exec-handler.ts): one owned buffer, reused for every read,
    // so memory does not depend on when the garbage collector frees per-read chunks.
    const out = adoptWithOwnBuffer(child.stdout, { writable: false, bufferBytes: 64 * 1024 }) ?? child.stdout;
    out.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Paused: the pipe is full, the child blocks in write(), and we hold at most a few chunks.
    expect(out.readableLength).toBeLessThan(1024 * 1024);
    let settled = false;
    void child.exited.then(() => (settled = true));
    expect(settled).toBe(false);
    const rssBefore = process.memoryUsage().rss;
    let received = 0;
    let maxRss = rssBefore;
    out.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if ((received & 0xfffff) < chunk.length) maxRss = Math.max(maxRss, process.memoryUsage().rss);
    });
    out.resume();
    await new Promise((resolve) => out.on('end', resolve));
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(received).toBe(size);
    expect(maxRss - rssBefore).toBeLessThan(size);
  });

  it('should end stdout early when the child closes it, and still report the exit', async () => {
    const child = start({
      file: '/bin/sh',
      argv: ['sh', '-c', 'echo one; exec 1>&-; sleep 0.3; echo two >&2; exit 4'],
    });
    const err = collect(child.stderr);
    let exitedFirst = false;
    void child.exited.then(() => (exitedFirst = true));
    const out = await collect(child.stdout);
    expect(out.toString()).toBe('one\n');
    expect(exitedFirst).toBe(false);
    expect(await child.exited).toEqual({ code: 4, signal: null });
    expect((await err).toString()).toBe('two\n');
  });

  it('should let the child die of SIGPIPE when the reader goes away', async () => {
    const child = start({ file: '/usr/bin/yes', argv: ['yes'] });
    child.stdout.once('data', () => child.stdout.destroy());
    expect(await child.exited).toEqual({ code: null, signal: 'SIGPIPE' });
  });

  it('should settle exited when the child exits while a grandchild still holds the pipes', async () => {
    const child = start({ file: '/bin/sh', argv: ['sh', '-c', 'sleep 30 & echo $!; exit 0'] });
    let ended = false;
    child.stdout.on('end', () => (ended = true));
    const firstLine = new Promise<string>((resolve) =>
      child.stdout.once('data', (c: Buffer) => resolve(c.toString())),
    );
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const grandchild = Number((await firstLine).trim());
    strayPids.push(grandchild);
    const cmdline = (): string => readFileSync(`/proc/${String(grandchild)}/cmdline`, 'latin1');
    // $! is the forked shell until it has exec'd sleep.
    for (let i = 0; i < 100 && cmdline() !== 'sleep\x0030\x00'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(cmdline()).toBe('sleep\x0030\x00');
    // The grandchild inherited fd 1: stdout stays open until it exits.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ended).toBe(false);
    // kill() after the reap is a no-op (the group id may be recycled); the caller cleans up.
    child.kill('SIGTERM');
    expect(cmdline()).toBe('sleep\x0030\x00');
    const closed = new Promise((resolve) => child.stdout.on('close', resolve));
    process.kill(grandchild, 'SIGKILL');
    await closed;
    expect(ended).toBe(true);
  });

  it('should signal the whole process group while the child runs', async () => {
    const child = start({ file: '/bin/sh', argv: ['sh', '-c', 'sleep 30 & echo $!; wait'] });
    const pid = await new Promise<number>((resolve) =>
      child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim()))),
    );
    strayPids.push(pid);
    const closed = new Promise((resolve) => child.stdout.on('close', resolve));
    child.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGTERM' });
    // The grandchild got SIGTERM too, so the pipe closes.
    await closed;
  });

  it('should reap 100 concurrent children without zombies, leaked fds or a busy thread pool', async () => {
    const fdsBefore = openFds();
    const children = Array.from({ length: 100 }, (_, i) =>
      start({ file: '/bin/sh', argv: ['sh', '-c', `sleep 0.5; exit ${String(i % 7)}`] }),
    );
    // The libuv pool (4 threads) must stay free while 100 children run (architecture §12: argon2).
    const poolStart = Date.now();
    await new Promise((resolve, reject) =>
      pbkdf2('x', 'y', 1, 32, 'sha256', (error) => (error ? reject(error) : resolve(undefined))),
    );
    expect(Date.now() - poolStart).toBeLessThan(400);
    const exits = await Promise.all(children.map((child) => child.exited));
    expect(exits).toEqual(Array.from({ length: 100 }, (_, i) => ({ code: i % 7, signal: null })));
    expect(zombieChildren()).toEqual([]);
    for (const child of children) {
      child.stdout.destroy();
      child.stderr.destroy();
      child.stdin.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);
  });

  it('should throw COMMAND_NOT_FOUND, NOT_EXECUTABLE and BAD_CWD without leaking fds', async () => {
    const temp = await makeTempDir('cora-spawn-');
    temps.push(temp);
    const plain = join(temp.path, 'not-executable');
    writeFileSync(plain, '#!/bin/sh\necho hi\n');
    chmodSync(plain, 0o644);
    const fdsBefore = openFds();
    const attempt = (options: Partial<SpawnOptions>): unknown => {
      try {
        spawnChild({ file: '/bin/true', argv: ['x'], env: [], cwd: '/', ...options });
      } catch (error) {
        return error;
      }
      return undefined;
    };
    const missing = attempt({ file: '/nonexistent/cora-cmd' });
    expect(isSpawnError(missing, 'COMMAND_NOT_FOUND')).toBe(true);
    expect((missing as Error).message).toBe('command not found: /nonexistent/cora-cmd');
    expect(isSpawnError(attempt({ file: plain }), 'NOT_EXECUTABLE')).toBe(true);
    expect(isSpawnError(attempt({ cwd: join(temp.path, 'gone') }), 'BAD_CWD')).toBe(true);
    expect(openFds()).toBe(fdsBefore);
    expect(zombieChildren()).toEqual([]);
  });

  it('should refuse bad input with a TypeError that never shows a value', () => {
    const value = secret('top-secret-value');
    const bad: Partial<SpawnOptions>[] = [
      { file: 'relative/true' },
      { cwd: 'relative' },
      { argv: [] },
      { argv: ['a\0b'] },
      { env: [{ name: 'A=B', value: Buffer.from('x') }] },
      { env: [{ name: '', value: Buffer.from('x') }] },
      { env: [{ name: 'V', value: Buffer.from('a\0b') }] },
      { env: [{ name: 'V', value: secret('top\0secret') }] },
      { env: [{ name: 'V', value: 'string' as unknown as Uint8Array }] },
    ];
    for (const options of bad) {
      expect(() =>
        spawnChild({ file: '/bin/true', argv: ['true'], env: [{ name: 'S', value }], cwd: '/', ...options }),
      ).toThrow(TypeError);
    }
    try {
      spawnChild({
        file: '/bin/true',
        argv: ['true'],
        env: [{ name: 'V', value: secret('top\0secret') }],
        cwd: '/',
      });
    } catch (error) {
      expect((error as Error).message).not.toContain('secret');
    }
    value.wipe();
  });

  it('should refuse an unknown signal name', async () => {
    const child = start({ file: '/bin/sleep', argv: ['sleep', '30'] });
    expect(() => child.kill('SIGNOPE' as NodeJS.Signals)).toThrow(TypeError);
    child.kill('SIGKILL');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });
});
