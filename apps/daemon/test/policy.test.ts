// SPDX-License-Identifier: AGPL-3.0-only
// `cr policy …` end to end: the real bin/cr (built dist/cli.js) against the real service, in a
// private temp home, and a foreign client (python3) gated by the policy (architecture §7).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readVault } from '@cora/crypto-format';
import { wipeSecretsBlock } from '@cora/memstore';
import { status, useCoraHomes, type CoraHome } from './e2e-helpers.ts';
import { secret } from './helpers.ts';

const PASS = 'policy passphrase, long enough';
const newHome = useCoraHomes(PASS);

async function unlockedHome(): Promise<CoraHome> {
  const home = await newHome();
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  const unlock = await home.cr(['unlock', '--passphrase-file', home.passFile]);
  expect(unlock.code).toBe(0);
  return home;
}

async function showJson(home: CoraHome): Promise<Record<string, unknown>> {
  const show = await home.cr(['policy', 'show', '--json']);
  expect(show.stderr).toBe('');
  expect(show.code).toBe(0);
  return JSON.parse(show.stdout) as Record<string, unknown>;
}

/** The vault's JSON section as written on disk. */
async function storedSection(home: CoraHome): Promise<Record<string, unknown>> {
  const p = secret(PASS);
  try {
    const block = await readVault(join(home.env['CORA_HOME']!, 'vault.cora'), p);
    try {
      return JSON.parse(Buffer.from(block.json).toString('utf8')) as Record<string, unknown>;
    } finally {
      wipeSecretsBlock(block);
    }
  } finally {
    p.wipe();
  }
}

/** The first executable `name` on PATH, as written (not realpath'd), like the CLI looks it up. */
function onPath(name: string): string {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // next
    }
  }
  throw new Error(`${name} is not on PATH`);
}

const which = (name: string): string => realpathSync(onPath(name));

/**
 * A python3 client speaking the frame protocol (architecture §5): hello, then one request per
 * argument, printing every reply header. Connection-level refusals print as they come.
 */
const PY_CLIENT = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
def send(h):
    b = json.dumps(h).encode()
    s.sendall(struct.pack('>II', 4 + len(b), len(b)) + b)
def recv():
    head = b''
    while len(head) < 8:
        c = s.recv(8 - len(head))
        if not c: return None
        head += c
    n, hl = struct.unpack('>II', head)
    body = b''
    while len(body) < n - 4:
        c = s.recv(n - 4 - len(body))
        if not c: return None
        body += c
    return body[:hl].decode()
try:
    send({'id': 1, 'type': 'hello', 'protocol': 1, 'client': 'py'})
    print(recv(), flush=True)
    for i, t in enumerate(sys.argv[2:]):
        send({'id': i + 2, 'type': t})
        print(recv(), flush=True)
except OSError as e:
    print('OSERROR', e)
