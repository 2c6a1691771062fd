// SPDX-License-Identifier: AGPL-3.0-only
// Issue 10, items 1–4 and 6, end to end: one service per vault whatever the environment, a
// write history the audit log vouches for (rollback refused), no backup that outlives a
// passphrase change or a deletion, and budgets that hold locked or not. Real bin/cr, real
// detached services, real files.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readVault } from '@cora/crypto-format';
import { wipeSecretsBlock } from '@cora/memstore';
import { runCr, status, useCoraHomes, type CoraHome } from './e2e-helpers.ts';
import { APP_DIR, reveal, secret } from './helpers.ts';
import { serviceEnvironment } from '../src/shared/harden.ts';

const PASS = 'owner test passphrase, long enough';
const newHome = useCoraHomes(PASS);

function coraDir(home: CoraHome): string {
  return home.env['CORA_HOME']!;
}

/** Pids of service processes whose command line names this home. */
function servicePids(home: CoraHome): number[] {
  const out = spawnSync('pgrep', ['-f', `service-main.js --home ${coraDir(home)}`], { encoding: 'utf8' });
  return out.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
}

interface LogLine {
  seq: number;
  type: string;
  phase?: string;
  generation?: number;
  reason?: string;
}

function auditLines(home: CoraHome): LogLine[] {
  return readFileSync(join(coraDir(home), 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LogLine);
}

async function names(path: string, passphrase: string): Promise<Record<string, string> | null> {
  const p = secret(passphrase);
  try {
    const block = await readVault(path, p);
    try {
      return Object.fromEntries(block.entries.map((e) => [e.name, reveal(e.value).toString()]));
    } finally {
      wipeSecretsBlock(block);
    }
  } catch {
    return null;
  } finally {
    p.wipe();
  }
}

async function init(home: CoraHome): Promise<void> {
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
}

async function set(
  home: CoraHome,
  name: string,
  value: string,
): Promise<{ code: number | null; stderr: string }> {
  return home.cr(['secrets', 'set', name, '--passphrase-file', home.passFile], { input: value });
}

describe('one service per vault (issue 10, items 2 and 3)', () => {
  it('should reach the same service from CORA_HOME, ~/.cora, a respelled home and without XDG_RUNTIME_DIR', async () => {
    const home = await newHome();
    await init(home);
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    const first = await status(home);
    expect(first.pid).toBeGreaterThan(0);

    // The same directory spelled another way (a symlinked home is refused as unsafe).
    const respelled = `${home.dir.path}/run/../.cora/`;
    const cronLike = { ...home.env }; // ~/.cora, no XDG_RUNTIME_DIR (cron, su, ssh without pam)
    delete cronLike['CORA_HOME'];
    delete cronLike['XDG_RUNTIME_DIR'];
    const variants: NodeJS.ProcessEnv[] = [
      cronLike,
      { ...home.env, XDG_RUNTIME_DIR: join(home.dir.path, 'elsewhere') },
      { ...home.env, CORA_HOME: respelled },
    ];
    for (const env of variants) {
      const run = await runCr(['status', '--json'], env);
      expect(JSON.parse(run.stdout)).toMatchObject({ state: 'unlocked', pid: first.pid });
      const unlock = await runCr(['unlock', '--passphrase-file', home.passFile], env);
      expect(unlock).toMatchObject({ code: 0, stderr: '' });
      expect(unlock.stdout).toMatch(/Already unlocked/);
    }
    const foreground = await home.cr(['unlock', '--foreground', '--passphrase-file', home.passFile]);
    expect(foreground.code).toBe(2);
    expect(foreground.stderr).toContain(`pid ${String(first.pid)}`);
    expect(servicePids(home)).toEqual([first.pid]);
  });

  it('should end concurrent first writes with one service, one start record and a log that verifies', async () => {
    const home = await newHome();
    await init(home);
    await home.stopService(); // init started one; the race below starts from none
    expect(servicePids(home)).toEqual([]);
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => set(home, `RACE_${String(i)}`, `value-${String(i)}-0123456789`)),
    );
    for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(servicePids(home)).toHaveLength(1);
    const lines = auditLines(home);
    const seqs = lines.map((line) => line.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // One start for init's service, one for the race's winner: the losers wrote nothing.
    expect(lines.filter((line) => line.type === 'service-start')).toHaveLength(2);
    const commits = lines.filter((line) => line.type === 'vault-write' && line.phase === 'commit');
    expect(commits.map((line) => line.generation)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await home.cr(['audit', 'verify'])).code).toBe(0);
    const vault = await names(join(coraDir(home), 'vault.cora'), PASS);
    expect(Object.keys(vault ?? {}).sort()).toEqual(['RACE_0', 'RACE_1', 'RACE_2', 'RACE_3', 'RACE_4']);
  });
});

