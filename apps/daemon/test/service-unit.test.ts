// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr service install | uninstall | status` end to end through the built CLI: the unit's and
 * the plist's every line, the command they run (this installation's, never the checkout's when
 * run from a copy), the environment allowlist, the files written into a temp HOME, foreign files
 * left alone, `systemd-analyze verify`, and the strict unit's command run under the same kernel
 * restrictions (root only: a mount namespace, no_new_privs, umask), since no user systemd runs
 * here.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '@cora/test-utils';
import { useCoraHomes, type CoraHome } from './e2e-helpers.ts';
import { APP_DIR } from './helpers.ts';

const newHome = useCoraHomes('service-test-passphrase-1');

const hasCommand = (name: string): boolean => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
const isRoot = process.getuid?.() === 0;

/** The unit's lines, by key (a key may repeat). */
function keys(unit: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const at = line.indexOf('=');
    if (at <= 0 || line.startsWith('#')) continue;
    map.set(line.slice(0, at), [...(map.get(line.slice(0, at)) ?? []), line.slice(at + 1)]);
  }
  return map;
}

/** `ExecStart`'s words, unquoted the way systemd does for what `cr` writes (no \ or " inside). */
function execWords(unit: string): string[] {
  const line = keys(unit).get('ExecStart')?.[0] ?? '';
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) =>
    (m[1] ?? m[2] ?? '').replaceAll('%%', '%').replaceAll('$$', '$'),
  );
}

/** `systemd-analyze verify --user`: exit 0 and not one warning. */
function verify(dir: string, unit: string, name = 'cora.service'): { code: number | null; stderr: string } {
  const path = join(dir, name);
  writeFileSync(path, unit);
  const runtime = join(dir, 'xdg-run');
  mkdirSync(runtime, { recursive: true, mode: 0o700 });
  const run = spawnSync('systemd-analyze', ['verify', '--user', path], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: runtime },
  });
  return { code: run.status, stderr: run.stderr };
}

