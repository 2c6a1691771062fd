// SPDX-License-Identifier: AGPL-3.0-only
// `cr verify --pid` end to end: real processes (a binary, a script run by node), the policy of
// a real unlocked service, the rules that match and those that do not, bad pids, and the gate
// that keeps the question to the cr CLI.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitForLine } from '@cora/test-utils';
import { useCoraHomes, type CoraHome } from './e2e-helpers.ts';
import { APP_DIR, writeIpcClientScript } from './helpers.ts';

const PASS = 'verify passphrase, long enough';
const newHome = useCoraHomes(PASS);
vi.setConfig({ testTimeout: 180_000 });

const NODE = realpathSync(process.execPath);
const SLEEP = realpathSync('/bin/sleep');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

interface VerifyJson {
  process: {
    pid: number;
    uid: number;
    startTime: string;
    exe: string;
    exeSha256: string | null;
    script: string | null;
    ancestry: { pid: number; uid: number; exe: string | null }[];
    pinned: boolean;
  };
  cli: { match: boolean; detail: string };
  rules: {
    list: string;
    exe: string;
    script: string | null;
    uid: number | null;
    sha256: string | null;
    match: boolean;
    reason: string;
    pin: boolean | null;
    detail: string;
  }[];
  requests: { allowed: boolean; reason: string; detail: string };
  status: { allowed: boolean; reason: string; detail: string };
  tasks: { task: string; via: boolean; detail: string }[];
  note: string;
}

async function unlockedHome(): Promise<CoraHome> {
  const home = await newHome();
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
  return home;
}

async function policy(home: CoraHome, args: readonly string[]): Promise<void> {
  const run = await home.cr(['policy', ...args, '--passphrase-file', home.passFile]);
  expect(run.stderr.replace(/^warning: .*\n/gm, '')).toBe('');
  expect(run.code).toBe(0);
}

