// SPDX-License-Identifier: AGPL-3.0-only
// `cr exec` end to end (issue 4): the real bin/cr against the real detached service, a canary
// secret injected into real children. The child proves it holds the value by printing its
// SHA-256; the caller's bytes must never hold the value or an encoding of it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CANARY_FORM_LABELS,
  canaryForms,
  makeCanary,
  scanProcessMemory,
  waitForLine,
} from '@cora/test-utils';
import {
  CR,
  makeCoraHome,
  requireBuild,
  status,
  withoutInterpreterWarnings,
  type CoraHome,
  type CrResult,
} from './e2e-helpers.ts';

const PASS = 'exec passphrase, long enough';
const asRoot = process.getuid?.() === 0;

/** The tasks the tests run under (architecture §7), added with `cr policy task add`. */
const TASKS: readonly (readonly string[])[] = [
  [
    't',
    'SECRET',
    ...['/bin/sh', '/usr/bin/printenv', '/usr/bin/cat', '/usr/bin/true'].flatMap((p) => ['--target', p]),
    '--env-pass',
    'EXTRA',
    '--allow-interpreter',
  ],
  ['limited', 'SECRET', '--target', '/usr/bin/true', '--max-spawns', '2', '--window-ms', '60000'],
  ['open', 'SECRET', '--target', '/bin/sh', '--output', 'passthrough', '--allow-interpreter'],
];

/** Init, unlock, store the canary as SECRET, add the tasks. */
async function prepare(value: Buffer, passphrase = PASS): Promise<CoraHome> {
  const home = await makeCoraHome(passphrase);
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
  const set = await home.cr(['secrets', 'set', 'SECRET', '--passphrase-file', home.passFile], {
    input: value.toString('latin1'),
  });
  expect(set.stderr).toBe('');
  for (const task of TASKS) {
    const added = await home.cr(['policy', 'task', 'add', ...task, '--passphrase-file', home.passFile]);
    expect(withoutInterpreterWarnings(added.stderr)).toBe('');
    expect(added.code).toBe(0);
  }
  return home;
}

interface ExecRun extends CrResult {
  readonly out: Buffer;
  readonly err: Buffer;
}

/** `cr exec` with raw output bytes; `input` piped to stdin (ended). */
function crExec(home: CoraHome, args: readonly string[], input: string | Buffer = ''): Promise<ExecRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(CR, ['exec', ...args], { env: home.env, cwd: home.dir.path, stdio: 'pipe' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const o = Buffer.concat(out);
      const e = Buffer.concat(err);
      resolve({ code, stdout: o.toString(), stderr: e.toString(), out: o, err: e });
    });
    child.stdin.end(input);
  });
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Which forms of `value` appear in `bytes` (labels), for a readable failure. */
function leaks(bytes: Buffer, value: Buffer): string[] {
  const forms = [...canaryForms(value), Buffer.from(encodeURIComponent(value.toString('latin1')))].map((f) =>
    Buffer.from(f),
  );
  return forms.flatMap((form, i) => (bytes.includes(form) ? [CANARY_FORM_LABELS[i] ?? 'url'] : []));
}

beforeAll(() => {
  requireBuild();
});

