// SPDX-License-Identifier: AGPL-3.0-only
// `cr agent` against a real service, a real child holding a canary and the real kernel (issue 13
// item 1, architecture §13). The agent side runs as nobody (setpriv): root inside Landlock can
// still read another process's /proc/<pid>/environ (SECURITY.md "Inside cr agent").
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landlockAbi } from '@cora/sandbox';
import { makeTempDir, NOBODY_UID, unprivilegedCanRun, type TempDir } from '@cora/test-utils';
import { CR, makeCoraHome, requireBuild, type CoraHome } from './e2e-helpers.ts';
import { APP_DIR } from './helpers.ts';

const PASS = 'agent-test-passphrase';
const CANARY = 'CANARY-agent-9f3c1e77d2';
/** A sleep the test can find in /proc by its argument. */
const HOLD_ARG = '47.25';

const canRun =
  process.platform === 'linux' &&
  landlockAbi() >= 6 &&
  unprivilegedCanRun([join(APP_DIR, 'dist', 'service-main.js'), join(APP_DIR, 'dist', 'cli.js'), CR]);

/**
 * Every route the agent is tried on, one shell line each: prints `NAME=yes` when the route
 * worked. `$1` is the service's pid, `$2` the canary child's pid.
 */
const ATTACKS = `
cat "$CORA_HOME/vault.cora" >/dev/null 2>&1 && echo read-vault=yes
cat "$CORA_HOME/audit.jsonl" >/dev/null 2>&1 && echo read-audit=yes
cat "$CORA_HOME/service.log" >/dev/null 2>&1 && echo read-service-log=yes
touch "$CORA_HOME/run/fake.sock" 2>/dev/null && echo create-in-run=yes
rm -f "$CORA_HOME/run/decoy" 2>/dev/null && [ ! -e "$CORA_HOME/run/decoy" ] && echo remove-in-run=yes
kill -0 "$1" 2>/dev/null && echo signal-service=yes
kill -0 "$2" 2>/dev/null && echo signal-child=yes
grep -c "${CANARY}" "/proc/$2/environ" 2>/dev/null | grep -q '^[1-9]' && echo read-child-environ=yes
{ echo 'output = /tmp/stolen' >> "$HOME/.curlrc"; } 2>/dev/null && echo write-curlrc=yes
{ echo 'env > /tmp/stolen' >> "$TMPDIR/bin/tool"; } 2>/dev/null && echo rewrite-target=yes
mv "$TMPDIR/bin/tool" "$TMPDIR/bin/tool.old" 2>/dev/null && echo move-target=yes && mv "$TMPDIR/bin/tool.old" "$TMPDIR/bin/tool"
mv "$TMPDIR/bin" "$TMPDIR/bin.old" 2>/dev/null && echo move-target-dir=yes && mv "$TMPDIR/bin.old" "$TMPDIR/bin"
cat README >/dev/null 2>&1 && echo read-project=yes
{ echo x > agent-made; } 2>/dev/null && echo write-cwd=yes
{ echo x > "$TMPDIR/work/agent-made"; } 2>/dev/null && echo write-tmp=yes
"$CR" status >/dev/null 2>&1 && echo cr-status=yes
"$CR" exec show -- /bin/echo exec-ran 2>/dev/null | grep -q exec-ran && echo cr-exec=yes
`;