describe('a write history the audit log vouches for (issue 10, item 4)', () => {
  it('should refuse an older vault copied into place, locked or unlocked, until the user accepts it', async () => {
    const home = await newHome();
    await init(home);
    expect((await set(home, 'KEEP', 'keep-value-123')).code).toBe(0);
    const vault = join(coraDir(home), 'vault.cora');
    const old = join(home.dir.path, 'old.cora');
    copyFileSync(vault, old); // generation 2: holds KEEP only
    expect((await set(home, 'LATER', 'later-value-123')).code).toBe(0);
    expect((await home.cr(['secrets', 'delete', 'KEEP', '--passphrase-file', home.passFile])).code).toBe(0);

    // Locked: the next unlock refuses it, naming both generations.
    copyFileSync(old, vault);
    const refused = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(refused.code).toBe(18);
    expect(refused.stderr).toMatch(/generation 2, older than generation 4/);
    expect(refused.stderr).toContain('--accept-vault');
    // A write is refused too, and changes nothing.
    const before = readFileSync(vault);
    expect((await set(home, 'OTHER', 'other-value-123')).code).toBe(18);
    expect(readFileSync(vault).equals(before)).toBe(true);

    // Accepted explicitly: opened, and the adoption is in the log.
    const accepted = await home.cr(['unlock', '--accept-vault', '--passphrase-file', home.passFile]);
    expect(accepted.code).toBe(0);
    const list = await home.cr(['secrets', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name)).toEqual(['KEEP']);
    expect(auditLines(home).some((line) => line.type === 'vault-state' && line.reason === 'adopted')).toBe(
      true,
    );
    // The next write continues the history past both generations.
    expect((await set(home, 'AFTER', 'after-value-123')).code).toBe(0);
    expect(
      auditLines(home)
        .filter((line) => line.phase === 'commit')
        .at(-1)?.generation,
    ).toBe(5);
    expect((await home.cr(['audit', 'verify'])).code).toBe(0);
  });

  it('should never adopt a file swapped in while unlocked', async () => {
    const home = await newHome();
    await init(home);
    expect((await set(home, 'A_SECRET', 'a-value-123456')).code).toBe(0);
    const vault = join(coraDir(home), 'vault.cora');
    const old = join(home.dir.path, 'old.cora');
    copyFileSync(vault, old);
    expect((await set(home, 'B_SECRET', 'b-value-123456')).code).toBe(0);
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    copyFileSync(old, vault);
    const write = await set(home, 'C_SECRET', 'c-value-123456');
    expect(write.code).toBe(18);
    // Memory keeps what the service wrote; the swapped file is left as it was for the user.
    const list = await home.cr(['secrets', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name)).toEqual([
      'A_SECRET',
      'B_SECRET',
    ]);
    expect(readFileSync(vault).equals(readFileSync(old))).toBe(true);
  });

  it('should give a vault made again after a removal the next generation, not call it a rollback', async () => {
    const home = await newHome();
    await init(home);
    expect((await set(home, 'X_SECRET', 'x-value-123456')).code).toBe(0);
    await home.stopService();
    spawnSync('rm', [join(coraDir(home), 'vault.cora')]);
    await init(home);
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    const inits = auditLines(home).filter((line) => line.type === 'vault-write' && line.phase === 'commit');
    expect(inits.map((line) => line.generation)).toEqual([1, 2, 3]);
  });
});

