// SPDX-License-Identifier: AGPL-3.0-only
// End to end: the real bin/cr (built dist/cli.js) against the real detached service, in a
// private temp home. Each test stops the service it started.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readVault } from '@cora/crypto-format';
import { wipeSecretsBlock } from '@cora/memstore';
import { makeTempDir, unprivilegedCanRun, waitForLine } from '@cora/test-utils';
import { killAndWait, status, useCoraHomes, type CoraHome } from './e2e-helpers.ts';
import { APP_DIR, SOURCE_FLAGS, reveal, secret } from './helpers.ts';

const PASS = 'e2e passphrase, long enough';
const newHome = useCoraHomes(PASS);

function freshHome(owner?: number): Promise<CoraHome> {
  return newHome(owner === undefined ? {} : { owner });
}

async function initAndUnlock(home: CoraHome, extra: string[] = []): Promise<void> {
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile, ...extra]);
  expect(unlock.stderr).toBe('');
  expect(unlock.code).toBe(0);
}

async function vaultNames(home: CoraHome, passphrase = PASS): Promise<Record<string, string>> {
  const p = secret(passphrase);
  try {
    const block = await readVault(join(home.env['CORA_HOME']!, 'vault.cora'), p);
    try {
      return Object.fromEntries(block.entries.map((e) => [e.name, reveal(e.value).toString()]));
    } finally {
      wipeSecretsBlock(block);
    }
  } finally {
    p.wipe();
  }
}

