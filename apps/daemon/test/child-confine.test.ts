// SPDX-License-Identifier: AGPL-3.0-only
// A task's confinement of its child, on the real kernel with real children (architecture §8,
// issue 13 item 2): Landlock write and TCP rules through the exec helper, the clean HOME,
// the pinned descriptor, and descendants killed at lock or at the child's exit.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landlockAbi } from '@cora/sandbox';
import { makeCanary, makeTempDir, type TempDir } from '@cora/test-utils';
import { configureChildren } from '../src/service/exec/confine.ts';
import { killAllDescendants } from '../src/service/exec/descendants.ts';
import { spawnChild, type SpawnEnvEntry, type SpawnOptions } from '../src/service/exec/spawn.ts';
import { secret } from './helpers.ts';

const PATH_ENV: SpawnEnvEntry = { name: 'PATH', value: Buffer.from('/usr/bin:/bin') };
const usable = process.platform === 'linux' && landlockAbi() >= 4;

function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    stream.on('close', () => {
      resolve(Buffer.concat(chunks).toString());
    });
  });
}

async function run(
  options: Partial<SpawnOptions> & Pick<SpawnOptions, 'file' | 'argv'>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnChild({ env: [PATH_ENV], cwd: '/', ...options });
  child.stdin.end();
  const [exit, stdout, stderr] = await Promise.all([
    child.exited,
    collect(child.stdout),
    collect(child.stderr),
  ]);
  return { code: exit.code, stdout, stderr };
}

const sh = (script: string, confine: SpawnOptions['confine'], env: SpawnEnvEntry[] = [PATH_ENV]) =>
  run({ file: '/bin/sh', argv: ['sh', '-c', script], env, ...(confine === undefined ? {} : { confine }) });

