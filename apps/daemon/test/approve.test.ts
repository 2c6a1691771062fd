// SPDX-License-Identifier: AGPL-3.0-only
// Approvals end to end (architecture §7): the real `cr exec` waiting on a task with `approve`, the
// real `cr approve` session deciding, the real service in between, and the audit trail.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CR, useCoraHomes, withApprovalTask, type CoraHome } from './e2e-helpers.ts';

const PASS = 'approve passphrase, long enough';
const SH = realpathSync('/bin/sh');
const newHome = useCoraHomes(PASS);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function homeWithTask(approve: string, env: NodeJS.ProcessEnv = {}): Promise<CoraHome> {
  return newHome({ env }).then((home) => withApprovalTask(home, SH, approve));
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
    await until(() => /Request \d+ \(denied at/.test(judge.stdout), 'the pending request');
    expect(judge.stdout).toContain(`command   sh -c 'echo ran'`);
    expect(judge.stdout).toContain(`target    ${SH}`);
    expect(judge.stdout).toContain('task      t');
    expect(judge.stdout).toContain('secrets   TOKEN');
    expect(judge.stdout).not.toContain('[w]'); // approve: once offers no window
    judge.child.stdin?.write('o\n');
    expect(await first.exit).toBe(0);
    expect(first.stdout).toBe('ran\n');
    expect(first.stderr).toMatch(/needs approval/);

    const second = requester(home, EXEC(`sh -c 'echo ran'`));
    await until(
      () => (judge.stdout.match(/Request \d+ \(denied at/g) ?? []).length === 2,
      'the second request',
    );
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
    expect((judge.stdout.match(/Request \d+ \(denied at/g) ?? []).length).toBe(1);
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
    await until(() => /Request \d+ \(denied at/.test(judge.stdout), 'the pending request');
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
    await until(() => /Request \d+ \(denied at/.test(judge.stdout), 'the pending request');
    expect((await home.cr(['lock'])).code).toBe(0);
    expect(await waiting.exit).toBe(13);
    expect(await judge.exit).toBe(0);
    expect(judge.stdout).toContain('The vault was locked');
  });
});

interface GrantJson {
  id: string;
  task: string;
  caller: string;
  parentPid: number;
  scope: string;
  grantedAt: string;
  expiresAt: string | null;
  approval: number;
}

async function grantsJson(home: CoraHome): Promise<GrantJson[]> {
  const listed = await home.cr(['grants', 'list', '--json']);
  expect(listed.stderr).toBe('');
  expect(listed.code).toBe(0);
  return JSON.parse(listed.stdout) as GrantJson[];
}

/** The request ids an approver showed (each request's block starts a line with its id). */
function requestIds(shown: string): Set<string> {
  return new Set([...shown.matchAll(/^Request (\d+)/gm)].map((m) => m[1] ?? ''));
}

describe('cr grants (e2e)', () => {
  it('should list a window grant, revoke it at once (audited), and ask again for the same caller', async () => {
    const home = await homeWithTask('window:10m', { CORA_APPROVAL_TIMEOUT: '5s' });
    const judge = approver(home);
    await until(() => judge.stdout.includes('Approver ready'), 'the approver');
    // One shell, one parent: two execs under the grant, then (once told) a third.
    const go = join(home.dir.path, 'go');
    const agent = requester(
      home,
      `${EXEC(`sh -c 'echo one'`)} && ${EXEC(`sh -c 'echo two'`)} && ` +
        `while [ ! -e '${go}' ]; do sleep 0.05; done && ${EXEC(`sh -c 'echo three'`)}`,
    );
    await until(() => judge.stdout.includes('[w] allow for 10m'), 'the pending request');
    judge.child.stdin?.write('w\n');
    await until(() => agent.stdout === 'one\ntwo\n', 'both runs under the grant');

    const [grant, ...others] = await grantsJson(home);
    expect(others).toEqual([]);
    const granted = auditTypes(home).find((r) => r.type === 'approval-granted');
    expect(grant?.id).toMatch(/^[0-9a-f]{8}$/);
    expect(grant).toMatchObject({
      task: 't',
      caller: realpathSync(process.execPath),
      parentPid: agent.child.pid,
      scope: 'window',
      approval: granted?.['id'],
    });
    if (grant === undefined) throw new Error('no grant');
    expect(Date.parse(grant.expiresAt ?? '') - Date.parse(grant.grantedAt)).toBe(600_000);
    const human = await home.cr(['grants', 'list']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`${grant.id}  t  expires in 10 min`);
    expect(human.stdout).toContain(`under parent pid ${String(agent.child.pid)}`);

    const revoked = await home.cr(['grants', 'revoke', grant.id]);
    expect(revoked.stderr).toBe('');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`Revoked ${grant.id}: t for`);
    expect(await grantsJson(home)).toEqual([]);

    // The same caller under the same parent asks again; denied, it exits 13 and runs nothing.
    writeFileSync(go, '');
    await until(() => requestIds(judge.stdout).size === 2, 'a new request');
    judge.child.stdin?.write('d\n');
    expect(await agent.exit).toBe(13);
    expect(agent.stdout).toBe('one\ntwo\n');

    const record = auditTypes(home).find((r) => r.type === 'grant-revoked');
    expect(record).toMatchObject({
      grant: grant.id,
      approval: grant.approval,
      task: 't',
      exe: grant.caller,
      parentPid: agent.child.pid,
      scope: 'window',
      until: grant.expiresAt,
      caller: { cli: true },
    });
    const verify = await home.cr(['audit', 'verify']);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);

    // Revoking it again, or an id that never was: a clear error (exit 5); a malformed id: usage.
    const again = await home.cr(['grants', 'revoke', grant.id]);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain(`no live grant has the id ${grant.id}`);
    const malformed = await home.cr(['grants', 'revoke', 'nope']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('8 hex digits');
    expect((await home.cr(['grants', 'revoke'])).code).toBe(2);
  });

  it('should forget every grant at lock, and revoke all with --all', async () => {
    const home = await homeWithTask('session');
    const pass = ['--passphrase-file', home.passFile];
    const grantOne = async (): Promise<void> => {
      const judge = approver(home);
      await until(() => judge.stdout.includes('Approver ready'), 'the approver');
      const agent = requester(home, EXEC(`sh -c 'echo ok'`));
      await until(() => judge.stdout.includes('[w] allow for session'), 'the pending request');
      judge.child.stdin?.write('w\n');
      expect(await agent.exit).toBe(0);
      judge.child.kill('SIGTERM');
      await judge.exit;
    };
    await grantOne();
    expect(await grantsJson(home)).toEqual([expect.objectContaining({ scope: 'session', expiresAt: null })]);
    expect((await home.cr(['grants', 'list'])).stdout).toContain('until the vault locks');

    expect((await home.cr(['lock'])).code).toBe(0);
    expect(await grantsJson(home)).toEqual([]); // locked: none
    expect((await home.cr(['unlock', ...pass])).code).toBe(0);
    expect(await grantsJson(home)).toEqual([]); // unlocking does not bring them back
    expect(auditTypes(home).some((r) => r.type === 'grant-revoked')).toBe(false);

    await grantOne();
    const [grant] = await grantsJson(home);
    const all = await home.cr(['grants', 'revoke', '--all']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain(`Revoked ${grant?.id ?? '?'}`);
    expect(await grantsJson(home)).toEqual([]);
    expect(auditTypes(home).filter((r) => r.type === 'grant-revoked')).toEqual([
      expect.objectContaining({ grant: grant?.id, scope: 'session', until: null }),
    ]);
    const none = await home.cr(['grants', 'revoke', '--all']);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('No grants to revoke.');
  });
});