describe('cr lifecycle (e2e)', () => {
  it('should init, unlock, report status, lock and report status again', async () => {
    const home = await freshHome();
    const before = await status(home);
    expect(before).toMatchObject({ state: 'locked', pid: null, running: false });
    await initAndUnlock(home);
    const unlocked = await status(home);
    expect(unlocked).toMatchObject({ state: 'unlocked', secrets: 0, running: true, version: '0.1.0' });
    expect(unlocked.pid).toBeGreaterThan(0);
    expect(unlocked.socket).toBe(join(home.env['CORA_HOME']!, 'run', 'cora.sock'));
    expect(new Date(unlocked.idleDeadline!).toISOString()).toBe(unlocked.idleDeadline);
    expect((statSync(unlocked.socket).mode & 0o777).toString(8)).toBe('600');
    const lock = await home.cr(['lock']);
    expect(lock).toMatchObject({ code: 0, stdout: 'Locked.\n' });
    expect(await status(home)).toMatchObject({ state: 'locked', idleDeadline: null, pid: unlocked.pid });
    // Unlocking again reuses the running service.
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    expect(await status(home)).toMatchObject({ state: 'unlocked', pid: unlocked.pid });
    const again = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(again.stdout).toMatch(/^Already unlocked/);
  });

  it('should refuse to overwrite a vault (exit 6) and report a missing one (exit 5)', async () => {
    const home = await freshHome();
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(5);
    expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
    const vault = join(home.env['CORA_HOME']!, 'vault.cora');
    const bytes = readFileSync(vault);
    const second = await home.cr(['init', '--passphrase-file', home.passFile]);
    expect(second.code).toBe(6);
    expect(second.stderr).toMatch(/already exists/);
    expect(readFileSync(vault).equals(bytes)).toBe(true);
    expect((statSync(home.env['CORA_HOME']!).mode & 0o777).toString(8)).toBe('700');
  });

  it('should warn about a weak passphrase at init without refusing it', async () => {
    const home = await freshHome();
    const weak = home.writePassFile('weak', 'abc\n');
    const init = await home.cr(['init', '--passphrase-file', weak]);
    expect(init.code).toBe(0);
    expect(init.stderr).toMatch(/warning: weak passphrase/);
    expect(init.stderr).not.toContain('abc');
  });

  it('should refuse a wrong passphrase with exit 4 and stay locked', async () => {
    const home = await freshHome();
    expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
    const wrong = home.writePassFile('wrong', 'not the passphrase\n');
    const result = await home.cr(['unlock', '--passphrase-file', wrong]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/wrong passphrase/);
    expect(result.stderr).not.toContain('not the passphrase');
    expect(await status(home)).toMatchObject({ state: 'locked', running: true });
    // The passphrase through a descriptor works.
    const ok = await home.cr(['unlock', '--passphrase-fd', '3'], { fd3: `${PASS}\n` });
    expect(ok.code).toBe(0);
    expect(await status(home)).toMatchObject({ state: 'unlocked' });
  });

  it('should lock itself after the idle timeout, and status does not count as activity', async () => {
    const home = await freshHome();
    // Wide margins: each `cr status` is a Node start, slow on a loaded 2-core machine. The
    // last check falls after the deadline counted from unlock (6 s) and before the one a
    // status call would have set (its time + 6 s).
    await initAndUnlock(home, ['--idle-timeout', '6s']);
    const unlockedAt = Date.now();
    const first = await status(home);
    expect(first.state).toBe('unlocked');
    expect(Date.parse(first.idleDeadline!) - Date.now()).toBeLessThanOrEqual(6000);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await status(home)).state).toBe('unlocked');
    const statusAt = Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, unlockedAt + 6300 - Date.now())));
    expect(Date.now()).toBeLessThan(statusAt + 6000);
    expect(await status(home)).toMatchObject({ state: 'locked', idleDeadline: null });
  });

  it('should keep the vault intact after kill -9 of the service and unlock again', async () => {
    const home = await freshHome();
    await initAndUnlock(home);
    expect(
      (
        await home.cr(['secrets', 'set', 'SURVIVOR', '--passphrase-file', home.passFile], {
          input: 'still here\n',
        })
      ).code,
    ).toBe(0);
    const { pid } = await status(home);
    await killAndWait(pid!, 'SIGKILL');
    expect(await vaultNames(home)).toEqual({ SURVIVOR: 'still here' });
    expect(await status(home)).toMatchObject({ running: false });
    const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(unlock.code).toBe(0);
    const after = await status(home);
    expect(after).toMatchObject({ state: 'unlocked', secrets: 1 });
    expect(after.pid).not.toBe(pid);
  });

  it('should wipe and exit on SIGTERM, SIGINT and SIGHUP, and ignore SIGUSR1', async () => {
    const home = await freshHome();
    await initAndUnlock(home);
    const { pid } = await status(home);
    process.kill(pid!, 'SIGUSR1');
    await new Promise((r) => setTimeout(r, 200));
    expect(await status(home)).toMatchObject({ state: 'unlocked', pid });
    const log = readFileSync(join(home.env['CORA_HOME']!, 'service.log'), 'utf8');
    expect(log).not.toMatch(/Debugger listening/);
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const current = (await status(home)).pid!;
      process.kill(current, signal);
      const deadline = Date.now() + 3000;
      while ((await status(home)).running && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect((await status(home)).running).toBe(false);
      expect(readFileSync(join(home.env['CORA_HOME']!, 'service.log'), 'utf8')).toContain(
        `stopping (${signal})`,
      );
      expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    }
  });
});