describe.runIf(canRun)('cr agent (real kernel, real service, as nobody)', () => {
  let home: CoraHome;
  let tmp: TempDir;
  let project: string;
  let servicePid: number;
  let holder: ChildProcess | undefined;
  let holdPid: number;

  const asNobody = (
    argv: readonly string[],
    cwd: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const env = { ...home.env, CR, TMPDIR: tmp.path };
      const child = spawn(
        'setpriv',
        [`--reuid=${String(NOBODY_UID)}`, `--regid=${String(NOBODY_UID)}`, '--clear-groups', ...argv],
        { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        resolve({ code, stdout, stderr });
      });
    });

  /** Run the attack script, inside `cr agent` or not, and return the routes that worked. */
  const attack = async (inside: boolean): Promise<string[]> => {
    writeFileSync(join(home.env['CORA_HOME'] ?? '', 'run', 'decoy'), '');
    chownSync(join(home.env['CORA_HOME'] ?? '', 'run', 'decoy'), NOBODY_UID, NOBODY_UID);
    const script = ['/bin/sh', '-c', ATTACKS, 'attacks', String(servicePid), String(holdPid)];
    const result = await asNobody(inside ? [CR, 'agent', '--', ...script] : script, project);
    expect(result.stderr).toBe('');
    return result.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.replace(/=yes$/, ''))
      .sort();
  };

  beforeAll(async () => {
    requireBuild();
    home = await makeCoraHome(PASS, NOBODY_UID);
    tmp = await makeTempDir('cora-agent-tmp-');
    chownSync(tmp.path, NOBODY_UID, NOBODY_UID);
    project = join(home.dir.path, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'README'), 'the project\n');
    chownSync(project, NOBODY_UID, NOBODY_UID);
    chownSync(join(project, 'README'), NOBODY_UID, NOBODY_UID);
    // A task target the agent could rewrite: in a temp directory, owned by the same user. (A
    // directory on the way to a protected path gets no new files inside: work/ is a sibling.)
    const toolFile = join(tmp.path, 'bin', 'tool');
    for (const dir of ['bin', 'work']) {
      mkdirSync(join(tmp.path, dir));
      chownSync(join(tmp.path, dir), NOBODY_UID, NOBODY_UID);
    }
    writeFileSync(toolFile, '#!/bin/sh\necho tool-ran\n', { mode: 0o755 });
    chownSync(toolFile, NOBODY_UID, NOBODY_UID);
    const as = { asUid: NOBODY_UID };
    expect((await home.cr(['init', '--passphrase-file', home.passFile], as)).code).toBe(0);
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile], as)).code).toBe(0);
    const set = await home.cr(['secrets', 'set', 'CANARY', '--passphrase-file', home.passFile], {
      ...as,
      input: CANARY,
    });
    expect(set.code).toBe(0);
    for (const task of [
      ['hold', 'CANARY', '--target', '/usr/bin/sleep'],
      ['show', 'CANARY', '--target', '/bin/echo'],
    ]) {
      const added = await home.cr(['policy', 'task', 'add', ...task, '--passphrase-file', home.passFile], as);
      expect(added.stderr).toBe('');
    }
    const tool = await home.cr(
      ['policy', 'task', 'add', 'tool', 'CANARY', '--target', toolFile, '--passphrase-file', home.passFile],
      as,
    );
    expect(tool.code).toBe(0);
    const status = await home.cr(['status', '--json'], as);
    servicePid = (JSON.parse(status.stdout) as { pid: number }).pid;
    // A child the service spawned, holding the canary in its environment, kept alive.
    holder = spawn(
      'setpriv',
      [
        `--reuid=${String(NOBODY_UID)}`,
        `--regid=${String(NOBODY_UID)}`,
        '--clear-groups',
        CR,
        'exec',
        'hold',
        '--',
        'sleep',
        HOLD_ARG,
      ],
      { env: home.env, cwd: project, stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    holdPid = 0;
    while (holdPid === 0 && Date.now() < deadline) {
      for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'latin1') === `sleep\0${HOLD_ARG}\0`)
            holdPid = Number(pid);
        } catch {
          // gone
        }
      }
      if (holdPid === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(holdPid).toBeGreaterThan(0);
    expect(readFileSync(`/proc/${String(holdPid)}/environ`, 'latin1')).toContain(CANARY);
  }, 60_000);

  afterAll(async () => {
    holder?.kill('SIGTERM');
    await home.stopService();
    await home.dir.remove();
    await tmp.remove();
  });

  it('should close every route inside cr agent and keep the agent working', async () => {
    expect(await attack(true)).toEqual(['cr-exec', 'cr-status', 'read-project', 'write-cwd', 'write-tmp']);
  }, 60_000);

  it('should leave every route open outside cr agent (the same attacks, so the test can fail)', async () => {
    expect(await attack(false)).toEqual([
      'cr-exec',
      'cr-status',
      'create-in-run',
      'move-target',
      'move-target-dir',
      'read-audit',
      'read-child-environ',
      'read-project',
      'read-service-log',
      'read-vault',
      'remove-in-run',
      'rewrite-target',
      'signal-child',
      'signal-service',
      'write-curlrc',
      'write-cwd',
      'write-tmp',
    ]);
  }, 60_000);

  it('should refuse an unknown profile (exit 2) and a missing command (exit 5), running nothing', async () => {
    const profile = await asNobody([CR, 'agent', '--profile', 'nope', '--', '/bin/true'], project);
    expect(profile).toMatchObject({ code: 2, stdout: '' });
    expect(profile.stderr).toContain("unknown profile 'nope'");
    const missing = await asNobody([CR, 'agent', '--', 'no-such-agent-cmd'], project);
    expect(missing.code).toBe(5);
  });

  it('should pass the environment minus runtime hooks, with CORA_AGENT=1', async () => {
    const result = await asNobody(
      [
        'env',
        'NODE_OPTIONS=--no-warnings',
        'LD_PRELOAD=libc.so.6',
        'KEEP_ME=1',
        CR,
        'agent',
        '--',
        '/usr/bin/env',
      ],
      project,
    );
    expect(result.stdout).toContain('KEEP_ME=1\n');
    expect(result.stdout).toContain('CORA_AGENT=1\n');
    expect(result.stdout).not.toContain('NODE_OPTIONS');
    expect(result.stdout).not.toContain('LD_PRELOAD');
  });
});