`;

function pyClient(home: CoraHome, script: string, socket: string, types: string[]): string {
  const py = spawnSync('python3', [script, socket, ...types], { encoding: 'utf8', cwd: home.dir.path });
  return py.stdout;
}

describe('cr policy (e2e)', () => {
  it('should show the empty policy of a fresh vault, and refuse while locked', async () => {
    const home = await unlockedHome();
    expect(await showJson(home)).toEqual({ version: 1, callers: [], tasks: {} });
    const human = await home.cr(['policy', 'show']);
    expect(human.stdout).toContain('(none)');
    expect((await home.cr(['lock'])).code).toBe(0);
    const locked = await home.cr(['policy', 'show']);
    expect(locked.code).toBe(3);
    expect(locked.stderr).toMatch(/locked.*cr unlock/);
  });

  it('should allow and deny a caller, with a pin, and store it in the vault beside meta', async () => {
    const home = await unlockedHome();
    const env = which('env');
    const allow = await home.cr(['policy', 'allow', 'env', '--pin', '--passphrase-file', home.passFile]);
    expect(allow.stderr).toBe('');
    expect(allow.code).toBe(0);
    const sha = createHash('sha256').update(readFileSync(env)).digest('hex');
    expect((await showJson(home))['callers']).toEqual([{ exe: env, sha256: sha }]);
    const section = await storedSection(home);
    expect(section['policy']).toMatchObject({ callers: [{ exe: env, sha256: sha }] });
    expect(section['meta']).toMatchObject({ by: expect.stringMatching(/^cr /) as unknown });
    const deny = await home.cr(['policy', 'deny', env, '--passphrase-file', home.passFile]);
    expect(deny.code).toBe(0);
    expect((await showJson(home))['callers']).toEqual([]);
    const again = await home.cr(['policy', 'deny', env, '--passphrase-file', home.passFile]);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain(env);
  });

  it('should add and remove a task bound to a target and a via, effective without lock/unlock', async () => {
    const home = await unlockedHome();
    const sh = which('sh');
    const add = await home.cr([
      'policy',
      'task',
      'add',
      'web',
      '--target',
      'true',
      '--via',
      sh,
      '--max-spawns',
      '3',
      '--window-ms',
      '60000',
      '--ttl',
      '8h',
      '--env-pass',
      'HTTPS_PROXY',
      '--approve',
      'never',
      'TOKEN',
      'OTHER',
      // The secrets come later: this test is about the task's fields.
      '--allow-missing-secret',
      '--passphrase-file',
      home.passFile,
    ]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const trueAbs = onPath('true');
    expect((await showJson(home))['tasks']).toEqual({
      web: {
        secrets: ['TOKEN', 'OTHER'],
        targets: [trueAbs],
        via: [sh],
        approve: 'never',
        max_spawns: 3,
        window_ms: 60000,
        ttl: '8h',
        env_pass: ['HTTPS_PROXY'],
        output: 'masked',
      },
    });
    const dup = await home.cr([
      'policy',
      'task',
      'add',
      'web',
      '--target',
      'true',
      'TOKEN',
      '--passphrase-file',
      home.passFile,
    ]);
    expect(dup.code).toBe(7);
    expect(dup.stderr).toMatch(/task web exists/);
    const remove = await home.cr(['policy', 'task', 'remove', 'web', '--passphrase-file', home.passFile]);
    expect(remove.code).toBe(0);
    expect((await showJson(home))['tasks']).toEqual({});
    const missing = await home.cr(['policy', 'task', 'remove', 'web', '--passphrase-file', home.passFile]);
    expect(missing.code).toBe(5);
  });

  it('should change nothing on a wrong passphrase', async () => {
    const home = await unlockedHome();
    const wrong = home.writePassFile('wrong', 'not the passphrase\n');
    const result = await home.cr([
      'policy',
      'task',
      'add',
      't',
      '--target',
      'true',
      'A',
      '--passphrase-file',
      wrong,
    ]);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/wrong passphrase.*nothing was changed/);
    expect(await showJson(home)).toEqual({ version: 1, callers: [], tasks: {} });
    expect((await storedSection(home))['policy']).toEqual({});
  });

  it('should name the offending field of invalid input', async () => {
    const home = await unlockedHome();
    const rate = await home.cr([
      'policy',
      'task',
      'add',
      'web',
      '--target',
      'true',
      '--max-spawns',
      '0',
      '--window-ms',
      '100',
      'TOKEN',
      '--passphrase-file',
      home.passFile,
    ]);
    expect(rate.code).toBe(7);
    expect(rate.stderr).toMatch(/tasks\.web\.max_spawns/);
    const name = await home.cr([
      'policy',
      'task',
      'add',
      'web',
      '--target',
      'true',
      'BAD-NAME',
      '--passphrase-file',
      home.passFile,
    ]);
    expect(name.code).toBe(7);
    expect(name.stderr).toMatch(/tasks\.web\.secrets/);
    const ttl = await home.cr([
      'policy',
      'task',
      'add',
      'web',
      '--target',
      'true',
      '--ttl',
      'soon',
      'A',
      '--passphrase-file',
      home.passFile,
    ]);
    expect(ttl.code).toBe(7);
    expect(ttl.stderr).toMatch(/tasks\.web\.ttl/);
    const interp = await home.cr(['policy', 'allow', 'python3', '--passphrase-file', home.passFile]);
    expect(interp.code).toBe(7);
    expect(interp.stderr).toMatch(/interpreter/);
    const target = await home.cr([
      'policy',
      'task',
      'add',
      'web',
      '--target',
      'no-such-cmd-xyz',
      'A',
      '--passphrase-file',
      home.passFile,
    ]);
    expect(target.code).toBe(5);
    expect(target.stderr).toMatch(/--target no-such-cmd-xyz/);
  });

  it('should explain why: unknown task, target not allowed with the resolved path, via, allow', async () => {
    const home = await unlockedHome();
    const unknown = await home.cr(['policy', 'explain', 'nope', '--', 'true']);
    expect(unknown.code).toBe(9);
    expect(unknown.stdout).toMatch(/✗ task: there is no task "nope"/);
    expect(unknown.stdout).toContain('→ deny (UNKNOWN_TASK)');
    // explain also checks that the vault holds the task's secrets (policy-checks.test.ts).
    expect(
      (await home.cr(['secrets', 'set', 'A', '--passphrase-file', home.passFile], { input: 'a' })).code,
    ).toBe(0);
    expect(
      (
        await home.cr([
          'policy',
          'task',
          'add',
          'web',
          '--target',
          'true',
          'A',
          '--passphrase-file',
          home.passFile,
        ])
      ).code,
    ).toBe(0);
    const falseReal = which('false');
    const wrongTarget = await home.cr(['policy', 'explain', 'web', '--', 'false']);
    expect(wrongTarget.code).toBe(9);
    expect(wrongTarget.stdout).toContain(`false resolves to ${falseReal}, which task web does not allow`);
    expect(wrongTarget.stdout).toContain('(TARGET_NOT_ALLOWED)');
    const ok = await home.cr(['policy', 'explain', 'web', '--', 'true', 'x']);
    expect(ok.stdout).toContain('→ allow (ALLOWED)');
    expect(ok.code).toBe(0);
    const other = await home.cr(['policy', 'explain', '--caller', 'env', 'web', '--', 'true']);
    expect(other.code).toBe(9);
    expect(other.stdout).toContain('(CALLER_NOT_ALLOWED)');
    const json = await home.cr(['policy', 'explain', '--json', 'web', '--', 'no-such-cmd-xyz']);
    expect(JSON.parse(json.stdout)).toMatchObject({ outcome: 'deny', reason: 'TARGET_NOT_FOUND' });
  });

  it('should gate a foreign client (python3) by callers and status_callers, per request, and only the CLI while locked', async () => {
    const home = await unlockedHome();
    const script = join(realpathSync(home.dir.path), 'client.py');
    writeFileSync(script, PY_CLIENT);
    const { socket } = await status(home);
    // The interpreter binary itself (python3 on PATH may be a wrapper script, e.g. pyenv's).
    const python = realpathSync(
      spawnSync('python3', ['-c', 'import os,sys;print(os.path.realpath(sys.executable))'], {
        encoding: 'utf8',
      }).stdout.trim(),
    );

    const refused = pyClient(home, script, socket, ['status']);
    expect(refused).toContain('NOT_ALLOWED');
    const log = (): string => readFileSync(join(home.env['CORA_HOME']!, 'service.log'), 'utf8');
    expect(log()).toMatch(/refused pid \d+ \(.*python.*\): exe; policy: CALLER_NOT_ALLOWED/);

    // The interpreter alone cannot be allowed (architecture §6): the rule must name the script.
    const statusOnly = await home.cr([
      'policy',
      'allow',
      python,
      '--script',
      script,
      '--status',
      '--passphrase-file',
      home.passFile,
    ]);
    expect(statusOnly.stderr).toBe('');
    expect(statusOnly.code).toBe(0);
    const limited = pyClient(home, script, socket, ['status', 'secrets.list']).trim().split('\n');
    expect(limited[1]).toMatch(/"ok":true.*"state":"unlocked"/);
    expect(limited[2]).toMatch(/"ok":false.*NOT_ALLOWED.*not allowed by the policy/);

    // Another script under the same interpreter is still refused.
    const otherScript = join(realpathSync(home.dir.path), 'other.py');
    writeFileSync(otherScript, PY_CLIENT);
    expect(pyClient(home, otherScript, socket, ['status'])).toContain('NOT_ALLOWED');

    expect(
      (await home.cr(['policy', 'allow', python, '--script', script, '--passphrase-file', home.passFile]))
        .code,
    ).toBe(0);
    const full = pyClient(home, script, socket, ['secrets.list']).trim().split('\n');
    expect(full[1]).toMatch(/"ok":true/);

    // Locked: the policy is unknown, so only the CLI gets in.
    expect((await home.cr(['lock'])).code).toBe(0);
    expect(pyClient(home, script, socket, ['status'])).toContain('NOT_ALLOWED');
    expect(log()).toMatch(/python[^\n]*: exe; policy: LOCKED/);
    expect((await status(home)).state).toBe('locked');
  });
});
