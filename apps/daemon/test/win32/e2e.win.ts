// SPDX-License-Identifier: AGPL-3.0-only
// `cr` end to end on Windows node.exe under Wine (tooling/test-windows.sh): init, unlock, a
// secret, a task, exec with masked output and exit code, lock, then the refusals that must follow.
// The CLI and service are the Node-22 bundle of the same sources (tooling/scripts/wine-bundle.ts),
// named by CORA_WIN_CLI; each `cr` is a real node.exe process talking to the real service over
// its named pipe. Wine is not Windows for security (SECURITY.md "Windows"): what this shows is
// the mechanics, not the DACLs.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { processIdentity } from '@cora/identity';
import { ensurePrivateDirWin32, restrictToUserWin32 } from '../../src/shared/win32-acl.ts';

const cli = process.env['CORA_WIN_CLI'];
const dir = mkdtempSync(join(tmpdir(), 'cora-e2e-'));
const home = join(dir, 'home');
// The passphrase file must be private: in a folder whose DACL lets the user alone in.
const passDir = join(dir, 'private');
const passFile = join(passDir, 'pass');
// Printable, so the child can print it; 32 random bytes in hex.
const value = randomBytes(16).toString('hex');

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** Our environment with node.exe's folder first on PATH (whatever case Wine gave its name). */
function environment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CORA_HOME: home };
  const name = Object.keys(env).find((key) => key.toUpperCase() === 'PATH') ?? 'PATH';
  env[name] = `${dirname(process.execPath)};${env[name] ?? ''}`;
  return env;
}

