// SPDX-License-Identifier: AGPL-3.0-only
// Approvals end to end (architecture §7): the real `cr exec` waiting on a task with `approve`, the
// real `cr approve` session deciding, the real service in between, and the audit trail.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CR, useCoraHomes, type CoraHome } from './e2e-helpers.ts';

const PASS = 'approve passphrase, long enough';
const SH = realpathSync('/bin/sh');
const newHome = useCoraHomes(PASS);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

async function homeWithTask(approve: string, env: NodeJS.ProcessEnv = {}): Promise<CoraHome> {
  const home = await newHome({ env });
  const pass = ['--passphrase-file', home.passFile];
  expect((await home.cr(['init', ...pass])).code).toBe(0);
  expect((await home.cr(['unlock', ...pass])).code).toBe(0);
  expect((await home.cr(['secrets', 'set', 'TOKEN', ...pass], { input: 'approve-me-0123456789' })).code).toBe(
    0,
  );
  const add = await home.cr([
    'policy',
    'task',
    'add',
    't',
    'TOKEN',
    '--target',
    SH,
    '--approve',
    approve,
    ...pass,
  ]);
  expect(add.stderr).toBe('');
  expect(add.code).toBe(0);
  return home;
}

interface Live {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<number | null>;
}

function live(command: string, args: readonly string[], home: CoraHome, fd3?: string): Live {
  const child = spawn(command, args, {
    env: home.env,
    cwd: home.dir.path,
    stdio: fd3 === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const run: Live = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.on('close', (code) => resolve(code))),
  };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  if (fd3 !== undefined) (child.stdio[3] as NodeJS.WritableStream).end(fd3);
  return run;
}

/** `cr approve` reading its passphrase from fd 3 and its answers from stdin. */
function approver(home: CoraHome, passphrase = PASS): Live {
  return live(CR, ['approve', '--passphrase-fd', '3'], home, `${passphrase}\n`);
}

/**
 * `cr exec` run by a shell, so that its parent is the shell and not this test process (which
 * is also an ancestor of the approver: that would be self-approval).
 */
function requester(home: CoraHome, script: string): Live {
  return live(SH, ['-c', `${script}; exit $?`], home);
}

async function until(fn: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function auditTypes(home: CoraHome): { type: string; [key: string]: unknown }[] {
  return readFileSync(join(home.env['CORA_HOME'] ?? '', 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { type: string });
}

const EXEC = (args: string): string => `"${CR}" exec t -- ${args}`;

describe('cr approve (e2e)', () => {
  it('should run a task once an approver allows it, and refuse it when denied', async () => {
    const home = await homeWithTask('once');
    const judge = approver(home);
    await until(() => judge.stdout.includes('Approver ready'), 'the approver');

    const first = requester(home, EXEC(`sh -c 'echo ran'`));
    await until(() => /Request \d+: task t/.test(judge.stdout), 'the pending request');
    expect(judge.stdout).toContain(`command   ${SH} -c echo ran`);
    expect(judge.stdout).toContain('secrets   TOKEN');
    expect(judge.stdout).not.toContain('[w]'); // approve: once offers no window
    judge.child.stdin?.write('o\n');
    expect(await first.exit).toBe(0);
    expect(first.stdout).toBe('ran\n');
    expect(first.stderr).toMatch(/needs approval/);

    const second = requester(home, EXEC(`sh -c 'echo ran'`));
    await until(() => (judge.stdout.match(/Request \d+: task t/g) ?? []).length === 2, 'the second request');
    judge.child.stdin?.write('d\n');
    expect(await second.exit).toBe(13);
    expect(second.stdout).toBe('');
    expect(second.stderr).toMatch(/denied by the approver/);

    const types = auditTypes(home).map((r) => r.type);
    expect(types).toEqual(
      expect.arrayContaining(['approval-requested', 'approval-granted', 'approval-denied']),
    );
    const granted = auditTypes(home).find((r) => r.type === 'approval-granted');
    expect(granted).toMatchObject({ task: 't', scope: 'once', until: null });
  });

  it('should remember an allow-for-window grant for the same parent only', async () => {
    const home = await homeWithTask('window:1m', { CORA_APPROVAL_TIMEOUT: '3s' });
    const judge = approver(home);
    await until(() => judge.stdout.includes('Approver ready'), 'the approver');
    // One shell runs two execs: the grant covers the second (same parent pid and start time).
    const both = requester(home, `${EXEC(`sh -c 'echo one'`)} && ${EXEC(`sh -c 'echo two'`)}`);
    await until(() => judge.stdout.includes('[w] allow for 1m'), 'the pending request');
    judge.child.stdin?.write('w\n');
    expect(await both.exit).toBe(0);
    expect(both.stdout).toBe('one\ntwo\n');
    expect((judge.stdout.match(/Request \d+: task t/g) ?? []).length).toBe(1);
    // Another shell is another parent: nothing inherited; unanswered, it times out as a denial.
    const other = requester(home, EXEC(`sh -c 'echo three'`));
    expect(await other.exit).toBe(13);
    expect(other.stderr).toMatch(/nobody approved the request in time/);
    expect(auditTypes(home).map((r) => r.type)).toContain('approval-expired');
  });

  it('should deny a request its own caller tries to approve', async () => {
    const home = await homeWithTask('once');
    const judge = approver(home);
    await until(() => judge.stdout.includes('Approver ready'), 'the approver');
    // Started directly by this test: its parent (this process) is an ancestor of the approver.
    const self = live(CR, ['exec', 't', '--', SH, '-c', 'echo ran'], home);
    await until(() => /Request \d+: task t/.test(judge.stdout), 'the pending request');
    judge.child.stdin?.write('o\n');
    expect(await self.exit).toBe(13);
    expect(self.stdout).toBe('');
    expect(self.stderr).toMatch(/cannot approve its own request/);
    const denied = auditTypes(home).find((r) => r.type === 'approval-denied');
    expect(denied).toMatchObject({ reason: 'SELF_APPROVAL' });
  });

  it('should refuse a wrong passphrase (exit 4, audited) and approvals while locked (exit 3)', async () => {
    const home = await homeWithTask('once');
    const wrong = approver(home, 'not the passphrase');
    expect(await wrong.exit).toBe(4);
    expect(auditTypes(home).find((r) => r.type === 'auth-failed')).toMatchObject({ op: 'approve' });
    expect((await home.cr(['lock'])).code).toBe(0);
    const locked = approver(home);
    expect(await locked.exit).toBe(3);
  });

  it('should end the approver session and deny waiting requests when the vault locks', async () => {
    const home = await homeWithTask('once');
    const judge = approver(home);
    await until(() => judge.stdout.includes('Approver ready'), 'the approver');
    const waiting = requester(home, EXEC(`sh -c true`));
    await until(() => /Request \d+: task t/.test(judge.stdout), 'the pending request');
    expect((await home.cr(['lock'])).code).toBe(0);
    expect(await waiting.exit).toBe(13);
    expect(await judge.exit).toBe(0);
    expect(judge.stdout).toContain('The vault was locked');
  });
});
