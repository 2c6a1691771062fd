// SPDX-License-Identifier: AGPL-3.0-only
// spawn-win32.ts under Windows node.exe in Wine (tooling/test-windows.sh). The daemon's dist needs
// Node 24, which Wine 8 cannot run: this imports the module's TypeScript source (Node 22 strips
// the types), with @cora/memstore from its built dist.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import koffi from 'koffi';
import { SecretBuf } from '@cora/memstore';
import { KILLED_EXIT_CODE, spawnChildWin32 } from '../../src/service/exec/spawn-win32.ts';

const k32 = koffi.load('kernel32.dll');
const OpenProcess = k32.func(
  'intptr_t __stdcall OpenProcess(uint32_t access, int inherit, uint32_t pid)',
) as (a: number, i: number, p: number) => number;
const WaitForSingleObject = k32.func('uint32_t __stdcall WaitForSingleObject(intptr_t h, uint32_t ms)') as (
  h: number,
  ms: number,
) => number;
const CloseHandle = k32.func('int __stdcall CloseHandle(intptr_t h)') as (h: number) => number;

const plain = (name: string, value: string): { name: string; value: Uint8Array } => ({
  name,
  value: Buffer.from(value),
});
const base = [plain('SystemRoot', process.env['SystemRoot'] ?? 'C:\\windows')];

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  return text;
}

void describe('spawnChildWin32 under Windows node.exe', () => {
  void it('should give the child the injected variables (Unicode too) and report its exit code', async () => {
    const secret = SecretBuf.from(Buffer.from('s3cr3t-välue-✓'));
    const child = spawnChildWin32({
      file: process.execPath,
      argv: [
        'node',
        '-e',
        'process.stdout.write(process.env.CORA_SECRET + "|" + process.env.PLAIN_ONE); process.exit(7)',
      ],
      env: [...base, { name: 'CORA_SECRET', value: secret }, plain('PLAIN_ONE', 'a b "c"')],
      cwd: dirname(process.execPath),
    });
    const [out, err, exit] = await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
    secret.wipe();
    assert.equal(err, '');
    assert.equal(out, 's3cr3t-välue-✓|a b "c"');
    assert.deepEqual(exit, { code: 7, signal: null });
    assert.ok(child.pid > 0);
  });

  void it('should pass argv through the command line exactly', async () => {
    const args = ['a b', 'q"uote', 'back\\slash\\', '', 'tab\there'];
    const child = spawnChildWin32({
      file: process.execPath,
      argv: ['node', '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...args],
      env: base,
      cwd: dirname(process.execPath),
    });
    const out = await collect(child.stdout);
    await child.exited;
    assert.deepEqual(JSON.parse(out), args);
  });

  void it('should feed stdin and end the child when killed (the whole job)', async () => {
    const child = spawnChildWin32({
      file: process.execPath,
      argv: [
        'node',
        '-e',
        'process.stdin.once("data", (d) => { process.stdout.write("got " + d); }); setInterval(() => {}, 1000)',
      ],
      env: base,
      cwd: dirname(process.execPath),
    });
    child.stdin.write('ping');
    const [first] = (await once(child.stdout, 'data')) as [Buffer];
    assert.equal(first.toString(), 'got ping');
    child.kill('SIGTERM');
    assert.deepEqual(await child.exited, { code: KILLED_EXIT_CODE, signal: null });
  });

  void it('should kill the child when the process that started it dies (job KILL_ON_JOB_CLOSE)', async () => {
    // A helper node.exe starts a long child through spawnChildWin32, prints its pid, and is then
    // terminated: closing its job handle must end the child.
    const self = new URL('../../src/service/exec/spawn-win32.ts', import.meta.url).href;
    const helper = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        '--input-type=module',
        '-e',
        `const { spawnChildWin32 } = await import(${JSON.stringify(self)});
         const c = spawnChildWin32({ file: process.execPath, argv: ['node', '-e', 'setInterval(() => {}, 1000)'],
           env: [{ name: 'SystemRoot', value: Buffer.from(process.env.SystemRoot) }], cwd: ${JSON.stringify(dirname(process.execPath))} });
         console.log(c.pid); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [chunk] = (await once(helper.stdout, 'data')) as [Buffer];
    const grandchild = Number(chunk.toString().trim());
    const handle = OpenProcess(0x0010_0000 /* SYNCHRONIZE */, 0, grandchild);
    assert.ok(handle > 0, 'the child runs');
    try {
      helper.kill();
      await once(helper, 'exit');
      assert.equal(WaitForSingleObject(handle, 10_000), 0, 'the child died with its starter');
    } finally {
      CloseHandle(handle);
    }
  });

  void it('should refuse a missing program with COMMAND_NOT_FOUND and a bad env name', () => {
    assert.throws(
      () => spawnChildWin32({ file: 'C:\\no\\such.exe', argv: ['x'], env: base, cwd: 'C:\\' }),
      (e: unknown) => (e as { code?: string }).code === 'COMMAND_NOT_FOUND',
    );
    assert.throws(
      () => spawnChildWin32({ file: process.execPath, argv: ['x'], env: [plain('A=B', 'v')], cwd: 'C:\\' }),
      TypeError,
    );
  });
});