describe('no backup outlives a passphrase change or a deletion (issue 10, item 1)', () => {
  it('should leave nothing in the home that opens with the old passphrase or holds a deleted value', async () => {
    const home = await newHome();
    await init(home);
    expect((await set(home, 'DOOMED', 'doomed-value-123456')).code).toBe(0);
    expect((await set(home, 'STAYS', 'stays-value-123456')).code).toBe(0);
    expect((await home.cr(['secrets', 'delete', 'DOOMED', '--passphrase-file', home.passFile])).code).toBe(0);
    const next = home.writePassFile('next', 'the new passphrase, long enough\n');
    const passwd = await home.cr([
      'passwd',
      '--passphrase-file',
      home.passFile,
      '--new-passphrase-file',
      next,
    ]);
    expect(passwd.code).toBe(0);
    const dir = coraDir(home);
    const files = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name));
    expect(files.some((file) => file.endsWith('.prev'))).toBe(false);
    for (const file of files) {
      expect(await names(file, PASS)).toBeNull(); // nothing opens with the old passphrase
      const opened = await names(file, 'the new passphrase, long enough');
      if (opened !== null) {
        expect(file).toBe(join(dir, 'vault.cora'));
        expect(opened).toEqual({ STAYS: 'stays-value-123456' });
      }
      expect(readFileSync(file).includes('doomed-value-123456')).toBe(false);
    }
  });
});

/** Append a record to the log with a valid chain link and no MAC, as a same-user forger would. */
function forge(home: CoraHome, fields: string): void {
  const path = join(coraDir(home), 'audit.jsonl');
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  const last = lines.at(-1) ?? '';
  const seq = (JSON.parse(last) as { seq: number }).seq + 1;
  const prev = createHash('sha256').update(last).digest('hex');
  appendFileSync(
    path,
    `{"v":1,"seq":${String(seq)},"time":"${new Date().toISOString()}",${fields},"prev":"${prev}","mac":null}\n`,
  );
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('a same-user process against the history (attacks found in review)', () => {
  it('should not let a forged unMACed intent, or a replayed old MACed record, vouch for an old vault', async () => {
    const home = await newHome();
    await init(home);
    expect((await set(home, 'DEL', 'deleted-value-1')).code).toBe(0);
    const vault = join(coraDir(home), 'vault.cora');
    const old = join(home.dir.path, 'old.cora');
    copyFileSync(vault, old);
    const oldCommit = readFileSync(join(coraDir(home), 'audit.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .filter((line) => line.includes('"phase":"commit"'))
      .at(-1);
    expect((await home.cr(['secrets', 'delete', 'DEL', '--passphrase-file', home.passFile])).code).toBe(0);
    const current = sha256Of(vault);
    await home.stopService();

    // 1. A forged intent (no MAC) naming the old file as the new one.
    copyFileSync(old, vault);
    forge(
      home,
      `"type":"vault-write","phase":"intent","op":"secrets.set","generation":9,"sha256":"${sha256Of(old)}","previous":"${current}","recovered":false`,
    );
    const forged = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(forged.code, forged.stderr).toBe(18);
    await home.stopService();

    // 2. An old MACed commit copied to the end of the log: it does not chain.
    appendFileSync(join(coraDir(home), 'audit.jsonl'), `${oldCommit ?? ''}\n`);
    const replayed = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(replayed.code, replayed.stderr).toBe(14);
    expect(replayed.stderr).toMatch(/do not chain/);
  });

  it('should keep one service when the lock file is removed under it, and leave no hang on a FIFO', async () => {
    const home = await newHome();
    await init(home);
    const first = await status(home);
    rmSync(join(coraDir(home), 'service.lock'));
    // A second service started by hand. Either the first still answers on the socket (the
    // second leaves with 75, writing nothing) or the first already noticed it lost its lock
    // file and left, wiping (then the second owns the vault). Never two, never a forked log.
    const second = spawn(
      process.execPath,
      [
        '--disable-sigusr1',
        join(APP_DIR, 'dist', 'service-main.js'),
        '--home',
        coraDir(home),
        '--idle-timeout-ms',
        '0',
        '--lifetime-ms',
        '0',
      ],
      { env: serviceEnvironment(home.env), stdio: 'ignore', detached: true },
    );
    second.unref();
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline && servicePids(home).includes(first.pid ?? -1)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(servicePids(home)).not.toContain(first.pid);
    expect(servicePids(home).length).toBeLessThanOrEqual(1);
    const verify = await home.cr(['audit', 'verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    await home.stopService();
    for (const pid of servicePids(home)) process.kill(pid, 'SIGTERM');
    const gone = Date.now() + 5000;
    while (Date.now() < gone && servicePids(home).length > 0) await new Promise((r) => setTimeout(r, 100));

    rmSync(join(coraDir(home), 'service.lock'), { force: true });
    expect(spawnSync('mkfifo', [join(coraDir(home), 'service.lock')]).status).toBe(0);
    const started = Date.now();
    const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile]);
    expect(unlock.code).toBe(8);
    expect(Date.now() - started).toBeLessThan(8000);
  }, 60_000);
});
