// SPDX-License-Identifier: AGPL-3.0-only
// The audit log end to end (architecture §10, G7): the real `cr` and the real service in a private
// temp home. What every CLI path records, that no value ever reaches the log, that `cr audit
// verify` finds an edit, and that a log which cannot be written releases no secret.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canaryForms, makeCanary } from '@cora/test-utils';
import { status, useCoraHomes, type CoraHome } from './e2e-helpers.ts';

const PASS = 'audit passphrase, long enough';
const newHome = useCoraHomes(PASS);

const SH = realpathSync('/bin/sh');

async function unlockedHome(extraEnv: NodeJS.ProcessEnv = {}): Promise<CoraHome> {
  const home = await newHome({ env: extraEnv });
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
  return home;
}

function coraDir(home: CoraHome): string {
  return home.env['CORA_HOME'] ?? '';
}

/** Every audit file of the home, concatenated (rotated ones included). */
function allLogBytes(home: CoraHome): Buffer {
  const dir = coraDir(home);
  const files = readdirSync(dir).filter((f) => f.startsWith('audit') && f.endsWith('.jsonl'));
  return Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
}

interface Rec {
  seq: number;
  type: string;
  mac: string | null;
  [key: string]: unknown;
}

function records(home: CoraHome): Rec[] {
  return readFileSync(join(coraDir(home), 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Rec);
}

/** Records are written without waiting for some events (`note`): give them a moment. */
async function until(fn: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the audit log');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('cr audit (e2e)', () => {
  it('should record every CLI path and never a value, in the log or in any audit output', async () => {
    const home = await unlockedHome();
    const canary = makeCanary();
    const value = canary.toString('utf8');
    expect(
      (await home.cr(['secrets', 'set', 'API_KEY', '--passphrase-fd', '3'], { input: value, fd3: PASS }))
        .code,
    ).toBe(0);
    const envFile = home.writePassFile('import.env', `OTHER_KEY=${value}x\n`);
    expect((await home.cr(['secrets', 'import', envFile, '--passphrase-file', home.passFile])).code).toBe(0);
    expect(
      (
        await home.cr([
          'policy',
          'task',
          'add',
          'show',
          'API_KEY',
          '--target',
          SH,
          '--allow-interpreter',
          '--passphrase-file',
          home.passFile,
        ])
      ).code,
    ).toBe(0);
    // The child prints the value: masked on the way out, and the log holds names only.
    const run = await home.cr(['exec', 'show', '--', 'sh', '-c', 'printf "%s" "$API_KEY"']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('<concealed:API_KEY>');
    expect((await home.cr(['exec', 'nope', '--', 'sh', '-c', 'true'])).code).toBe(5);
    expect((await home.cr(['exec', 'show', '--', '/bin/true'])).code).toBe(9);
    expect((await home.cr(['policy', 'explain', 'show', '--', 'sh'])).code).toBe(0);
    expect((await home.cr(['secrets', 'list'])).code).toBe(0);
    const wrong = home.writePassFile('wrong', 'not the passphrase\n');
    expect((await home.cr(['secrets', 'delete', 'OTHER_KEY', '--passphrase-file', wrong])).code).toBe(4);
    expect((await home.cr(['secrets', 'delete', 'OTHER_KEY', '--passphrase-file', home.passFile])).code).toBe(
      0,
    );
    const newPass = home.writePassFile('new', `${value}\n`); // the passphrase itself is a canary too
    expect(
      (await home.cr(['passwd', '--passphrase-file', home.passFile, '--new-passphrase-file', newPass])).code,
    ).toBe(0);
    expect(
      (await home.cr(['passwd', '--passphrase-file', newPass, '--new-passphrase-file', home.passFile])).code,
    ).toBe(0);
    // A foreign program is refused and recorded.
    const { socket } = await status(home);
    const python = spawnSync(
      'python3',
      [
        '-c',
        'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.settimeout(5)\ns.recv(4096)',
        socket,
      ],
      { env: home.env },
    );
    expect(python.status).not.toBeNull();
    expect((await home.cr(['lock'])).code).toBe(0);
    expect((await home.cr(['unlock', '--passphrase-file', wrong])).code).toBe(4);
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    await until(() => records(home).some((r) => r.type === 'unlock-failed'));

    const types = new Set(records(home).map((r) => r.type));
    for (const type of [
      'service-start',
      'connect',
      'unlock',
      'unlock-failed',
      'lock',
      'secret-set',
      'secret-deleted',
      'auth-failed',
      'policy-changed',
      'passwd',
      'task-start',
      'secret-injected',
      'task-end',
      'task-refused',
      'target-refused',
      'caller-refused',
    ]) {
      expect(types, type).toContain(type);
    }
    const start = records(home).find((r) => r.type === 'task-start');
    expect(start).toMatchObject({ task: 'show', target: SH, secrets: ['API_KEY'], output: 'masked' });
    expect(records(home).find((r) => r.type === 'task-end')).toMatchObject({ task: 'show', code: 0 });

    const outputs = [
      allLogBytes(home),
      Buffer.from((await home.cr(['audit', 'tail', '-n', '1000', '--json'])).stdout),
      Buffer.from((await home.cr(['audit', 'show'])).stdout),
      Buffer.from((await home.cr(['audit', 'export'])).stdout),
      Buffer.from(readFileSync(join(coraDir(home), 'service.log'))),
    ];
    for (const bytes of outputs) {
      expect(bytes.length).toBeGreaterThan(0);
      for (const form of [...canaryForms(canary), Buffer.from(PASS)].map((f) => Buffer.from(f))) {
        expect(bytes.includes(form), `found ${form.toString('utf8')}`).toBe(false);
      }
    }
  });

  it('should verify with MACs while unlocked, chain only while locked, and exit 14 at the first edited line', async () => {
    const home = await unlockedHome();
    expect(
      (await home.cr(['secrets', 'set', 'A_KEY', '--passphrase-file', home.passFile], { input: 'abcdefgh' }))
        .code,
    ).toBe(0);
    const ok = await home.cr(['audit', 'verify', '--json']);
    expect(ok.code).toBe(0);
    const report = JSON.parse(ok.stdout) as { ok: boolean; macChecked: boolean; records: number };
    expect(report).toMatchObject({ ok: true, macChecked: true });
    expect(report.records).toBeGreaterThan(3);

    expect((await home.cr(['lock'])).code).toBe(0);
    const locked = await home.cr(['audit', 'verify']);
    expect(locked.code).toBe(0);
    expect(locked.stdout).toMatch(/chain only/);

    // Edit one record (the secret-set) the way someone hiding a change would.
    const path = join(coraDir(home), 'audit.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('"secret-set"'));
    expect(at).toBeGreaterThan(0);
    lines[at] = (lines[at] ?? '').replace('A_KEY', 'B_KEY');
    writeFileSync(path, lines.join('\n'));
    // Locked: only the chain is checked, so the edit shows where the next line's prev breaks.
    const chainOnly = await home.cr(['audit', 'verify']);
    expect(chainOnly.code).toBe(14);
    expect(chainOnly.stdout).toContain(`audit.jsonl:${String(at + 2)}`);
    // Unlocked: the MAC pins the edited line itself.
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    const bad = await home.cr(['audit', 'verify']);
    expect(bad.code).toBe(14);
    expect(bad.stdout).toMatch(new RegExp(`audit\\.jsonl:${String(at + 1)} .*mac`));
  });

  it('should find a cut tail against the running service, locked or not', async () => {
    const home = await unlockedHome();
    expect((await home.cr(['lock'])).code).toBe(0);
    const logPath = join(coraDir(home), 'audit.jsonl');
    const whole = readFileSync(logPath);
    // Drop the last record (the lock): what is left is a valid chain, sealed by the unlock.
    writeFileSync(logPath, whole.subarray(0, whole.lastIndexOf('\n', whole.length - 2) + 1));
    const cut = await home.cr(['audit', 'verify', '--json']);
    expect(cut.code).toBe(14);
    // The service's head is gone (head-mismatch), or its next record no longer follows (seq).
    const report = JSON.parse(cut.stdout) as { firstProblem: { kind: string } | null };
    expect(report.firstProblem?.kind).toMatch(/^(head-mismatch|seq)$/);
  });

  it('should refuse to start the service on a log it cannot continue, and say why at once', async () => {
    const home = await unlockedHome();
    await home.stopService();
    writeFileSync(join(coraDir(home), 'audit.jsonl'), '{"v":1,"not":"a record"}\n', { flag: 'a' });
    const t0 = Date.now();
    const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(unlock.code).toBe(10);
    expect(unlock.stderr).toMatch(
      /the service did not start: refusing to start: the audit log cannot be opened/,
    );
    expect(Date.now() - t0).toBeLessThan(8000); // not the 10 s socket wait
    expect((await status(home)).running).toBe(false);
  });

  it('should record max_spawns and ttl refusals as rate-limited, with the limit', async () => {
    const home = await unlockedHome();
    const pass = ['--passphrase-file', home.passFile];
    expect((await home.cr(['secrets', 'set', 'A_KEY', ...pass], { input: 'abcdefgh' })).code).toBe(0);
    const add = (name: string, extra: string[]): Promise<{ code: number | null }> =>
      home.cr([
        'policy',
        'task',
        'add',
        name,
        'A_KEY',
        '--target',
        SH,
        '--allow-interpreter',
        ...extra,
        ...pass,
      ]);
    expect((await add('rated', ['--max-spawns', '1', '--window-ms', '60000'])).code).toBe(0);
    expect((await add('brief', ['--ttl', '1s'])).code).toBe(0);
    expect((await home.cr(['exec', 'rated', '--', 'sh', '-c', 'true'])).code).toBe(0);
    expect((await home.cr(['exec', 'rated', '--', 'sh', '-c', 'true'])).code).toBe(11);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await home.cr(['exec', 'brief', '--', 'sh', '-c', 'true'])).code).toBe(9);
    await until(() => records(home).filter((r) => r.type === 'rate-limited').length === 2);
    const limited = records(home).filter((r) => r.type === 'rate-limited');
    expect(limited.map((r) => [r['task'], r['limit']])).toEqual([
      ['rated', 'max_spawns'],
      ['brief', 'ttl'],
    ]);
    expect(
      records(home)
        .filter((r) => r.type === 'task-start')
        .map((r) => r['task']),
    ).toEqual(['rated']);
  });

  it('should release no secret while the log cannot be written, and recover when it can', async () => {
    const home = await unlockedHome();
    expect(
      (await home.cr(['secrets', 'set', 'A_KEY', '--passphrase-file', home.passFile], { input: 'abcdefgh' }))
        .code,
    ).toBe(0);
    expect(
      (
        await home.cr([
          'policy',
          'task',
          'add',
          't',
          'A_KEY',
          '--target',
          SH,
          '--allow-interpreter',
          '--passphrase-file',
          home.passFile,
        ])
      ).code,
    ).toBe(0);
    const pid = (await status(home)).pid;
    expect(pid).not.toBeNull();
    const log = join(coraDir(home), 'audit.jsonl');
    const marker = join(home.dir.path, 'ran');
    // The kernel refuses writes past this size (EFBIG): a full disk, as the service sees it.
    const size = readFileSync(log).length;
    const limit = spawnSync('prlimit', ['--pid', String(pid), `--fsize=${String(size + 16)}:unlimited`]);
    expect(limit.status).toBe(0);
    try {
      const refused = await home.cr(['exec', 't', '--', 'sh', '-c', `touch ${marker}`]);
      expect(refused.code).toBe(12);
      expect(refused.stderr).toMatch(/audit log cannot be written/);
      expect(existsSync(marker)).toBe(false);
    } finally {
      spawnSync('prlimit', ['--pid', String(pid), '--fsize=unlimited']);
    }
    const again = await home.cr(['exec', 't', '--', 'sh', '-c', `touch ${marker}`]);
    expect(again.code).toBe(0);
    expect(existsSync(marker)).toBe(true);
    const verify = await home.cr(['audit', 'verify']);
    expect(verify.stdout).toMatch(/^OK/);
    expect(verify.code).toBe(0);
    expect((await status(home)).state).toBe('unlocked');

    // An unlock the log cannot record does not stay unlocked.
    expect((await home.cr(['lock'])).code).toBe(0);
    const locked = readFileSync(log).length;
    spawnSync('prlimit', ['--pid', String(pid), `--fsize=${String(locked + 16)}:unlimited`]);
    try {
      const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile]);
      expect(unlock.code).toBe(12);
      expect((await status(home)).state).toBe('locked');
    } finally {
      spawnSync('prlimit', ['--pid', String(pid), '--fsize=unlimited']);
    }
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    expect((await home.cr(['audit', 'verify'])).code).toBe(0);
  });

  it('should count status-only connections in one record per caller, and record every other connection', async () => {
    const home = await unlockedHome();
    await until(() => records(home).some((r) => r.type === 'unlock'));
    const before = records(home).length;
    for (let i = 0; i < 10; i++) expect((await home.cr(['status'])).code).toBe(0);
    // Polling writes nothing yet: 10 polls are not 10 records.
    expect(records(home).length).toBe(before);
    expect((await home.cr(['secrets', 'list'])).code).toBe(0);
    await until(() =>
      records(home)
        .slice(before)
        .some((r) => r.type === 'connect'),
    );
    // Lock writes the open window: one record, counting every poll, naming the CLI.
    expect((await home.cr(['lock'])).code).toBe(0);
    await until(() => records(home).some((r) => r.type === 'status-polls'));
    const added = records(home).slice(before);
    const polls = added.filter((r) => r.type === 'status-polls');
    expect(polls).toHaveLength(1);
    expect(polls[0]).toMatchObject({ caller: { cli: true } });
    // The 10 polls, and the launcher's status-only probe when `cr unlock` started the service.
    expect(polls[0]?.['count']).toBeGreaterThanOrEqual(10);
    expect(polls[0]?.['count']).toBeLessThanOrEqual(11);
    expect(added.filter((r) => r.type === 'connect')).toHaveLength(2); // secrets list, lock
    expect((await home.cr(['audit', 'verify'])).code).toBe(0);
  }, 90_000);
});
