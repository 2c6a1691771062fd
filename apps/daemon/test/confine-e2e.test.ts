// SPDX-License-Identifier: AGPL-3.0-only
// A task's confinement of its child end to end (issue 13 item 2, issue 12 "clean HOME"): the
// real bin/cr, the real service, real children on the real kernel. `cr policy task add`
// refuses bad values; the child writes, connects and reads HOME only as the task says; a
// setsid grandchild holding the canary is gone after `cr lock`.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landlockAbi } from '@cora/sandbox';
import { makeCanary } from '@cora/test-utils';
import { CR, useCoraHomes, withTask, withoutInterpreterWarnings, type CoraHome } from './e2e-helpers.ts';

const PASS = 'confine passphrase, long enough';
const usable = process.platform === 'linux' && landlockAbi() >= 4;
const newHome = useCoraHomes(PASS);

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

describe.runIf(usable)('a confined task through cr exec', () => {
  const servers: Server[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const server = createServer((socket) => socket.end('hello\n'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      ports.push(address.port);
      servers.push(server);
    }
  });
  afterAll(() => {
    for (const server of servers) server.close();
  });

  /** A home with task `c` (sh, `extra` confinement flags) holding the canary as TOKEN. */
  async function confined(canary: Buffer, extra: readonly string[], given?: CoraHome): Promise<CoraHome> {
    const home = given ?? (await newHome());
    const add = await withTask(home, {
      secret: 'TOKEN',
      value: canary.toString('latin1'),
      task: 'c',
      args: ['--target', '/bin/sh', '--target', process.execPath, '--allow-interpreter', ...extra],
    });
    expect(withoutInterpreterWarnings(add.stderr)).toBe('');
    expect(add.code).toBe(0);
    return home;
  }

  it('should confine writes, TCP and HOME as the task says, and show it', async () => {
    const canary = makeCanary();
    const fresh = await newHome();
    const out = join(fresh.dir.path, 'out');
    const elsewhere = join(fresh.dir.path, 'elsewhere');
    mkdirSync(out);
    mkdirSync(elsewhere);
    const [allowed, other] = ports as [number, number];
    const flags = ['--clean-home', '--write', out, '--connect', String(allowed)];
    const home = await confined(canary, flags, fresh);
    // The agent planted a ~/.curlrc in the caller's HOME.
    writeFileSync(join(home.dir.path, '.curlrc'), 'output = /tmp/stolen\n');

    const shown = await home.cr(['policy', 'show']);
    expect(shown.stdout).toContain('child: clean HOME');
    expect(shown.stdout).toContain(`child: writes only in ${out}`);
    expect(shown.stdout).toContain(`child: connects only to TCP ports ${String(allowed)}`);
    const explained = await home.cr(['policy', 'explain', 'c', '--', '/bin/sh']);
    expect(explained.stdout).toMatch(/✓ confine: the child is confined: clean HOME/);

    const writes = await home.cr([
      'exec',
      'c',
      '--',
      'sh',
      '-c',
      `echo ok > ${out}/a; echo no > ${elsewhere}/b; cat "$HOME/.curlrc"; echo "home=$HOME"`,
    ]);
    expect(readFileSync(join(out, 'a'), 'utf8')).toBe('ok\n');
    expect(existsSync(join(elsewhere, 'b'))).toBe(false);
    expect(writes.stderr).toMatch(/Permission denied/);
    expect(writes.stderr).toMatch(/\.curlrc: No such file/);
    expect(writes.stdout).not.toContain(home.dir.path + '\n');
    expect(writes.stdout).toMatch(/home=\S+\/child-home-/);

    const client = join(out, 'client.cjs');
    writeFileSync(
      client,
      [
        "const net = require('node:net');",
        'for (const port of process.argv.slice(2)) {',
        "  const s = net.connect(Number(port), '127.0.0.1');",
        "  s.on('data', () => { console.log(`${port} ok`); s.destroy(); });",
        "  s.on('error', (e) => console.log(`${port} ${e.code}`));",
        '}',
      ].join('\n'),
    );
    const net = await home.cr(['exec', 'c', '--', process.execPath, client, String(allowed), String(other)]);
    expect(net.stdout.split('\n').sort()).toEqual(
      ['', `${String(allowed)} ok`, `${String(other)} EACCES`].sort(),
    );
  });

  it('should kill at cr lock a setsid grandchild that holds the secret', async () => {
    const canary = makeCanary();
    const home = await confined(canary, []);
    const run = await home.cr([
      'exec',
      'c',
      '--',
      'sh',
      '-c',
      "setsid sh -c 'echo $$; exec sleep 120 >/dev/null 2>&1' </dev/null & sleep 0.3",
    ]);
    expect(run.code).toBe(0);
    const pid = Number(run.stdout.trim());
    expect(Number.isInteger(pid) && pid > 0).toBe(true);
    // It left the session and its parent is gone, and it still holds the value.
    expect(readFileSync(`/proc/${String(pid)}/environ`).includes(canary)).toBe(true);
    expect((await home.cr(['lock'])).code).toBe(0);
    expect(await until(() => !existsSync(`/proc/${String(pid)}`))).toBe(true);
  });

  it('should end what the child left behind at its exit with --kill-detached', async () => {
    const home = await confined(makeCanary(), ['--kill-detached']);
    const run = await home.cr([
      'exec',
      'c',
      '--',
      'sh',
      '-c',
      "setsid sh -c 'echo $$; exec sleep 120 >/dev/null 2>&1' </dev/null & sleep 0.3",
    ]);
    const pid = Number(run.stdout.trim());
    expect(await until(() => !existsSync(`/proc/${String(pid)}`))).toBe(true);
  });

  it('should show the approver how the child is confined, without the HOME files it cannot see', async () => {
    const home = await confined(makeCanary(), ['--clean-home', '--write-nowhere', '--approve', 'once']);
    writeFileSync(join(home.dir.path, '.curlrc'), 'output = /tmp/stolen\n');
    const judge = spawn(CR, ['approve', '--passphrase-fd', '3'], {
      env: home.env,
      cwd: home.dir.path,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    judge.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    (judge.stdio[3] as NodeJS.WritableStream).end(`${PASS}\n`);
    try {
      expect(await until(() => screen.includes('Approver ready'), 15_000)).toBe(true);
      // Run by a shell, so the approver (a child of this test) is not the caller's ancestor.
      const asking = spawn('/bin/sh', ['-c', `"${CR}" exec c -- sh -c 'echo ran'`], {
        env: home.env,
        cwd: home.dir.path,
        stdio: 'ignore',
      });
      expect(await until(() => /Request \d+/.test(screen), 15_000)).toBe(true);
      asking.kill('SIGKILL');
      expect(screen, screen).toMatch(/^\s*child\s+clean HOME: a fresh empty private directory/m);
      expect(screen).toMatch(/^\s*child\s+writes nowhere/m);
      // The child gets the clean HOME, not the caller's.
      expect(screen).not.toMatch(/^\s*env\s+HOME=/m);
      expect(screen).not.toContain('~/.curlrc');
    } finally {
      judge.kill('SIGKILL');
    }
  });

  it('should refuse garbage confinement values with clear errors', async () => {
    const home = await newHome();
    const pass = ['--passphrase-file', home.passFile];
    expect((await home.cr(['init', ...pass])).code).toBe(0);
    expect((await home.cr(['unlock', ...pass])).code).toBe(0);
    expect((await home.cr(['secrets', 'set', 'TOKEN', ...pass], { input: 'a-value-0123456789' })).code).toBe(
      0,
    );
    const add = (...flags: string[]) =>
      home.cr(['policy', 'task', 'add', 'bad', 'TOKEN', '--target', '/usr/bin/true', ...flags, ...pass]);
    const cases: [string[], number, RegExp][] = [
      [['--write', 'relative/dir'], 2, /--write relative\/dir: give an absolute path/],
      [['--write', '/nonexistent/cora-dir'], 5, /--write \/nonexistent\/cora-dir: no such directory/],
      [['--write', '/etc/hostname'], 2, /not a directory/],
      [['--write', '/'], 2, /every directory/],
      [['--connect', '0'], 2, /--connect must be a TCP port from 1 to 65535, got '0'/],
      [['--connect', '70000'], 2, /got '70000'/],
      [['--connect', '44x'], 2, /got '44x'/],
      [['--write', '/tmp', '--write-nowhere'], 2, /exclude each other/],
      [['--connect', '443', '--connect-nowhere'], 2, /exclude each other/],
    ];
    for (const [flags, code, message] of cases) {
      const result = await add(...flags);
      expect(result.stderr, flags.join(' ')).toMatch(message);
      expect(result.code, flags.join(' ')).toBe(code);
    }
    expect((await home.cr(['policy', 'show'])).stdout).not.toContain('bad');
  });

  it('should keep a task editable: add and clear each confinement field', async () => {
    const home = await confined(makeCanary(), []);
    const pass = ['--passphrase-file', home.passFile];
    const edit = await home.cr([
      'policy',
      'task',
      'edit',
      'c',
      '--clean-home',
      '--write-nowhere',
      '--connect-nowhere',
      '--kill-detached',
      ...pass,
    ]);
    expect(edit.code).toBe(0);
    const json = JSON.parse((await home.cr(['policy', 'show', '--json'])).stdout) as {
      tasks: Record<string, Record<string, unknown>>;
    };
    expect(json.tasks['c']).toMatchObject({ home: 'clean', write: [], connect: [], detached: 'kill' });
    const cleared = await home.cr([
      'policy',
      'task',
      'edit',
      'c',
      ...['home', 'write', 'connect', 'detached'].flatMap((f) => ['--clear', f]),
      ...pass,
    ]);
    expect(cleared.code).toBe(0);
    const after = JSON.parse((await home.cr(['policy', 'show', '--json'])).stdout) as {
      tasks: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(after.tasks['c'] ?? {})).not.toContain('home');
    expect(Object.keys(after.tasks['c'] ?? {})).not.toContain('write');
  });
});
