// SPDX-License-Identifier: AGPL-3.0-only
// The real kernel, real processes: what a confined process can and cannot do (architecture §13).
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, NOBODY_UID, unprivilegedCanRun, type TempDir } from '@cora/test-utils';
import {
  Access,
  DEVICE_ACCESS,
  READ_ACCESS,
  WRITE_ACCESS,
  canonicalPath,
  landlockAbi,
  type SandboxSpec,
} from '../src/index.ts';

const mkdir = (path: string): string => {
  mkdirSync(path);
  return path;
};
const FIXTURE = join(import.meta.dirname, 'fixtures', 'confine-child.ts');
const isRoot = process.getuid?.() === 0;
// Root inside Landlock still reads another process's /proc/<pid>/environ (platforms note):
// as root the confined side runs as nobody.
const canDrop = isRoot && unprivilegedCanRun([FIXTURE]);
const abi = process.platform === 'linux' ? landlockAbi() : 0;
const usable = abi >= 6 && (!isRoot || canDrop);
const asAgent = (argv: readonly string[]): [string, string[]] =>
  canDrop
    ? [
        'setpriv',
        [`--reuid=${String(NOBODY_UID)}`, `--regid=${String(NOBODY_UID)}`, '--clear-groups', ...argv],
      ]
    : [argv[0] ?? '', argv.slice(1)];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run argv (as nobody when root) without blocking: the test's own socket server must answer. */