describe('cr exec', () => {
  const value = makeCanary();
  let home: CoraHome;

  beforeAll(async () => {
    home = await prepare(value);
  }, 60_000);
  afterAll(async () => {
    await home.stopService();
    await home.dir.remove();
  });

  it('should give the child the value, which it proves by its hash', async () => {
    const run = await crExec(home, ['t', '--', 'sh', '-c', 'printf %s "$SECRET" | sha256sum']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${sha256(value)}  -\n`);
  });

  it.each([
    ['printenv', ['printenv', 'SECRET']],
    ['/proc/self/environ', ['cat', '/proc/self/environ']],
    ['base64', ['sh', '-c', 'printf %s "$SECRET" | base64']],
    ['hex (xxd)', ['sh', '-c', 'printf %s "$SECRET" | xxd -p -c 256']],
    ['hex (od)', ['sh', '-c', 'printf %s "$SECRET" | od -An -tx1 -v | tr -d " \\n"']],
    ['on stderr', ['sh', '-c', 'printf "%s\\n" "$SECRET" >&2']],
    [
      'split across writes',
      [
        'sh',
        '-c',
        'n=${#SECRET}; h=$((n/2)); printf %s "$(printf %s "$SECRET" | cut -c1-$h)"; sleep 0.05; printf %s "$(printf %s "$SECRET" | cut -c$((h+1))-)"',
      ],
    ],
  ])('should never show the value to the caller: %s', async (_label, argv) => {
    const run = await crExec(home, ['t', '--', ...argv]);
    expect(run.code).toBe(0);
    const both = Buffer.concat([run.out, run.err]);
    expect(leaks(both, value)).toEqual([]);
    expect(both.toString()).toContain('<concealed:SECRET>');
  });

  it('should pass env_pass variables and the base environment, and nothing else of the caller', async () => {
    const run = await crExec(home, ['t', '--', 'sh', '-c', 'echo "$EXTRA|${HOME:+home}|${NOPE:-unset}"']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('|home|unset\n');
  });

  it('should run in the caller cwd and exit with the child code', async () => {
    const run = await crExec(home, ['t', '--', 'sh', '-c', 'pwd; exit 42']);
    expect(run.stdout).toBe(`${home.dir.path}\n`);
    expect(run.code).toBe(42);
  });

  it('should exit with 128 + the signal number when the child is killed', async () => {
    const run = await crExec(home, ['t', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(run.code).toBe(143);
  });

  it('should forward SIGINT to the child', async () => {
    const child = spawn(
      CR,
      [
        'exec',
        't',
        '--',
        'sh',
        '-c',
        'trap "echo got; exit 7" INT; echo ready; while :; do sleep 0.05; done',
      ],
      { env: home.env, cwd: home.dir.path, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    try {
      await waitForLine(child.stdout, (line) => line === 'ready');
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      child.kill('SIGINT');
      expect(await closed).toBe(7);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('should pipe stdin to the child, 1 MiB included', async () => {
    const small = await crExec(home, ['t', '--', 'cat'], 'hello\n');
    expect(small.stdout).toBe('hello\n');
    const big = Buffer.alloc(1 << 20, 'abcdefghij');
    const run = await crExec(home, ['t', '--', 'sh', '-c', 'sha256sum'], big);
    expect(run.stdout).toBe(`${sha256(big)}  -\n`);
  });

  it('should not wait for a grandchild left running, and kill it', async () => {
    const started = Date.now();
    const run = await crExec(home, ['t', '--', 'sh', '-c', 'sleep 30 & echo $!']);
    expect(run.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const pid = Number(run.stdout.trim());
    let state = 'gone';
    try {
      state = readFileSync(`/proc/${String(pid)}/stat`, 'latin1').split(') ')[1]?.[0] ?? 'gone';
    } catch {
      // gone
    }
    expect(['gone', 'Z']).toContain(state);
  });

  it('should finish when the child closes stdout early', async () => {
    const run = await crExec(home, ['t', '--', 'sh', '-c', 'exec 1>&-; sleep 0.2; echo late >&2; exit 3']);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('late\n');
    expect(run.code).toBe(3);
  });

  it('should pass output through unmasked for an output: passthrough task', async () => {
    const run = await crExec(home, ['open', '--', 'sh', '-c', 'printf %s "$SECRET" | sha256sum']);
    expect(run.stdout).toBe(`${sha256(value)}  -\n`);
  });

  it('should keep cr bounded in memory when its reader stalls on 256 MiB of output', async () => {
    const total = 256 * 1024 * 1024;
    const child = spawn(CR, ['exec', 't', '--', 'sh', '-c', `head -c ${String(total)} /dev/zero`], {
      env: home.env,
      cwd: home.dir.path,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const rss = (): number => {
      const line = readFileSync(`/proc/${String(child.pid)}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('VmRSS:'));
      return Number(line?.split(/\s+/)[1] ?? 'NaN') * 1024;
    };
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Nobody reads for 3 s: without back-pressure cr would buffer the whole stream.
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const stalled = rss();
    let received = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    child.stdout.resume();
    expect(await closed).toBe(0);
    expect(received).toBe(total);
    expect(stalled).toBeLessThan(160 * 1024 * 1024);
  }, 60_000);

  it('should run 100 execs concurrently', async () => {
    const runs = await Promise.all(
      Array.from({ length: 100 }, (_, i) => crExec(home, ['t', '--', 'sh', '-c', `echo ${String(i)}`])),
    );
    runs.forEach((run, i) => {
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe(`${String(i)}\n`);
      expect(run.code).toBe(0);
    });
  }, 60_000);

  it('should refuse a target the task does not list, naming the resolved path', async () => {
    const run = await crExec(home, ['t', '--', 'ls']);
    expect(run.code).toBe(9);
    expect(run.stderr).toContain('/usr/bin/ls');
    expect(run.stderr).toContain('cr policy');
  });

  it('should refuse a target swapped for a symlink after the policy was written', async () => {
    const tools = join(home.dir.path, 'tools');
    mkdirSync(tools, { mode: 0o700 });
    const tool = join(tools, 'tool');
    copyFileSync('/usr/bin/true', tool);
    chmodSync(tool, 0o755);
    const added = await home.cr([
      'policy',
      'task',
      'add',
      'swap',
      'SECRET',
      '--target',
      tool,
      '--passphrase-file',
      home.passFile,
    ]);
    expect(added.code).toBe(0);
    expect((await crExec(home, ['swap', '--', tool])).code).toBe(0);
    // The path now leads somewhere else: the stored realpath no longer matches.
    unlinkSync(tool);
    symlinkSync('/usr/bin/printenv', tool);
    const swapped = await crExec(home, ['swap', '--', tool, 'SECRET']);
    expect(swapped.code).toBe(9);
    expect(swapped.stderr).toContain('/usr/bin/printenv');
    expect(leaks(swapped.out, value)).toEqual([]);
    expect(swapped.out.length).toBe(0);
  });

  it('should refuse an unknown task and a missing command with exit 5', async () => {
    const unknown = await crExec(home, ['nope', '--', 'true']);
    expect(unknown.code).toBe(5);
    expect(unknown.stderr).toContain('nope');
    const missing = await crExec(home, ['t', '--', 'no-such-command-xyz']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain('command not found');
  });

  it('should refuse past max_spawns in the window with exit 11', async () => {
    expect((await crExec(home, ['limited', '--', 'true'])).code).toBe(0);
    expect((await crExec(home, ['limited', '--', 'true'])).code).toBe(0);
    const third = await crExec(home, ['limited', '--', 'true']);
    expect(third.code).toBe(11);
    expect(third.stderr).toMatch(/cr: /);
  });

  it('should refuse while locked, telling to run cr unlock', async () => {
    expect((await home.cr(['lock'])).code).toBe(0);
    const run = await crExec(home, ['t', '--', 'true']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('cr unlock');
  });
});

describe.runIf(asRoot)('cr exec memory residue (G3, root only)', () => {
  it('should leave no copy of the value or the passphrase in the service after lock', async () => {
    const value = makeCanary();
    const passphrase = makeCanary();
    const home = await prepare(value, passphrase.toString('latin1'));
    try {
      const run = await crExec(home, [
        't',
        '--',
        'sh',
        '-c',
        'printf %s "$SECRET" | sha256sum; printenv SECRET',
      ]);
      expect(run.stdout).toContain(sha256(value));
      const { pid } = await status(home);
      expect((await home.cr(['lock'])).code).toBe(0);
      const forms = [...canaryForms(value), ...canaryForms(passphrase)];
      const hits = await scanProcessMemory(pid ?? 0, forms);
      expect(hits.map((h) => `${CANARY_FORM_LABELS[h.needleIndex % 9] ?? '?'} in ${h.region.path}`)).toEqual(
        [],
      );
    } finally {
      await home.stopService();
      await home.dir.remove();
    }
  }, 60_000);
});