function cr(args: readonly string[], input?: string): Run {
  if (cli === undefined) throw new Error('CORA_WIN_CLI is not set (run tooling/test-windows.sh)');
  const result = spawnSync(process.execPath, ['--disable-sigusr1', cli, ...args], {
    env: environment(),
    input: input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

/** The service's log, for the message of a failed step (it never holds a value). */
function serviceLog(): string {
  try {
    return readFileSync(join(home, 'service.log'), 'utf8');
  } catch {
    return '(no service.log)';
  }
}

function ok(args: readonly string[], input?: string): Run {
  const run = cr(args, input);
  assert.equal(
    run.code,
    0,
    `cr ${args.join(' ')} exited ${String(run.code)}: ${run.err}${run.out}\nservice.log:\n${serviceLog()}`,
  );
  return run;
}

const withPass = ['--passphrase-file', passFile];
/** The user's SID (read in `before`), for files the tests make private. */
let sid = '';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
/** Why this suite cannot run here: no bundle, or a Node without crypto.argon2 (CORA_WINE=8). */
const skip =
  cli === undefined
    ? 'CORA_WIN_CLI is not set (run tooling/test-windows.sh)'
    : major < 24 || (major === 24 && minor < 7)
      ? `the vault KDF needs Node >= 24.7 (crypto.argon2); this is ${process.version}`
      : false;

void describe('cr end to end under Windows node.exe', { skip }, () => {
  before(async () => {
    const self = await processIdentity(process.pid);
    self.close();
    sid = self.identity.sid ?? '';
    ensurePrivateDirWin32(passDir, sid);
    writeFileSync(passFile, `${randomBytes(12).toString('hex')}\n`);
    // Windows would give the file its folder's DACL; Wine does not inherit it.
    restrictToUserWin32(passFile, sid);
  });
  after(() => {
    cr(['stop']);
    rmSync(dir, { recursive: true, force: true });
  });

  void it('should init, unlock, store a secret and add a task', () => {
    ok(['init', ...withPass]);
    ok(['unlock', ...withPass]);
    ok(['secrets', 'set', 'API_KEY', ...withPass], value);
    const list = ok(['secrets', 'list']);
    assert.match(list.out, /API_KEY/);
    assert.ok(!list.out.includes(value) && !list.err.includes(value));
    ok([
      'policy',
      'task',
      'add',
      'demo',
      'API_KEY',
      '--target',
      process.execPath,
      '--allow-interpreter',
      ...withPass,
    ]);
  });

  void it('should run the task with the secret injected and masked in its output', () => {
    const run = ok([
      'exec',
      'demo',
      '--',
      process.execPath,
      '-e',
      'console.log("key=" + process.env.API_KEY)',
    ]);
    assert.ok(!run.out.includes(value), 'the value reached the caller');
    assert.ok(!run.err.includes(value), 'the value reached the caller');
    assert.match(run.out, /key=<concealed:API_KEY>/);
    // The child had the real value: its length (not the value) goes out unmasked.
    const length = ok([
      'exec',
      'demo',
      '--',
      process.execPath,
      '-e',
      'console.log(process.env.API_KEY.length)',
    ]);
    assert.equal(length.out.trim(), String(value.length));
    // The system's own variables reach the child (Wine adds only SystemRoot, SystemDrive and
    // WINE*; PATHEXT, TEMP and the profile folder come from the caller through the service).
    const base = ok([
      'exec',
      'demo',
      '--',
      process.execPath,
      '-e',
      'console.log(["PATHEXT", "TEMP", "USERPROFILE"].map((n) => n + "=" + (process.env[n] ? "set" : "unset")).join(" "))',
    ]);
    assert.equal(base.out.trim(), 'PATHEXT=set TEMP=set USERPROFILE=set');
    // A Windows tool writing Unicode output (UTF-16LE) is masked too.
    const wide = ok([
      'exec',
      'demo',
      '--',
      process.execPath,
      '-e',
      'process.stdout.write(Buffer.from("key=" + process.env.API_KEY + "\\r\\n", "utf16le"))',
    ]);
    // UTF-16LE of an ASCII value, read as UTF-8: each character then a NUL.
    assert.ok(!wide.out.includes([...value].join('\0')), 'the value reached the caller');
    assert.match(wide.out, /<concealed:API_KEY>/);
  });

  void it('should find a bare name on the caller PATH as .exe, and refuse a .cmd target', () => {
    const bare = ok(['exec', 'demo', '--', 'node', '-e', 'console.log(process.env.API_KEY.length)']);
    assert.equal(bare.out.trim(), String(value.length));
    // cmd.exe's parsing of a batch file's arguments cannot be quoted safely (BatBadBut).
    const batch = join(dir, 'run.cmd');
    writeFileSync(batch, '@echo %API_KEY%\r\n');
    const add = cr(['policy', 'task', 'add', 'batch', 'API_KEY', '--target', batch, ...withPass]);
    assert.notEqual(add.code, 0);
    assert.match(add.err, /no executable file/);
    // Named directly under a task whose target it is not: refused, and nothing ran.
    const refused = cr(['exec', 'demo', '--', batch]);
    assert.notEqual(refused.code, 0);
    assert.ok(!refused.out.includes(value) && !refused.err.includes(value));
  });

  void it("should carry the caller's stdin to the child and its echo back masked", () => {
    const run = ok(
      ['exec', 'demo', '--', process.execPath, '-e', 'process.stdin.pipe(process.stdout)'],
      `line one\nthe key is ${value}\n`,
    );
    assert.equal(run.out, 'line one\nthe key is <concealed:API_KEY>\n');
  });

  void it("should return the child's exit code and its stderr masked", () => {
    const run = cr([
      'exec',
      'demo',
      '--',
      process.execPath,
      '-e',
      'process.stderr.write(process.env.API_KEY + "\\n"); process.exit(7)',
    ]);
    assert.equal(run.code, 7, run.err);
    assert.ok(!run.err.includes(value));
    assert.match(run.err, /<concealed:API_KEY>/);
  });

  void it('should record the exec in an audit log that holds no value and verifies', () => {
    const verify = ok(['audit', 'verify']);
    assert.match(verify.out, /ok|verified/i);
    const log = readFileSync(join(home, 'audit.jsonl'));
    assert.ok(!log.includes(Buffer.from(value)), 'the audit log holds the value');
  });

  void it('should say what Windows does not offer: cr agent refused, cr doctor without Linux checks', () => {
    const agent = cr(['agent', '--', process.execPath, '-e', '0']);
    assert.notEqual(agent.code, 0);
    assert.match(agent.err, /Landlock/);
    const doctor = cr(['doctor', '--json']);
    const checks = JSON.parse(doctor.out) as { check: string; status: string; detail: string }[];
    assert.deepEqual(
      checks.map((c) => c.check),
      ['node', 'platform', 'home', 'service', 'audit'],
    );
    assert.ok(!doctor.out.includes('the check itself failed'), doctor.out);
    assert.equal(checks.find((c) => c.check === 'home')?.status, 'ok', doctor.out);
  });

  void it('should refuse a passphrase file that lets anyone else in', () => {
    const open = join(dir, 'open-pass');
    writeFileSync(open, readFileSync(passFile));
    // Wine gives a new file no DACL (everyone may open it): refused before it is read.
    const run = cr(['secrets', 'set', 'OTHER', '--passphrase-file', open], 'x'.repeat(12));
    assert.notEqual(run.code, 0);
    assert.match(run.err, /lets .* in/);
  });

  void it('should end a running child when the vault is locked', { timeout: 30_000 }, async () => {
    const child = spawn(
      process.execPath,
      [
        '--disable-sigusr1',
        cli ?? '',
        'exec',
        'demo',
        '--',
        process.execPath,
        '-e',
        'console.log("up"); setInterval(() => {}, 1000)',
      ],
      { env: environment(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await once(child.stdout, 'data');
    const started = Date.now();
    ok(['lock']);
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.notEqual(code, 0, 'the exec ended by the lock reports a failure');
    assert.ok(Date.now() - started < 15_000, 'the child outlived the lock');
    ok(['unlock', ...withPass]);
  });

  void it('should lock, then refuse exec until unlocked again', () => {
    ok(['lock']);
    const status = ok(['status']);
    assert.match(status.out, /locked/i);
    const refused = cr(['exec', 'demo', '--', process.execPath, '-e', '0']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /locked/i);
    ok(['unlock', ...withPass]);
    const again = ok(['exec', 'demo', '--', process.execPath, '-e', 'console.log(process.env.API_KEY)']);
    assert.match(again.out, /<concealed:API_KEY>/);
    ok(['lock']);
  });

  void it('should change the passphrase: the new one unlocks, the old one does not', () => {
    const newPass = join(passDir, 'new-pass');
    writeFileSync(newPass, `${randomBytes(12).toString('hex')}\n`);
    restrictToUserWin32(newPass, sid);
    ok(['passwd', ...withPass, '--new-passphrase-file', newPass]);
    ok(['lock']);
    const old = cr(['unlock', ...withPass]);
    assert.notEqual(old.code, 0);
    ok(['unlock', '--passphrase-file', newPass]);
    assert.match(
      ok(['exec', 'demo', '--', 'node', '-e', 'console.log(process.env.API_KEY)']).out,
      /<concealed:API_KEY>/,
    );
    // Back to the first passphrase for the tests after this one.
    ok(['passwd', '--passphrase-file', newPass, '--new-passphrase-file', passFile]);
    const shown = ok(['audit', 'show', '--type', 'passwd', '--json']);
    assert.equal(shown.out.trim().split('\n').length, 2, shown.out);
    assert.ok(!shown.out.includes(value));
  });

  void it('should end three concurrent first starts with one service', async () => {
    ok(['stop']);
    const unlock = (): Promise<string> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['--disable-sigusr1', cli ?? '', 'unlock', ...withPass], {
          env: environment(),
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        child.once('exit', (code) => {
          resolve(`${String(code)} ${err}`.trim());
        });
      });
    const results = await Promise.all([unlock(), unlock(), unlock()]);
    // One unlocks; the two that lost the race reached the same service, already unlocked.
    assert.deepEqual([...results].sort(), [
      '0',
      '2 cr: the service is already unlocked',
      '2 cr: the service is already unlocked',
    ]);
    const starts = serviceLog()
      .split('\n')
      .filter((line) => line.includes('listening on'));
    // One from the first service of this file, one now: the other two starts found it.
    assert.equal(starts.length, 2, serviceLog());
    assert.match(ok(['status']).out, /unlocked/);
  });

  void it('should send nothing to an impostor on the vault pipe once the service is gone', async () => {
    const pipe = /listening on (\\\\\.\\pipe\\\S+)/.exec(serviceLog())?.[1];
    assert.ok(pipe !== undefined, 'the service logged its pipe');
    ok(['stop']);
    // A same-user process takes the name and counts what it is sent.
    const impostor = spawn(
      process.execPath,
      [
        '-e',
        `let got = 0;
         const server = require('net').createServer((s) => s.on('data', (d) => { got += d.length; }));
         server.listen(${JSON.stringify(pipe)}, () => console.log('listening'));
         process.stdin.on('end', () => { console.log('got ' + got); process.exit(0); });
         process.stdin.resume();`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const out: Buffer[] = [];
    impostor.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    await once(impostor.stdout, 'data');
    try {
      const refused = cr(['unlock', ...withPass]);
      assert.notEqual(refused.code, 0, refused.out);
      assert.match(refused.err, /does not run this installation|not your Cora service|holds the socket/i);
    } finally {
      impostor.stdin.end();
      await once(impostor, 'exit');
    }
    assert.match(Buffer.concat(out).toString(), /got 0\b/, 'the impostor was sent bytes');
  });
});
