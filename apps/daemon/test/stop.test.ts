// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr stop` end to end: the built CLI against a real service, in every state the service can
 * be in (unlocked, locked, stopped and deaf, absent), and against a process that only holds
 * the vault's owner lock (it must not be signalled).
 */
import { spawn } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitForLine } from '@cora/test-utils';
import { status, useCoraHomes, type CoraHome } from './e2e-helpers.ts';
import { writeIpcClientScript } from './helpers.ts';

const newHome = useCoraHomes('stop-test-passphrase-1');

/** Whether `pid` still runs: a zombie has exited (this container's init may not reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function auditRecords(home: CoraHome): { type: string; reason?: string; caller?: { cli: boolean } }[] {
  return readFileSync(join(home.env['CORA_HOME'] ?? '', 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { type: string });
}

/** A home with a vault and a running service, unlocked with one secret, or locked. */
async function running(unlocked: boolean): Promise<{ home: CoraHome; pid: number; socket: string }> {
  const home = await newHome();
  const pass = ['--passphrase-file', home.passFile];
  expect((await home.cr(['init', ...pass])).code).toBe(0);
  if (unlocked) {
    expect((await home.cr(['unlock', ...pass])).code).toBe(0);
    const set = await home.cr(['secrets', 'set', 'TOKEN', ...pass], { input: 'stop-canary-0123456789' });
    expect(set.code).toBe(0);
  }
  const before = await status(home);
  expect(before.state).toBe(unlocked ? 'unlocked' : 'locked');
  expect(before.running).toBe(true);
  if (before.pid === null) throw new Error('no pid');
  return { home, pid: before.pid, socket: before.socket };
}

/** The process is gone, its socket removed, and `cr status` says so. */
async function expectStopped(home: CoraHome, pid: number, socket: string): Promise<void> {
  expect(alive(pid)).toBe(false);
  expect(existsSync(socket)).toBe(false);
  const after = await status(home);
  expect(after.running).toBe(false);
}

describe('cr stop (e2e)', () => {
  it('should lock an unlocked service, end it, and record the stop with its caller', async () => {
    const { home, pid, socket } = await running(true);
    const stop = await home.cr(['stop']);
    expect(stop.stderr).toBe('');
    expect(stop.code).toBe(0);
    expect(stop.stdout).toBe(`Locked and stopped the service (pid ${String(pid)}).\n`);
    await expectStopped(home, pid, socket);
    const records = auditRecords(home);
    const lock = records.findLast((r) => r.type === 'lock');
    expect(lock?.reason).toBe('stop');
    expect(lock?.caller?.cli).toBe(true);
    expect(records.at(-1)).toMatchObject({ type: 'service-stop', reason: 'shutdown' });
    // The log the stop ends is still a valid chain.
    expect((await home.cr(['audit', 'verify'])).code).toBe(0);
  });

  it('should end a service that runs locked, and record the stop', async () => {
    const { home, pid, socket } = await running(false);
    const stop = await home.cr(['stop']);
    expect(stop.code).toBe(0);
    await expectStopped(home, pid, socket);
    const types = auditRecords(home)
      .filter((r) => r.type !== 'status-polls') // the polls of this test's `cr status`
      .map((r) => `${r.type}:${r.reason ?? ''}`);
    expect(types.slice(-2)).toEqual(['lock:stop', 'service-stop:shutdown']);
  });

  it('should say so and exit 0 when no service runs', async () => {
    const home = await newHome();
    const first = await home.cr(['stop']);
    expect(first).toEqual({ code: 0, stdout: 'The service is not running: nothing to stop.\n', stderr: '' });
    // And again after a real stop.
    const { home: other, pid, socket } = await running(false);
    expect((await other.cr(['stop'])).code).toBe(0);
    await expectStopped(other, pid, socket);
    expect((await other.cr(['stop'])).stdout).toBe('The service is not running: nothing to stop.\n');
  });

  it('should end a stopped service whose socket is gone (SIGTERM, continued)', async () => {
    const { home, pid, socket } = await running(true);
    process.kill(pid, 'SIGSTOP');
    try {
      rmSync(socket);
      const stop = await home.cr(['stop']);
      expect(stop.code).toBe(0);
      expect(stop.stdout).toBe(`Locked and stopped the service (pid ${String(pid)}).\n`);
      expect(alive(pid)).toBe(false);
      // It exited through its SIGTERM handler, which wipes first: not killed.
      expect(stop.stderr).not.toContain('SIGKILL');
      expect(auditRecords(home).at(-1)?.type).toBe('service-stop');
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('should refuse to signal a process that holds the vault lock but is not the service', async () => {
    const home = await newHome();
    expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
    expect((await home.cr(['stop'])).code).toBe(0); // the service init started
    const lockFile = join(home.env['CORA_HOME'] ?? '', 'service.lock');
    // A same-user process takes the owner lock (fcntl, as the service does) and waits.
    const holder = spawn(
      'python3',
      [
        '-c',
        'import fcntl,sys,time\nf=open(sys.argv[1],"r+")\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint("held",flush=True)\ntime.sleep(60)',
        lockFile,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await waitForLine(holder.stdout, (line) => line === 'held');
      const stop = await home.cr(['stop']);
      expect(stop.code).toBe(9);
      expect(stop.stderr).toContain(`pid ${String(holder.pid)} holds`);
      expect(stop.stderr).toContain("is not this installation's Cora service");
      expect(holder.exitCode).toBe(null);
      expect(alive(holder.pid ?? 0)).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('should let a caller the policy admits lock, never stop, and record the refusal', async () => {
    const { home, pid } = await running(true);
    const script = join(home.dir.path, 'client.mjs');
    writeIpcClientScript(script, [
      "for (const params of [{ stop: true }, { stop: 'yes' }, {}]) {",
      "  try { await client.request('lock', params); console.log('OK'); }",
      '  catch (error) { console.log(error.code); }',
      '}',
      'client.close();',
    ]);
    const pass = ['--passphrase-file', home.passFile];
    const allow = await home.cr([
      'policy',
      'allow',
      realpathSync(process.execPath),
      '--script',
      script,
      ...pass,
    ]);
    expect(allow.code).toBe(0);
    const socket = join(home.env['CORA_HOME'] ?? '', 'run', 'cora.sock');
    const run = spawnSync(process.execPath, [script, socket], { encoding: 'utf8', env: home.env });
    expect(run.stdout.trim().split('\n')).toEqual(['NOT_ALLOWED', 'BAD_REQUEST', 'OK']);
    // Still running (locked by the plain lock), and the refusal is on record.
    expect(alive(pid)).toBe(true);
    expect(auditRecords(home)).toContainEqual(
      expect.objectContaining({ type: 'caller-refused', op: 'lock', reason: 'NOT_CLI' }),
    );
  });
});