describe('cr secrets (e2e)', () => {
  it('should set from stdin, list, replace, delete, while unlocked and while locked', async () => {
    const home = await freshHome();
    await initAndUnlock(home);
    const set = await home.cr(['secrets', 'set', 'API_KEY', '--passphrase-file', home.passFile], {
      input: 'v1\n',
    });
    expect(set).toMatchObject({ code: 0, stdout: 'Stored API_KEY.\n' });
    const replace = await home.cr(['secrets', 'set', 'API_KEY', '--passphrase-file', home.passFile], {
      input: 'v2',
    });
    expect(replace.stdout).toBe('Replaced API_KEY.\n');
    const list = await home.cr(['secrets', 'list', '--json']);
    const entries = JSON.parse(list.stdout) as { name: string; created: string; updated: string }[];
    expect(entries.map((e) => e.name)).toEqual(['API_KEY']);
    expect(Object.keys(entries[0]!).sort()).toEqual(['created', 'name', 'updated']);
    expect(list.stdout).not.toContain('v2');
    expect(await vaultNames(home)).toEqual({ API_KEY: 'v2' });
    expect((await home.cr(['lock'])).code).toBe(0);
    expect((await home.cr(['secrets', 'list'])).code).toBe(3);
    // Mutations work while locked.
    expect(
      (await home.cr(['secrets', 'set', 'LATER', '--passphrase-file', home.passFile], { input: 'x' })).code,
    ).toBe(0);
    const del = await home.cr(['secrets', 'delete', 'API_KEY', '--passphrase-file', home.passFile]);
    expect(del).toMatchObject({ code: 0, stdout: 'Deleted API_KEY.\n' });
    expect((await home.cr(['secrets', 'delete', 'API_KEY', '--passphrase-file', home.passFile])).code).toBe(
      5,
    );
    expect(await vaultNames(home)).toEqual({ LATER: 'x' });
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    expect((await status(home)).secrets).toBe(1);
  });

  it('should change nothing on a wrong passphrase, and refuse bad names and oversized values', async () => {
    const home = await freshHome();
    await initAndUnlock(home);
    const vault = join(home.env['CORA_HOME']!, 'vault.cora');
    const before = readFileSync(vault);
    const wrong = home.writePassFile('wrong', 'nope\n');
    expect((await home.cr(['secrets', 'set', 'X', '--passphrase-file', wrong], { input: 'x' })).code).toBe(4);
    expect(readFileSync(vault).equals(before)).toBe(true);
    expect(
      (await home.cr(['secrets', 'set', '1BAD', '--passphrase-file', home.passFile], { input: 'x' })).code,
    ).toBe(7);
    const big = Buffer.alloc(65_537, 0x61);
    expect(
      (await home.cr(['secrets', 'set', 'BIG', '--passphrase-file', home.passFile], { input: big })).code,
    ).toBe(7);
    const max = Buffer.alloc(65_536, 0x62);
    expect(
      (await home.cr(['secrets', 'set', 'MAX', '--raw', '--passphrase-file', home.passFile], { input: max }))
        .code,
    ).toBe(0);
    expect((await vaultNames(home))['MAX']?.length).toBe(65_536);
  });

  it('should import a .env file showing names only, and refuse a bad one by line number', async () => {
    const home = await freshHome();
    await initAndUnlock(home);
    const good = home.writePassFile('good.env', '# c\nexport A=alpha-value\nB="beta\\nvalue"\n');
    const result = await home.cr(['secrets', 'import', good, '--passphrase-file', home.passFile]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('2 secret(s): A, B');
    expect(result.stdout).toContain('Added: A, B');
    expect(result.stdout + result.stderr).not.toMatch(/alpha-value|beta/);
    expect(await vaultNames(home)).toEqual({ A: 'alpha-value', B: 'beta\nvalue' });
    const bad = home.writePassFile('bad.env', 'OK=1\nBAD-NAME=topsecretvalue\n');
    const refused = await home.cr(['secrets', 'import', bad, '--passphrase-file', home.passFile]);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain('line 2:');
    expect(refused.stderr).not.toContain('topsecretvalue');
    const dry = await home.cr(['secrets', 'import', good, '--dry-run']);
    expect(dry.code).toBe(0);
  });

  it('should change the passphrase with passwd, keep the secrets, and refuse the old one', async () => {
    const home = await freshHome();
    await initAndUnlock(home);
    expect(
      (await home.cr(['secrets', 'set', 'KEEP', '--passphrase-file', home.passFile], { input: 'kept' })).code,
    ).toBe(0);
    const next = home.writePassFile('next', 'the brand new passphrase\n');
    const passwd = await home.cr([
      'passwd',
      '--passphrase-file',
      home.passFile,
      '--new-passphrase-file',
      next,
    ]);
    expect(passwd.code).toBe(0);
    expect(await status(home)).toMatchObject({ state: 'unlocked', secrets: 1 });
    expect(await vaultNames(home, 'the brand new passphrase')).toEqual({ KEEP: 'kept' });
    expect((await home.cr(['lock'])).code).toBe(0);
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(4);
    expect((await home.cr(['unlock', '--passphrase-file', next])).code).toBe(0);
  });
});

describe('who may talk to the service (e2e)', () => {
  it('should refuse a foreign process (python3) and a Node script that is not cr', async () => {
    const home = await freshHome();
    await initAndUnlock(home);
    const { socket } = await status(home);
    const py = spawnSync(
      'python3',
      [
        '-c',
        'import socket,sys,time\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.settimeout(5)\nd=b""\nwhile True:\n  c=s.recv(4096)\n  if not c: break\n  d+=c\nsys.stdout.write(d.decode("latin1"))',
        socket,
      ],
      { encoding: 'latin1' },
    );
    expect(py.stdout).toContain('NOT_ALLOWED');
    const node = spawnSync(
      process.execPath,
      [
        ...SOURCE_FLAGS,
        '-e',
        `import('@cora/ipc').then(async ({connectIpc}) => { try { await connectIpc({socketPath: ${JSON.stringify(socket)}}); console.log('CONNECTED'); } catch (e) { console.log(e.code); } })`,
      ],
      { cwd: APP_DIR, encoding: 'utf8' },
    );
    expect(node.stdout.trim()).toBe('NOT_ALLOWED');
    const log = readFileSync(join(home.env['CORA_HOME']!, 'service.log'), 'utf8');
    expect(log).toMatch(/refused pid \d+ \(.*python.*\): exe/);
    // The service still serves its own CLI.
    expect((await status(home)).state).toBe('unlocked');
  });

  it.runIf(process.getuid?.() === 0)(
    'should refuse to talk to a socket squatted by another uid',
    async () => {
      const home = await freshHome();
      const other = await makeTempDir('cora-squat-');
      try {
        spawnSync('chown', ['65534:65534', other.path]);
        const squatPath = join(other.path, 'cora.sock');
        const squatter = spawn(
          'setpriv',
          [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            process.execPath,
            '-e',
            `require('net').createServer((s) => s.end()).listen(${JSON.stringify(squatPath)}, () => console.log('LISTENING'))`,
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        try {
          await waitForLine(squatter.stdout, (l) => l === 'LISTENING');
          const target = join(home.env['CORA_HOME']!, 'run', 'cora.sock');
          spawnSync('mkdir', ['-m', '700', '-p', join(home.env['CORA_HOME']!, 'run')]);
          renameSync(squatPath, target);
          // Owned by nobody: refused on the file's owner.
          const byOwner = await home.cr(['status']);
          expect(byOwner.code).toBe(9);
          // Even with the file chowned to us, the kernel's peer credentials give the impostor away
          // to every command that checks them (all but status and exec, which send nothing secret).
          spawnSync('chown', [`${String(process.getuid?.())}:${String(process.getgid?.())}`, target]);
          const byPeer = await home.cr(['secrets', 'list']);
          expect(byPeer.code).toBe(9);
          expect(byPeer.stderr).toMatch(/uid 65534/);
          // status skips that check (SECURITY.md "An impostor on the socket"): it fails, sending nothing secret.
          expect((await home.cr(['status'])).code).not.toBe(0);
        } finally {
          squatter.kill('SIGKILL');
        }
      } finally {
        await other.remove();
      }
    },
  );

  // The service runs as nobody from this checkout: needs a checkout nobody can read.
  it.runIf(unprivilegedCanRun([join(APP_DIR, 'dist', 'service-main.js'), join(APP_DIR, 'bin', 'cr')]))(
    'should run a service under an unprivileged uid that this uid cannot ptrace, with root-owned /proc/<pid>/mem',
    async () => {
      const home = await freshHome(65534);
      expect((await home.cr(['init', '--passphrase-file', home.passFile], { asUid: 65534 })).code).toBe(0);
      expect((await home.cr(['unlock', '--passphrase-file', home.passFile], { asUid: 65534 })).code).toBe(0);
      const { pid } = await status(home, 65534);
      const uidLine = readFileSync(`/proc/${String(pid)}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('Uid:'));
      expect(uidLine?.split(/\s+/)[1]).toBe('65534');
      expect(statSync(`/proc/${String(pid)}/mem`).uid).toBe(0);
      const attach = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          ...SOURCE_FLAGS,
          'test/fixtures/ptrace-attach.ts',
          String(pid),
        ],
        { cwd: APP_DIR, encoding: 'utf8' },
      );
      expect(attach.stdout.trim()).toBe('-1 1'); // EPERM
    },
  );
});
