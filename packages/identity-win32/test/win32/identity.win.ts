// SPDX-License-Identifier: AGPL-3.0-only
// Windows kernel tests of @cora/identity-win32 (the built dist), run by Windows node.exe under
// Wine (tooling/test-windows.sh). Mechanics only: Wine runs every process under one SID and
// ignores DACLs, so other-user callers need a real Windows host (see the README).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import koffi from 'koffi';
import { IdentityError, scriptEvidence, isIdentityError, type PlatformHost } from '@cora/identity';
import { createIdentityPlatform, PIPE_HANDLE } from '@cora/identity-win32';
import type { Socket } from 'node:net';

const k32 = koffi.load('kernel32.dll');
const adv = koffi.load('advapi32.dll');
const CreateNamedPipeW = k32.func(
  'intptr_t __stdcall CreateNamedPipeW(str16 name, uint32_t open, uint32_t mode, uint32_t max, uint32_t out, uint32_t in, uint32_t timeout, void *sa)',
) as (
  name: string,
  o: number,
  m: number,
  max: number,
  out: number,
  inn: number,
  t: number,
  sa: null,
) => number;
const ConnectNamedPipe = k32.func('int __stdcall ConnectNamedPipe(intptr_t h, void *ov)') as (
  h: number,
  ov: null,
) => number;
const CloseHandle = k32.func('int __stdcall CloseHandle(intptr_t h)') as (h: number) => number;
const GetLastError = k32.func('uint32_t __stdcall GetLastError()') as () => number;
const GetCurrentProcess = k32.func('intptr_t __stdcall GetCurrentProcess()') as () => number;
const OpenProcessToken = adv.func(
  'int __stdcall OpenProcessToken(intptr_t h, uint32_t access, _Out_ intptr_t *token)',
) as (h: number, access: number, token: number[]) => number;
const GetTokenInformation = adv.func(
  'int __stdcall GetTokenInformation(intptr_t token, int cls, void *info, uint32_t length, _Out_ uint32_t *returned)',
) as (t: number, cls: number, info: Buffer, len: number, ret: number[]) => number;
const ConvertSidToStringSidW = adv.func(
  'int __stdcall ConvertSidToStringSidW(void *sid, _Out_ void **text)',
) as (sid: unknown, out: unknown[]) => number;

const PIPE_ACCESS_DUPLEX = 3;
const ERROR_PIPE_CONNECTED = 535;

const host: PlatformHost = {
  makeError: (code, message, options) => new IdentityError(code, message, options),
  scriptEvidence,
  socketFd: () => {
    throw new Error('strict fake: socketFd not expected on Windows');
  },
};
const platform = createIdentityPlatform(host);
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill();
});

/** A fake socket: what @cora/ipc hands over on Windows (the server end's HANDLE). */
function pipeSocket(handle: number): Socket {
  return { destroyed: false, [PIPE_HANDLE]: { handle, end: 'server' } } as unknown as Socket;
}

/** The own SID through ConvertSidToStringSidW (a second opinion on our own SID decoder). */
function ownSidByWindows(): string {
  const token = [0];
  assert.equal(OpenProcessToken(GetCurrentProcess(), 8, token), 1);
  const info = Buffer.alloc(256);
  assert.equal(GetTokenInformation(token[0] ?? 0, 1, info, 256, [0]), 1);
  CloseHandle(token[0] ?? 0);
  const sidPtr = koffi.decode(info, 'void *') as unknown;
  const out: unknown[] = [null];
  assert.equal(ConvertSidToStringSidW(sidPtr, out), 1);
  return koffi.decode(out[0], 'char16_t', -1) as string;
}