async function verify(home: CoraHome, pid: number): Promise<VerifyJson> {
  const run = await home.cr(['verify', '--pid', String(pid), '--json']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as VerifyJson;
}

/** A `sleep` child of this test, once /proc shows it runs sleep. */
async function sleeper(): Promise<number> {
  const child = spawn(SLEEP, ['120'], { stdio: 'ignore' });
  children.push(child);
  const pid = child.pid ?? -1;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      if (realpathSync(`/proc/${String(pid)}/exe`) === SLEEP) return pid;
    } catch {
      // not yet exec'd
    }
    if (Date.now() > deadline) throw new Error('sleep did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `node SCRIPT` that says it is up and waits; returns its pid. */
async function nodeScript(path: string): Promise<number> {
  writeFileSync(path, "process.stdout.write('up\\n');\nsetInterval(() => {}, 1000);\n");
  const child = spawn(process.execPath, [path], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await waitForLine(child.stdout, (line) => line === 'up');
  return child.pid ?? -1;
}

describe('cr verify --pid', () => {
  it('should show a binary, its pinned rule that matches, one that does not, and via per task', async () => {
    const home = await unlockedHome();
    await policy(home, ['allow', SLEEP, '--pin']);
    await policy(home, ['allow', '/usr/bin/true']);
    await policy(home, [
      'task',
      'add',
      'from-node',
      'X',
      '--target',
      '/usr/bin/true',
      '--via',
      NODE,
      '--allow-missing-secret',
    ]);
    await policy(home, [
      'task',
      'add',
      'from-cat',
      'X',
      '--target',
      '/usr/bin/true',
      '--via',
      realpathSync('/bin/cat'),
      '--allow-missing-secret',
    ]);
    const pid = await sleeper();
    const result = await verify(home, pid);
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'latin1');
    expect(result.process).toMatchObject({
      pid,
      uid: process.getuid!(),
      exe: SLEEP,
      script: null,
      pinned: true,
      startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19],
      exeSha256: createHash('sha256').update(readFileSync(SLEEP)).digest('hex'),
    });
    expect(result.process.ancestry[0]).toEqual({ pid: process.pid, uid: process.getuid!(), exe: NODE });
    expect(result.cli.match).toBe(false);
    expect(result.rules).toHaveLength(2);
    expect(result.rules[0]).toMatchObject({
      list: 'callers',
      exe: SLEEP,
      match: true,
      reason: 'ALLOWED',
      pin: true,
    });
    expect(result.rules[1]).toMatchObject({
      exe: '/usr/bin/true',
      match: false,
      reason: 'CALLER_NOT_ALLOWED',
      pin: null,
    });
    expect(result.requests).toMatchObject({ allowed: true, reason: 'ALLOWED' });
    expect(result.status.allowed).toBe(true);
    // In the policy's order (tasks are kept sorted by name).
    expect(result.tasks.map((t) => [t.task, t.via])).toEqual([
      ['from-cat', false],
      ['from-node', true],
    ]);
    expect(result.tasks[0]?.detail).toContain(`must be run from ${realpathSync('/bin/cat')}`);
    expect(result.tasks[1]?.detail).toBe(`${NODE} found in its ancestry`);
    expect(result.note).toContain(`pid ${String(pid)}`);
    expect(result.note).toContain(result.process.startTime);

    const text = await home.cr(['verify', '--pid', String(pid)]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`  exe       ${SLEEP}`);
    expect(text.stdout).toContain(`  ✓ ${SLEEP} (pin matches): `);
    expect(text.stdout).toContain('  ✗ /usr/bin/true: ');
    expect(text.stdout).toContain('  ✗ from-cat: ');
    expect(text.stdout).toMatch(/^note: a pid names a process only for a moment/m);
  });

  it('should name the script a node process runs, and match only the rule for that script', async () => {
    const home = await unlockedHome();
    const script = join(home.dir.path, 'agent.mjs');
    const other = join(home.dir.path, 'other.mjs');
    writeFileSync(other, '');
    await policy(home, ['allow', NODE, '--script', other]);
    const pid = await nodeScript(script);
    const before = await verify(home, pid);
    expect(before.process).toMatchObject({ exe: NODE, script, exeSha256: null });
    expect(before.rules).toEqual([
      expect.objectContaining({ exe: NODE, script: other, match: false, reason: 'SCRIPT_NOT_ALLOWED' }),
    ]);
    expect(before.requests).toMatchObject({ allowed: false, reason: 'SCRIPT_NOT_ALLOWED' });
    expect(before.status.allowed).toBe(false);

    await policy(home, ['allow', NODE, '--script', script, '--status']);
    const after = await verify(home, pid);
    expect(after.rules[1]).toMatchObject({ list: 'status_callers', script, match: true });
    expect(after.requests.allowed).toBe(false);
    expect(after.status).toMatchObject({ allowed: true, reason: 'ALLOWED' });
  });

  it('should say when the process is this installation’s cr, always allowed', async () => {
    const home = await unlockedHome();
    const main = join(APP_DIR, 'dist', 'cli.js');
    // `cr approve` waits on a terminal prompt without one: a cr process that stays.
    const child = spawn(process.execPath, ['--disable-sigusr1', main, 'approve', '--passphrase-fd', '0'], {
      env: home.env,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    children.push(child);
    const pid = child.pid ?? -1;
    const deadline = Date.now() + 5000;
    while (!readFileSync(`/proc/${String(pid)}/cmdline`, 'latin1').includes('cli.js')) {
      if (Date.now() > deadline) throw new Error('cr did not start');
      await new Promise((r) => setTimeout(r, 10));
    }
    const result = await verify(home, pid);
    expect(result.cli).toEqual({ match: true, detail: "this installation's cr" });
    expect(result.requests).toMatchObject({ allowed: true, detail: 'the cr CLI is always allowed' });
  });

  it('should refuse pids that cannot be, a pid no process holds, and a locked vault', async () => {
    const home = await unlockedHome();
    for (const bad of ['0', '-1', 'abc', '1.5', '4194305', '']) {
      const run = await home.cr(['verify', '--pid', bad]);
      expect(run.code, bad).toBe(2);
      expect(run.stderr).toContain('--pid takes a process id');
    }
    expect((await home.cr(['verify'])).code).toBe(2);
    // A pid no process holds: one that just exited and was reaped.
    const gone = spawnSync('/bin/true').pid;
    const missing = await home.cr(['verify', '--pid', String(gone)]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain(`no process has pid ${String(gone)}`);
    // The service itself is non-dumpable: it would refuse it, and says why it cannot tell more.
    const status = JSON.parse((await home.cr(['status', '--json'])).stdout) as { pid: number };
    if (process.getuid?.() !== 0) {
      const self = await home.cr(['verify', '--pid', String(status.pid)]);
      expect(self.code).toBe(7);
    }
    expect((await home.cr(['lock'])).code).toBe(0);
    const locked = await home.cr(['verify', '--pid', String(process.pid)]);
    expect(locked.code).toBe(3);
    expect(locked.stderr).toContain('cr unlock');
  });

  it('should refuse the question to any caller but cr, and record the refusal', async () => {
    const home = await unlockedHome();
    const script = join(home.dir.path, 'client.mjs');
    writeIpcClientScript(script, [
      "for (const [type, params] of [['status', {}], ['policy.verify', { pid: process.pid }]]) {",
      '  try { await client.request(type, params); console.log(type, "OK"); }',
      '  catch (error) { console.log(type, error.code); }',
      '}',
      'client.close();',
    ]);
    await policy(home, ['allow', NODE, '--script', script]);
    const socket = join(home.env['CORA_HOME']!, 'run', 'cora.sock');
    const run = spawnSync(process.execPath, [script, socket], { encoding: 'utf8', env: home.env });
    expect(run.stdout.trim().split('\n')).toEqual(['status OK', 'policy.verify NOT_ALLOWED']);
    const refused = await home.cr(['audit', 'show', '--type', 'caller-refused', '--json']);
    const records = refused.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { op: string; reason: string });
    expect(records).toContainEqual(expect.objectContaining({ op: 'policy.verify', reason: 'NOT_CLI' }));
  });

  it('should explain to an allowed caller about itself only, never for another program', async () => {
    const home = await unlockedHome();
    const script = join(home.dir.path, 'explain.mjs');
    writeIpcClientScript(script, [
      "const base = { task: 'nope', argv: ['/bin/true'] };",
      "for (const extra of [{}, { caller: '/bin/sh' }, { under: '/bin/sh' }]) {",
      "  try { const r = await client.request('policy.explain', { ...base, ...extra }); console.log('OK', r.outcome); }",
      '  catch (error) { console.log(error.code); }',
      '}',
      'client.close();',
    ]);
    await policy(home, ['allow', NODE, '--script', script]);
    const socket = join(home.env['CORA_HOME']!, 'run', 'cora.sock');
    const run = spawnSync(process.execPath, [script, socket], { encoding: 'utf8', env: home.env });
    expect(run.stdout.trim().split('\n')).toEqual(['OK deny', 'NOT_ALLOWED', 'NOT_ALLOWED']);
    // The CLI still asks for any program.
    const other = await home.cr(['policy', 'explain', '--caller', '/bin/sh', 'nope', '--', '/bin/true']);
    expect(other.stderr).not.toContain('NOT_ALLOWED');
    expect(other.stdout).toContain(`caller: ${realpathSync('/bin/sh')}`);
  });
});