function run(argv: readonly string[]): Promise<Run> {
  const [command, args] = asAgent(argv);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

/** Run `script` with /bin/sh inside the sandbox `spec` (or outside it when spec is null). */
function sh(spec: SandboxSpec | null, script: string): Promise<Run> {
  if (spec === null) return run(['/bin/sh', '-c', script]);
  return run([process.execPath, FIXTURE, JSON.stringify(spec), '/bin/sh', 'sh', '-c', script]);
}

describe.runIf(usable)('confineAndExec (real kernel)', () => {
  let dir: TempDir;
  let root: string;
  let spec: SandboxSpec;
  let server: Server | undefined;
  let victim: ChildProcess | undefined;
  const owned = (path: string): string => {
    if (canDrop) chownSync(path, NOBODY_UID, NOBODY_UID);
    return path;
  };

  beforeAll(async () => {
    dir = await makeTempDir('cora-sandbox-');
    root = canonicalPath(dir.path);
    owned(root);
    for (const sub of ['protected', 'protected/run', 'work', 'elsewhere']) owned(mkdir(join(root, sub)));
    writeFileSync(join(root, 'protected', 'secret'), 'CANARY-SECRET');
    owned(join(root, 'protected', 'secret'));
    writeFileSync(join(root, 'readable'), 'public');
    owned(join(root, 'readable'));
    spec = {
      grants: [
        { path: '/', access: READ_ACCESS },
        { path: '/dev/null', access: DEVICE_ACCESS },
        { path: join(root, 'work'), access: WRITE_ACCESS },
      ],
      protect: [{ path: join(root, 'protected'), withhold: 0xffff & ~Access.READ_DIR, hard: true }],
    };
    const socket = join(root, 'protected', 'run', 's.sock');
    server = createServer((c) => c.end('hello\n'));
    await new Promise<void>((resolve) => server?.listen(socket, resolve));
    owned(socket);
    const [command, args] = asAgent(['/usr/bin/env', 'CANARY_ENV=canary-in-environ', 'sleep', '60']);
    victim = spawn(command, args, { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
  });

  afterAll(async () => {
    victim?.kill('SIGKILL');
    server?.close();
    await dir.remove();
  });

  it('should refuse to read a protected file, and read it outside (the test can fail)', async () => {
    const script = `cat ${root}/protected/secret`;
    expect(await sh(spec, script)).toMatchObject({ code: 1, stdout: '' });
    expect((await sh(spec, script)).stderr).toContain('Permission denied');
    expect((await sh(null, script)).stdout).toBe('CANARY-SECRET');
  });

  it('should read elsewhere and write only in a granted directory', async () => {
    const result = await sh(
      spec,
      `cat ${root}/readable && echo x > ${root}/work/f && echo written; echo y > ${root}/elsewhere/f`,
    );
    expect(result.stdout).toBe('publicwritten\n');
    expect(result.stderr).toContain('Permission denied');
    expect((await sh(null, `echo y > ${root}/elsewhere/f && echo ok`)).stdout).toBe('ok\n');
  });

  it('should connect to a Unix socket in a protected directory but neither remove nor create one there', async () => {
    const socket = `${root}/protected/run/s.sock`;
    const connect = `${process.execPath} -e "require('net').connect('${socket}').on('data', d => process.stdout.write(d))"`;
    expect((await sh(spec, connect)).stdout).toBe('hello\n');
    const result = await sh(
      spec,
      `rm -f ${socket}; mv ${socket} ${root}/work/; touch ${root}/protected/run/fake; ls ${root}/protected/run`,
    );
    expect(result.stdout).toBe('s.sock\n');
    expect(result.stderr.match(/Permission denied|cannot/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('should refuse to signal a process outside the domain, or read its environ; outside it can', async () => {
    const pid = String(victim?.pid);
    const script = `kill -0 ${pid} && echo signalled; cat /proc/${pid}/environ | tr '\\0' '\\n' | grep CANARY_ENV`;
    const inside = await sh(spec, script);
    expect(inside.stdout).toBe('');
    expect(inside.stderr).toMatch(/not permitted/);
    expect(inside.stderr).toMatch(/Permission denied/);
    const outside = await sh(null, script);
    expect(outside.stdout).toBe('signalled\nCANARY_ENV=canary-in-environ\n');
  });

  it('should throw UNSUPPORTED above the kernel ABI and run nothing', async () => {
    const result = await run([
      process.execPath,
      FIXTURE,
      JSON.stringify({ ...spec, minAbi: 99 }),
      '/bin/echo',
      'echo',
      'ran',
    ]);
    expect(result).toMatchObject({ code: 3, stdout: '' });
    expect(result.stderr).toMatch(/^UNSUPPORTED: .*ABI is \d+; 99 or later/);
  });

  it('should throw INVALID_SPEC for a relative program or path', async () => {
    expect((await run([process.execPath, FIXTURE, JSON.stringify(spec), 'echo', 'echo'])).stderr).toMatch(
      /^INVALID_SPEC/,
    );
    const bad = { grants: [{ path: 'tmp', access: READ_ACCESS }], protect: [] };
    expect((await run([process.execPath, FIXTURE, JSON.stringify(bad), '/bin/echo', 'echo'])).stderr).toMatch(
      /^INVALID_SPEC/,
    );
  });

  it('should connect only to the allowed TCP ports and listen on none; outside it can (ABI 4)', async () => {
    const listeners: Server[] = [];
    const ports: number[] = [];
    for (let i = 0; i < 2; i++) {
      const listener = createServer((c) => c.end('hello\n'));
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      const address = listener.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      ports.push(address.port);
      listeners.push(listener);
    }
    try {
      const [allowed, other] = ports as [number, number];
      const client = [
        "const net = require('net');",
        `for (const port of [${String(allowed)}, ${String(other)}]) {`,
        "  const s = net.connect(port, '127.0.0.1');",
        "  s.on('data', () => { console.log(port + ' ok'); s.destroy(); });",
        "  s.on('error', (e) => console.log(port + ' ' + e.code));",
        '}',
        "const l = net.createServer().listen(0, '127.0.0.1', () => { console.log('listen ok'); l.close(); });",
        "l.on('error', (e) => console.log('listen ' + e.code));",
      ].join('\n');
      const sorted = (text: string): string[] => text.split('\n').filter(Boolean).sort();
      const inside = await run([
        process.execPath,
        FIXTURE,
        JSON.stringify({ ...spec, connectTcp: [allowed] }),
        process.execPath,
        'node',
        '-e',
        client,
      ]);
      expect(sorted(inside.stdout)).toEqual(
        [`${String(allowed)} ok`, `${String(other)} EACCES`, 'listen EACCES'].sort(),
      );
      const outside = await run([process.execPath, '-e', client]);
      expect(sorted(outside.stdout)).toEqual(
        [`${String(allowed)} ok`, `${String(other)} ok`, 'listen ok'].sort(),
      );
    } finally {
      for (const listener of listeners) listener.close();
    }
  });

  it('should throw INVALID_SPEC for a port outside 1 to 65535 and run nothing', async () => {
    for (const port of [0, 70000, 1.5, -1]) {
      const result = await run([
        process.execPath,
        FIXTURE,
        JSON.stringify({ ...spec, connectTcp: [port] }),
        '/bin/echo',
        'echo',
        'ran',
      ]);
      expect(result.stderr).toMatch(/^INVALID_SPEC: connectTcp/);
      expect(result.stdout).toBe('');
    }
  });

  it('should throw EXEC_FAILED, before restricting, for a program that cannot run (Node aborts on a failed execve)', async () => {
    const result = await run([
      process.execPath,
      FIXTURE,
      JSON.stringify(spec),
      `${root}/protected/secret`,
      'x',
    ]);
    expect(result).toMatchObject({ code: 3 });
    expect(result.stderr).toMatch(/^EXEC_FAILED/);
  });
});

describe('landlockAbi', () => {
  it.runIf(process.platform === 'linux')('should report a number ≥ 0', () => {
    expect(Number.isInteger(landlockAbi())).toBe(true);
    expect(landlockAbi()).toBeGreaterThanOrEqual(0);
  });
});