/** A pipe instance and a child node.exe connected to it (it stays until killed). */
async function connectedChild(): Promise<{ pipe: number; child: ChildProcess }> {
  const name = `\\\\.\\pipe\\cora-test-${process.pid}-${Math.random().toString(16).slice(2)}`;
  const pipe = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX, 0, 1, 4096, 4096, 0, null);
  assert.ok(pipe > 0, `CreateNamedPipeW failed: ${GetLastError()}`);
  const script = `const s = require('net').connect(${JSON.stringify(name)}, () => console.log('connected')); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  assert.match(chunk.toString(), /connected/);
  // The client is connected already: ConnectNamedPipe returns at once (ERROR_PIPE_CONNECTED).
  const ok = ConnectNamedPipe(pipe, null);
  assert.ok(ok === 1 || GetLastError() === ERROR_PIPE_CONNECTED);
  return { pipe, child };
}

void describe('@cora/identity-win32 under Windows node.exe', () => {
  void it('should identify a pipe client by its kernel pid, exe, creation time, SID and parent', async () => {
    const { pipe, child } = await connectedChild();
    try {
      const cred = platform.peerCredentials(pipeSocket(pipe));
      assert.equal(cred.pid, child.pid);
      assert.equal(cred.uid, -1);
      const peer = await platform.peerIdentity(pipeSocket(pipe), { hashExe: true });
      const id = peer.identity;
      assert.equal(id.pid, child.pid);
      assert.equal(id.exe.toLowerCase(), process.execPath.toLowerCase());
      assert.equal(id.sid, ownSidByWindows());
      assert.match(id.sid ?? '', /^S-1-5-/);
      assert.equal(id.pinned, true);
      assert.equal(typeof id.startTime, 'bigint');
      assert.ok(id.startTime > 0n);
      const parent = id.ancestry[0];
      assert.equal(parent?.pid, process.pid, 'the first ancestor is this test process');
      assert.ok(
        parent.startTime !== null && parent.startTime <= id.startTime,
        'a parent is older than its child',
      );
      assert.equal(parent.sid, id.sid);
      assert.match(id.exeSha256 ?? '', /^[0-9a-f]{64}$/);
      // From ProcessCommandLineInformation, or (Wine, which lacks it) the process's own
      // parameter block.
      assert.equal(id.argv[0], child.spawnfile, `argv: ${JSON.stringify(id.argv)}`);
      assert.deepEqual(id.argv.slice(1, 2), ['-e'], `argv: ${JSON.stringify(id.argv)}`);
      assert.equal(peer.stillSame(), true);
      // Identifying the same pid directly gives the same process (same creation time).
      const byPid = await platform.processIdentity(child.pid ?? 0, {});
      assert.equal(byPid.identity.startTime, id.startTime);
      byPid.close();

      child.kill();
      await once(child, 'exit');
      assert.equal(peer.stillSame(), false, 'an exited caller is not the same any more');
      peer.close();
      assert.equal(peer.stillSame(), false);
    } finally {
      CloseHandle(pipe);
    }
  });

  void it('should refuse a pipe instance that no client holds (Wine answers pid 0x55555555)', async () => {
    const name = `\\\\.\\pipe\\cora-test-empty-${process.pid}`;
    const pipe = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX, 0, 1, 4096, 4096, 0, null);
    try {
      assert.throws(
        () => platform.peerCredentials(pipeSocket(pipe)),
        (e: unknown) => isIdentityError(e, 'NO_PEER_CREDENTIALS'),
      );
      const error: unknown = await platform.peerIdentity(pipeSocket(pipe), {}).catch((e: unknown) => e);
      assert.ok(isIdentityError(error, 'NO_PEER_CREDENTIALS'), String(error));
    } finally {
      CloseHandle(pipe);
    }
  });

  void it("should name a relative script by the caller's own current directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cora-script-'));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'run.js'), 'console.log("up"); setInterval(() => {}, 1000);');
    const child = spawn(process.execPath, ['--no-warnings', 'sub\\run.js'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    try {
      await once(child.stdout, 'data');
      const platform = createIdentityPlatform(host);
      const peer = await platform.processIdentity(child.pid ?? 0, {});
      assert.deepEqual(peer.identity.argv.slice(1), ['--no-warnings', 'sub\\run.js']);
      assert.deepEqual(peer.identity.script, {
        interpreter: 'node',
        path: join(dir, 'sub', 'run.js'),
        weak: true,
      });
      peer.close();
    } finally {
      child.kill();
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('should answer PEER_GONE for a pid no process holds', async () => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    const pid = child.pid ?? 0;
    await once(child, 'exit');
    const error: unknown = await platform.processIdentity(pid, {}).catch((e: unknown) => e);
    assert.ok(isIdentityError(error, 'PEER_GONE'), String(error));
  });

  void it('should refuse a socket whose pipe handle is not a pipe', async () => {
    // GetCurrentProcess() is a pseudo-handle to a process, not a pipe.
    const error: unknown = await platform.peerIdentity(pipeSocket(2 ** 40), {}).catch((e: unknown) => e);
    assert.ok(isIdentityError(error, 'NO_PEER_CREDENTIALS'), String(error));
  });
});