/** Whether `pid` is alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

describe.runIf(usable)('spawnChild with a task confinement (real kernel)', () => {
  let dir: TempDir;
  let runDir: string;
  let out: string;
  let elsewhere: string;
  let userHome: string;
  let servers: Server[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    dir = await makeTempDir('cora-child-confine-');
    for (const sub of ['cora', 'cora/run', 'out', 'elsewhere', 'home']) mkdirSync(join(dir.path, sub));
    runDir = join(dir.path, 'cora', 'run');
    out = join(dir.path, 'out');
    elsewhere = join(dir.path, 'elsewhere');
    userHome = join(dir.path, 'home');
    writeFileSync(join(userHome, '.curlrc'), 'output = /tmp/stolen\n');
    configureChildren(join(dir.path, 'cora'), runDir);
    for (let i = 0; i < 2; i++) {
      const server = createServer((socket) => socket.end('hello\n'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      ports.push(address.port);
      servers.push(server);
    }
  });

  afterAll(async () => {
    for (const server of servers) server.close();
    servers = [];
    await dir.remove();
  });

  it('should let the child write only in its write directories (EACCES elsewhere)', async () => {
    const result = await sh(`echo ok > ${out}/a && echo no > ${elsewhere}/b; echo "rc=$?"`, { write: [out] });
    expect(readFileSync(join(out, 'a'), 'utf8')).toBe('ok\n');
    expect(existsSync(join(elsewhere, 'b'))).toBe(false);
    expect(result.stderr).toMatch(/Permission denied/);
    expect(result.stdout).toBe('rc=2\n');
    // Outside the confinement the same script writes both (the test can fail).
    await sh(`echo no > ${elsewhere}/b`, undefined);
    expect(existsSync(join(elsewhere, 'b'))).toBe(true);
  });

  it('should let the child connect only to its allowed TCP ports', async () => {
    const [allowed, other] = ports as [number, number];
    const script = [
      "const net = require('node:net');",
      'const tryPort = (port) => new Promise((done) => {',
      "  const s = net.connect(port, '127.0.0.1');",
      "  s.on('data', (d) => { done(`${port} ok ${d.toString().trim()}`); s.destroy(); });",
      "  s.on('error', (e) => done(`${port} ${e.code}`));",
      '});',
      'const listen = () => new Promise((done) => {',
      "  const srv = net.createServer().listen(0, '127.0.0.1', () => { done('listen ok'); srv.close(); });",
      "  srv.on('error', (e) => done(`listen ${e.code}`));",
      '});',
      `(async () => { console.log(await tryPort(${String(allowed)})); console.log(await tryPort(${String(other)})); console.log(await listen()); })();`,
    ].join('\n');
    const path = join(dir.path, 'client.cjs');
    writeFileSync(path, script);
    const confined = await run({
      file: process.execPath,
      argv: ['node', path],
      confine: { connect: [allowed] },
    });
    expect(confined.stdout).toBe(`${String(allowed)} ok hello\n${String(other)} EACCES\nlisten EACCES\n`);
    const free = await run({ file: process.execPath, argv: ['node', path] });
    expect(free.stdout).toBe(`${String(allowed)} ok hello\n${String(other)} ok hello\nlisten ok\n`);
  });

  it('should give the child a clean private HOME, removed after it exits', async () => {
    const env: SpawnEnvEntry[] = [
      PATH_ENV,
      { name: 'HOME', value: Buffer.from(userHome) },
      { name: 'XDG_CONFIG_HOME', value: Buffer.from(userHome) },
      { name: 'CURL_HOME', value: Buffer.from(userHome) },
    ];
    const script =
      'echo "$HOME"; stat -c %a "$HOME"; ls -A "$HOME"; cat "$HOME/.curlrc" 2>&1; echo "xdg=${XDG_CONFIG_HOME-unset} curl=${CURL_HOME-unset} tmp=$TMPDIR"';
    const result = await sh(script, { home: 'clean' }, env);
    const [home, mode, ...rest] = result.stdout.split('\n');
    expect(home?.startsWith(`${runDir}/child-home-`)).toBe(true);
    expect(mode).toBe('700');
    expect(rest.join('\n')).toMatch(/No such file/);
    expect(result.stdout).toContain(`xdg=unset curl=unset tmp=${home ?? ''}`);
    expect(existsSync(home ?? '/')).toBe(false);
    expect(readdirSync(runDir).filter((name) => name.startsWith('child-home-'))).toEqual([]);
  });

  it('should keep the clean HOME writable under a write confinement, and nothing of the Cora home', async () => {
    const result = await sh(
      `echo x > "$HOME/f" && echo home-ok; ls ${runDir} 2>&1 | head -1; echo x > ${runDir}/../planted`,
      {
        home: 'clean',
        write: [],
      },
    );
    expect(result.stdout).toMatch(/^home-ok\n/);
    expect(existsSync(join(runDir, '..', 'planted'))).toBe(false);
  });

  it('should remove the clean HOME without following a symlink the child planted in it', async () => {
    writeFileSync(join(elsewhere, 'keep'), 'kept');
    const result = await sh(`ln -s ${elsewhere} "$HOME/link" && echo "$HOME"`, { home: 'clean' });
    expect(existsSync(result.stdout.trim())).toBe(false);
    expect(readFileSync(join(elsewhere, 'keep'), 'utf8')).toBe('kept');
  });

  it('should give a write directory since swapped for a symlink no rule (narrower, never wider)', async () => {
    const swapped = join(dir.path, 'swapped');
    symlinkSync(elsewhere, swapped);
    const result = await sh(`echo x > ${swapped}/via-link; echo "rc=$?"`, { write: [swapped] });
    expect(result.stdout).toBe('rc=2\n');
    expect(existsSync(join(elsewhere, 'via-link'))).toBe(false);
  });

  it('should refuse a clean HOME when the run directory is gone, and start nothing', () => {
    const gone = join(dir.path, 'cora-gone');
    mkdirSync(gone);
    mkdirSync(join(gone, 'run'));
    configureChildren(gone, join(gone, 'run'));
    rmSync(join(gone, 'run'), { recursive: true });
    try {
      expect(() =>
        spawnChild({
          file: '/bin/true',
          argv: ['true'],
          env: [PATH_ENV],
          cwd: '/',
          confine: { home: 'clean' },
        }),
      ).toThrow(/cannot confine the child of \/bin\/true/);
    } finally {
      configureChildren(join(dir.path, 'cora'), runDir);
    }
  });

  it('should pass the environment, secrets included, and never let a passed NODE_OPTIONS steer the helper', async () => {
    const canary = makeCanary();
    const env: SpawnEnvEntry[] = [
      PATH_ENV,
      { name: 'TOKEN', value: secret(canary) },
      { name: 'NODE_OPTIONS', value: Buffer.from('--require /nonexistent/evil.js') },
    ];
    const result = await run({ file: '/usr/bin/env', argv: ['env'], env, confine: { write: [out] } });
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').sort().filter(Boolean)).toEqual(
      [
        'NODE_OPTIONS=--require /nonexistent/evil.js',
        'PATH=/usr/bin:/bin',
        `TOKEN=${canary.toString('latin1')}`,
      ].sort(),
    );
  });

  it('should start the target with no signal ignored or blocked, as an unconfined one', async () => {
    const result = await sh('grep -E "^Sig(Ign|Blk)" /proc/self/status', { connect: [] });
    expect(result.stdout).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
  });

  it('should run a pinned binary from its descriptor, and refuse it when it changed', async () => {
    const bin = '/usr/bin/env';
    const sha256 = createHash('sha256').update(readFileSync(bin)).digest('hex');
    await using handle = await open(bin, 'r');
    const ok = await run({
      file: bin,
      argv: ['env'],
      fd: handle.fd,
      confine: { write: [], target_sha256: { [bin]: sha256 } },
    });
    expect(ok.code).toBe(0);
    const bad = await run({
      file: bin,
      argv: ['env'],
      fd: handle.fd,
      confine: { write: [], target_sha256: { [bin]: '0'.repeat(64) } },
    });
    expect(bad.code).toBe(126);
    expect(bad.stderr).toMatch(/pinned target changed/);
  });

  it('should kill at lock a setsid grandchild that holds the secret in its environment', async () => {
    const canary = makeCanary();
    const env: SpawnEnvEntry[] = [PATH_ENV, { name: 'TOKEN', value: secret(canary) }];
    // The grandchild leaves the group and the session; its parent exits at once.
    const result = await sh(
      "setsid sh -c 'echo $$; exec sleep 60 >/dev/null 2>&1' </dev/null & sleep 0.2",
      undefined,
      env,
    );
    const pid = Number(result.stdout.trim());
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${String(pid)}/environ`).includes(canary)).toBe(true);
    // Orphaned, it came back to this process (subreaper), not to init.
    expect(readFileSync(`/proc/${String(pid)}/stat`, 'latin1')).toMatch(
      new RegExp(`\\) S ${String(process.pid)} `),
    );
    expect(killAllDescendants()).toBeGreaterThan(0);
    expect(await until(() => !existsSync(`/proc/${String(pid)}`))).toBe(true);
  });

  it('should kill what the child left behind when the task says detached: kill', async () => {
    const result = await sh("setsid sh -c 'echo $$; exec sleep 60 >/dev/null 2>&1' </dev/null &  sleep 0.2", {
      detached: 'kill',
    });
    const pid = Number(result.stdout.trim());
    expect(await until(() => !alive(pid))).toBe(true);
  });
});