async function print(home: CoraHome, args: readonly string[] = []): Promise<string> {
  const result = await home.cr(['service', 'install', '--print', ...args]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout;
}

const COMMON = ['NoNewPrivileges=yes', 'LockPersonality=yes', 'UMask=0077'];

describe('cr service install --print (e2e)', () => {
  it('should write a unit that runs this installation’s service with the launcher’s flags', async () => {
    // Hooks the CLI itself survives; none may reach the unit.
    const hooks = { NODE_OPTIONS: '--no-deprecation', LD_LIBRARY_PATH: '/nonexistent-cora', FOO: 'bar' };
    const home = await newHome({ env: hooks });
    const unit = await print(home);
    expect(unit.split('\n')[0]).toBe(
      '# cora-service: written by cr service install; cr service uninstall removes it',
    );
    const k = keys(unit);
    expect(k.get('Description')).toEqual([`Cora secret service for ${home.env['CORA_HOME'] ?? ''}`]);
    expect(k.get('Type')).toEqual(['exec']);
    expect(k.get('WorkingDirectory')).toEqual(['/']);
    expect(k.get('Restart')).toEqual(['on-failure']);
    expect(k.get('RestartPreventExitStatus')).toEqual(['75 78']);
    expect(k.get('WantedBy')).toEqual(['default.target']);
    expect(k.get('UnsetEnvironment')?.[0]?.split(' ')).toEqual(
      expect.arrayContaining(['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'NODE_OPTIONS']),
    );
    const words = execWords(unit);
    expect(words.slice(0, 2)).toEqual([existsSync('/usr/bin/env') ? '/usr/bin/env' : '/bin/env', '-i']);
    const node = words.findIndex((w) => !/^[A-Z_]+=/.test(w) && w !== '-i' && !w.endsWith('/env'));
    // An allowlisted environment, built from nothing: no hook, nothing else of the caller's.
    const env = words.slice(2, node);
    expect(env.map((w) => w.slice(0, w.indexOf('=')))).toEqual(expect.arrayContaining(['HOME', 'PATH']));
    for (const assignment of env) {
      expect(assignment).toMatch(/^(PATH|HOME|USER|LOGNAME|LANG|TZ|TMPDIR|LC_[A-Z_]+)=/);
    }
    expect(env).toContain(`HOME=${home.dir.path}`);
    expect(unit).not.toMatch(/FOO=|--no-deprecation|nonexistent-cora/);
    expect(words.slice(node)).toEqual([
      process.execPath,
      '--disable-sigusr1',
      join(APP_DIR, 'dist', 'service-main.js'),
      '--home',
      home.env['CORA_HOME'],
      '--idle-timeout-ms',
      '900000',
      '--lifetime-ms',
      '0',
    ]);
    // Every hardening line, and no more: tasks keep the network and their writes.
    const hardening = unit
      .split('\n')
      .filter((l) => /^(NoNew|Lock|UMask|Restrict|Private|Protect|ReadWrite|Memory)/.test(l));
    expect(hardening).toEqual([...COMMON, 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK']);
  });

  it('should write the full list with --strict, the Cora home writable', async () => {
    const home = await newHome();
    const unit = await print(home, ['--strict']);
    const hardening = unit
      .split('\n')
      .filter((l) => /^(NoNew|Lock|UMask|Restrict|Private|Protect|ReadWrite|Memory)/.test(l));
    expect(hardening).toEqual([
      ...COMMON,
      'RestrictAddressFamilies=AF_UNIX',
      'PrivateTmp=yes',
      'ProtectSystem=strict',
      `ReadWritePaths="${home.env['CORA_HOME'] ?? ''}"`,
    ]);
    expect(unit).not.toContain('MemoryDenyWriteExecute');
  });

  it.skipIf(!hasCommand('systemd-analyze'))(
    'should pass systemd-analyze verify, odd characters in the home included',
    async () => {
      const home = await newHome();
      const odd = join(home.dir.path, 'my 100% $HOME');
      mkdirSync(odd, { mode: 0o700 });
      home.env['CORA_HOME'] = odd;
      for (const args of [[], ['--strict']]) {
        const unit = await print(home, args);
        expect(verify(home.dir.path, unit)).toEqual({ code: 0, stderr: '' });
        expect(execWords(unit)).toContain(odd);
      }
      // The test itself can tell a bad unit: verify is not a rubber stamp.
      const bad = verify(
        home.dir.path,
        (await print(home)).replace('LockPersonality=yes', 'LockPersonality=maybe'),
      );
      expect(bad.stderr).toContain('Failed to parse boolean value, ignoring: maybe');
    },
  );

  it('should refuse a home a unit file cannot hold, and write nothing', async () => {
    const home = await newHome();
    home.env['CORA_HOME'] = join(home.dir.path, 'a"b');
    const result = await home.cr(['service', 'install']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('contains a quote, a backslash or a control character');
    expect(existsSync(join(home.dir.path, '.config'))).toBe(false);
  });

  it('should print a launchd agent with the same command and environment', async () => {
    const home = await newHome({ env: { NODE_OPTIONS: '--no-deprecation' } });
    const plist = await print(home, ['--launchd']);
    const unitWords = execWords(await print(home));
    expect(plist).toContain(
      '<!-- cora-service: written by cr service install; cr service uninstall removes it -->',
    );
    const strings = [...plist.matchAll(/<string>([^<]*)<\/string>/g)].map((m) => m[1]);
    const node = unitWords.indexOf(process.execPath);
    expect(strings.slice(1, 1 + unitWords.length - node)).toEqual(unitWords.slice(node));
    expect(strings[0]).toBe('dev.cora.service');
    expect(plist).toContain('<key>Umask</key><integer>63</integer>');
    expect(plist).toContain('<key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>');
    expect(plist).not.toContain('NODE_OPTIONS');
    const envKeys = [...plist.matchAll(/<key>([A-Z_]+)<\/key><string>/g)].map((m) => m[1]);
    expect(envKeys.length).toBeGreaterThan(0);
    for (const key of envKeys) expect(key).toMatch(/^(PATH|HOME|USER|LOGNAME|LANG|TZ|TMPDIR|LC_[A-Z_]+)$/);
    if (hasCommand('python3')) {
      const parsed = spawnSync(
        'python3',
        ['-c', 'import plistlib,sys,json;print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'],
        {
          input: plist,
          encoding: 'utf8',
        },
      );
      expect(parsed.status).toBe(0);
      expect(JSON.parse(parsed.stdout)).toMatchObject({
        Label: 'dev.cora.service',
        Umask: 63,
        RunAtLoad: true,
      });
    }
  });

  it('should name the installed copy’s files, never the checkout’s, when run from an install', async () => {
    const home = await newHome();
    const prefix = await makeTempDir('cora-install-');
    try {
      const root = join(prefix.path, 'lib', 'node_modules', '@cora', 'daemon');
      for (const part of ['bin', 'dist', 'package.json'])
        cpSync(join(APP_DIR, part), join(root, part), { recursive: true });
      symlinkSync(join(APP_DIR, 'node_modules'), join(root, 'node_modules'));
      const result = spawnSync(join(root, 'bin', 'cr'), ['service', 'install', '--print'], {
        env: home.env,
        encoding: 'utf8',
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const words = execWords(result.stdout);
      expect(words).toContain(join(root, 'dist', 'service-main.js'));
      // The Node is the one the CLI runs on; nothing else points into the checkout.
      const checkout = APP_DIR.replace(/\/$/, '');
      expect(words.filter((w) => w.includes(checkout) && w !== process.execPath)).toEqual([]);
      expect(result.stdout.replace(process.execPath, '')).not.toContain(checkout);
    } finally {
      await prefix.remove();
    }
  });
});

describe('cr service install | uninstall | status (e2e)', () => {
  it('should install into XDG_CONFIG_HOME, report it, reinstall over its own file and uninstall', async () => {
    const home = await newHome();
    const config = join(home.dir.path, 'xdg');
    home.env['XDG_CONFIG_HOME'] = config;
    const path = join(config, 'systemd', 'user', 'cora.service');
    const printed = await print(home);
    const first = await home.cr(['service', 'install']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Wrote ${path}`);
    expect(first.stdout).toContain('systemctl --user enable --now cora.service');
    expect(readFileSync(path, 'utf8')).toBe(printed);
    expect(lstatSync(path).mode & 0o022).toBe(0); // nobody else may change what the manager runs
    expect((await home.cr(['service', 'install'])).code).toBe(0);
    const status = await home.cr(['service', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({
      kind: 'systemd',
      name: 'cora.service',
      path,
      installed: true,
      foreign: false,
    });
    const human = await home.cr(['service', 'status']);
    expect(human.stdout).toContain('cora.service, installed');
    // No user manager here: it says why it cannot tell, rather than guess.
    if ((JSON.parse(status.stdout) as { active: string | null }).active === null)
      expect(human.stdout).toMatch(/systemd: {2}cannot tell: \S/);
    const removed = await home.cr(['service', 'uninstall']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`Removed ${path}.`);
    expect(existsSync(path)).toBe(false);
    expect((await home.cr(['service', 'uninstall'])).stdout).toBe(`Not installed: there is no ${path}.\n`);
    expect(JSON.parse((await home.cr(['service', 'status', '--json'])).stdout)).toMatchObject({
      installed: false,
    });
  });

  it('should give another home its own unit name', async () => {
    const home = await newHome();
    home.env['CORA_HOME'] = join(home.dir.path, 'work-vault');
    const status = JSON.parse((await home.cr(['service', 'status', '--json'])).stdout) as { name: string };
    expect(status.name).toMatch(/^cora-[0-9a-f]{8}\.service$/);
    expect((await home.cr(['service', 'install'])).code).toBe(0);
    expect(existsSync(join(home.dir.path, '.config', 'systemd', 'user', status.name))).toBe(true);
  });

  it('should neither overwrite nor remove a file it did not write, nor follow a symlink', async () => {
    const home = await newHome();
    const dir = join(home.dir.path, '.config', 'systemd', 'user');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'cora.service');
    writeFileSync(path, '[Service]\nExecStart=/bin/true\n');
    for (const args of [['install'], ['uninstall']]) {
      const result = await home.cr(['service', ...args]);
      expect(result.code).toBe(9);
      expect(result.stderr).toContain('was not written by cr service install');
      expect(readFileSync(path, 'utf8')).toBe('[Service]\nExecStart=/bin/true\n');
    }
    expect(JSON.parse((await home.cr(['service', 'status', '--json'])).stdout)).toMatchObject({
      installed: false,
      foreign: true,
    });
    // A symlink to a file that carries the marker is still not ours to replace.
    const elsewhere = join(home.dir.path, 'elsewhere.service');
    writeFileSync(elsewhere, await print(home));
    rmSync(path);
    symlinkSync(elsewhere, path);
    expect((await home.cr(['service', 'install'])).code).toBe(9);
    expect((await home.cr(['service', 'uninstall'])).code).toBe(9);
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(existsSync(elsewhere)).toBe(true);
  });

  it('should install and uninstall the launchd agent in HOME/Library/LaunchAgents', async () => {
    const home = await newHome();
    const path = join(home.dir.path, 'Library', 'LaunchAgents', 'dev.cora.service.plist');
    expect((await home.cr(['service', 'install', '--launchd'])).code).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(await print(home, ['--launchd']));
    expect((await home.cr(['service', 'uninstall', '--launchd'])).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});

describe('what the unit’s service tolerates (e2e)', () => {
  // PrivateTmp hides a checkout or a Node that lives under /tmp (a clean clone there): skipped.
  const underTmp = APP_DIR.startsWith('/tmp/') || process.execPath.startsWith('/tmp/');
  it.skipIf(!isRoot || underTmp || !hasCommand('unshare') || !hasCommand('setpriv') || !existsSync('/mnt'))(
    'should serve unlock and exec under the strict unit’s restrictions, which the task inherits',
    async () => {
      const home = await newHome();
      const words = execWords(await print(home, ['--strict']));
      mkdirSync(home.env['CORA_HOME'] ?? '', { mode: 0o700 });
      // ProtectSystem=strict + ReadWritePaths + PrivateTmp, NoNewPrivileges and UMask, by hand.
      const script = [
        'set -e',
        'h=$1; shift',
        // The test's home is under /tmp: keep it on /mnt while /tmp is replaced, then put it back.
        'mount --bind "$h" /mnt',
        "awk '{print $2}' /proc/self/mounts | grep -vE '^/(proc|sys|dev|mnt)(/|$)' | while read -r m; do mount -o remount,bind,ro \"$m\" 2>/dev/null || true; done",
        // -n: /etc is read-only now (no mtab update).
        'mount -n -t tmpfs -o mode=1777 tmpfs /tmp',
        'mkdir -p "$h"',
        'mount -n --move /mnt "$h"',
        'umask 077',
        'exec setpriv --no-new-privs "$@"',
      ].join('\n');
      const service = spawn(
        'unshare',
        ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', home.env['CORA_HOME'] ?? '', ...words],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let log = '';
      service.stderr.on('data', (d: Buffer) => (log += d.toString()));
      try {
        const pass = ['--passphrase-file', home.passFile];
        for (let i = 0; i < 200 && !log.includes('listening on'); i++)
          await new Promise((r) => setTimeout(r, 50));
        expect(log).toContain('listening on');
        expect((await home.cr(['init', ...pass])).code).toBe(0);
        expect((await home.cr(['unlock', ...pass])).code).toBe(0);
        expect(
          (await home.cr(['secrets', 'set', 'TOK', ...pass], { input: 'strict-canary-0123456789' })).code,
        ).toBe(0);
        expect(
          (
            await home.cr([
              'policy',
              'task',
              'add',
              't',
              'TOK',
              '--target',
              '/bin/sh',
              '--allow-interpreter',
              ...pass,
            ])
          ).code,
        ).toBe(0);
        const probe =
          'echo "$TOK"; umask; grep NoNewPrivs /proc/self/status; touch /usr/cora-probe 2>&1 || true';
        const run = await home.cr(['exec', 't', '--', '/bin/sh', '-c', probe]);
        expect(run.code).toBe(0);
        expect(run.stdout).toContain('<concealed:TOK>');
        expect(run.stdout).toContain('0077');
        expect(run.stdout).toMatch(/NoNewPrivs:\s+1/);
        expect(run.stdout).toContain('Read-only file system');
        expect((await home.cr(['stop'])).code).toBe(0);
      } finally {
        service.kill('SIGKILL');
      }
    },
  );

  it.skipIf(!hasCommand('python3'))('should not set MemoryDenyWriteExecute: Node’s JIT dies under it', () => {
    // PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN (1) is what MemoryDenyWriteExecute enforces.
    const mdwe = (flags: string[]): { status: number | null; stdout: string } =>
      spawnSync(
        'python3',
        [
          '-c',
          'import ctypes,os,sys\nif ctypes.CDLL(None).prctl(65,1,0,0,0)!=0: print("unsupported"); sys.exit(0)\nos.execv(sys.argv[1],sys.argv[1:])',
          process.execPath,
          ...flags,
          '-e',
          'console.log("ran")',
        ],
        { encoding: 'utf8' },
      );
    const jit = mdwe([]);
    if (jit.stdout.trim() === 'unsupported') return; // a kernel before 6.3
    expect(jit.status).not.toBe(0);
    expect(mdwe(['--jitless']).stdout.trim()).toBe('ran');
  });
});
