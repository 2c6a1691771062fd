// SPDX-License-Identifier: AGPL-3.0-only
// End to end: `cr tui` (the built bin/cr) in a real terminal — a private tmux server driven
// with send-keys and read with capture-pane — against the real service in a temp home
// (issue 6). Slow by nature (Argon2id, the service start), hence the long timeouts.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  makeCoraHome,
  CR,
  requireBuild,
  status,
  withoutInterpreterWarnings,
  type CoraHome,
} from './e2e-helpers.ts';
import { hasTmux, tmuxServer, waitFor, type Pane } from './tmux.ts';

const PASS = 'tui e2e passphrase, long enough';
const CANARY = 'CORACANARY_tui_e2e_5f0c9a1d';
/** One tmux server per run, on its own socket, killed in afterAll. */
const server = tmuxServer('cora-tui-e2e');
const SLOW = 60_000;

const homes: CoraHome[] = [];

/** A terminal running `cr tui` with `home`'s environment; the shell stays after it exits. */
function openTui(home: CoraHome, env: NodeJS.ProcessEnv = home.env): Pane {
  return server.open(home, `'${CR}' tui; echo TUI-EXIT=$?; sleep 3600`, { env });
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `sh -c 'exec cr exec T -- …'` as a child of the test: its ancestry (test → vitest) does not
 * contain the TUI, which runs under the tmux server, so this is not a self-approval.
 */
function requester(home: CoraHome, script: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `exec '${CR}' exec T -- /bin/sh -c '${script}'`], {
      env: home.env,
      cwd: home.dir.path,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  if (hasTmux) requireBuild();
});
afterEach(async () => {
  for (const home of homes.splice(0)) {
    await home.stopService();
    await home.dir.remove();
  }
});
afterAll(() => {
  if (hasTmux) server.kill();
  // Every screen ever captured: no secret was ever drawn.
  expect(server.captures.join('\n')).not.toContain(CANARY);
  expect(server.captures.join('\n')).not.toContain(PASS);
});

describe.skipIf(!hasTmux)('cr tui in a real terminal (e2e; tmux)', () => {
  it(
    'should onboard granting least: the secrets picked, an approval window, via the script agent, proven by explain',
    async () => {
      const home = await makeCoraHome(PASS);
      homes.push(home);
      // A stand-in agent on PATH installed the way npm installs one: bin/claude a symlink to a
      // node script, so the agent runs as node (its exe) with the script as its argument.
      const bin = join(home.dir.path, 'bin');
      const lib = join(home.dir.path, 'lib', 'agent');
      mkdirSync(bin);
      mkdirSync(lib, { recursive: true });
      const script = join(lib, 'cli.js');
      writeFileSync(
        script,
        `#!${process.execPath}\nconst r = require('node:child_process').spawnSync(process.argv[2], process.argv.slice(3), { stdio: 'inherit' });\nprocess.exit(r.status ?? 1);\n`,
      );
      chmodSync(script, 0o755);
      symlinkSync(script, join(bin, 'claude'));
      const tui = openTui(home, { ...home.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` });

      await waitFor(tui.screen, 'There is no vault');
      tui.keys('Enter');
      await waitFor(tui.screen, 'New passphrase:');
      tui.type(PASS);
      const masked = await waitFor(tui.screen, '•'.repeat(PASS.length));
      expect(masked).toContain('strength:');
      tui.keys('Enter');
      await waitFor(tui.screen, 'Repeat the passphrase:');
      tui.type(PASS);
      tui.keys('Enter');
      await waitFor(tui.screen, 'Secrets so far', 40_000);
      tui.keys('a');
      await waitFor(tui.screen, 'Secret name');
      tui.type('API_KEY');
      tui.keys('Enter');
      await waitFor(tui.screen, 'Value for API_KEY (hidden):');
      tui.type(CANARY);
      await waitFor(tui.screen, '•'.repeat(CANARY.length));
      tui.keys('Enter');
      await waitFor(tui.screen, 'Stored API_KEY');
      tui.keys('a');
      await waitFor(tui.screen, 'Secret name');
      tui.type('OTHER_KEY');
      tui.keys('Enter');
      await waitFor(tui.screen, 'Value for OTHER_KEY (hidden):');
      tui.type(CANARY);
      tui.keys('Enter');
      await waitFor(tui.screen, 'Stored OTHER_KEY');
      tui.keys('n');
      await waitFor(tui.screen, 'claude');
      tui.keys('Enter');
      await waitFor(tui.screen, 'Name of the task claude will run:');
      tui.keys('Enter'); // the offered name, deploy
      // Nothing is picked for the user: Space picks API_KEY only.
      const picker = await waitFor(tui.screen, '[ ] OTHER_KEY');
      expect(picker).toContain('[ ] API_KEY');
      tui.keys('Space');
      await waitFor(tui.screen, '[x] API_KEY');
      tui.keys('Enter');
      await waitFor(tui.screen, 'Command deploy may run with API_KEY:');
      // A launcher is refused unless accepted, with the warning.
      tui.type('env');
      tui.keys('Enter');
      await waitFor(tui.screen, 'runs whatever code its caller passes');
      tui.keys('n');
      await waitFor(tui.screen, 'pick another command');
      tui.type('true');
      tui.keys('Enter');
      await waitFor(tui.screen, 'ask you first?');
      tui.keys('Enter'); // the default, window:15m
      const done = await waitFor(tui.screen, 'Cora is set up.');
      // The service's explain, run as cr exec from inside the agent: via met by the script.
      expect(done).toContain(`✓ via: ${script} found in the caller's ancestry`);
      expect(done).toContain('✓ secrets:');
      expect(done).toContain('→ needs-approval (APPROVAL_REQUIRED): it runs once you approve it');
      expect(done).toContain('Tell your agent to run: cr exec deploy -- true …');
      tui.keys('Enter');
      await waitFor(tui.screen, '● unlocked');
      tui.keys('q');
      await waitFor(tui.screen, 'TUI-EXIT=0');
      // The whole setup (init, unlock, store, policy) and the dashboard used one connection.
      const connects = readFileSync(join(home.env['CORA_HOME'] ?? '', 'audit.jsonl'), 'utf8')
        .split('\n')
        .filter((line) => line.includes('"type":"connect"'));
      expect(connects).toHaveLength(1);

      // The CLI sees what the TUI did.
      expect((await status(home)).state).toBe('unlocked');
      const list = await home.cr(['secrets', 'list']);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain('API_KEY');
      expect(list.stdout).not.toContain(CANARY);
      const policy = await home.cr(['policy', 'show', '--json']);
      const tasks = (JSON.parse(policy.stdout) as { tasks: Record<string, Record<string, unknown>> }).tasks;
      expect(tasks['deploy']).toMatchObject({
        secrets: ['API_KEY'],
        targets: [realpathSync('/usr/bin/true')],
        via: [script],
        approve: 'window:15m',
      });
      // The via holds for real: under the agent, exec gets past via to the approval; outside it, not.
      const outside = await home.cr(['exec', 'deploy', '--', 'true']);
      expect(outside.code).toBe(9);
      expect(outside.stderr).toContain(`must be run from ${script}`);
      const agent = spawn(join(bin, 'claude'), [CR, 'exec', 'deploy', '--', 'true'], {
        env: home.env,
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      let waiting = '';
      agent.stderr.on('data', (d: Buffer) => (waiting += d.toString()));
      await waitFor(() => waiting, 'task deploy needs approval');
      process.kill(-(agent.pid ?? 0), 'SIGTERM');
      // Every step of the onboarding was audited, by name only.
      const log = readFileSync(join(home.env['CORA_HOME'] ?? '', 'audit.jsonl'), 'utf8');
      for (const type of ['"unlock"', '"secret-set"', '"policy-changed"']) expect(log).toContain(type);
      expect(log).not.toContain(CANARY);
      expect(log).not.toContain(PASS);
    },
    SLOW,
  );

  it(
    'should approve a waiting request once, deny the next one, and show both in the followed audit view',
    async () => {
      const home = await makeCoraHome(PASS);
      homes.push(home);
      expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
      expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
      expect(
        (await home.cr(['secrets', 'set', 'SECRET', '--passphrase-file', home.passFile], { input: CANARY }))
          .code,
      ).toBe(0);
      const added = await home.cr([
        'policy',
        'task',
        'add',
        'T',
        'SECRET',
        '--target',
        '/bin/sh',
        '--allow-interpreter',
        '--approve',
        'once',
        '--passphrase-file',
        home.passFile,
      ]);
      expect(withoutInterpreterWarnings(added.stderr)).toBe('');
      const tui = openTui(home);
      await waitFor(tui.screen, '● unlocked', 20_000);
      tui.keys('5');
      await waitFor(tui.screen, 'Press Enter');
      tui.keys('Enter');
      await waitFor(tui.screen, 'Passphrase to approve:');
      tui.type(PASS);
      tui.keys('Enter');
      await waitFor(tui.screen, 'approver ready', 20_000);

      const allowed = requester(home, 'echo ok');
      const pending = await waitFor(tui.screen, "command  /bin/sh -c 'echo ok'");
      expect(pending).toMatch(/target {3}\/\S+/u); // the resolved target (sh may be dash)
      expect(pending).toContain('secrets  SECRET');
      // A key counts once the request has been on screen for 300 ms (approver.tsx).
      await new Promise((r) => setTimeout(r, 400));
      tui.keys('o');
      const run = await allowed;
      expect(run.stderr).toContain('task T needs approval');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('ok\n');
      await waitFor(tui.screen, /#\d+ T \/\S+: granted/u);

      const denied = requester(home, 'echo no');
      await waitFor(tui.screen, "command  /bin/sh -c 'echo no'");
      await new Promise((r) => setTimeout(r, 400));
      tui.keys('n');
      const refused = await denied;
      expect(refused.code).toBe(13); // DENIED
      expect(refused.stdout).toBe('');
      await waitFor(tui.screen, /#\d+ T \/\S+: denied/u);

      // The audit view reads the log (@cora/audit) and follows it: a lock from the CLI shows up.
      tui.keys('4');
      await waitFor(tui.screen, 'approval-denied');
      tui.keys('/');
      tui.type('type:lock');
      tui.keys('Enter');
      // Substring match: the one `unlock` so far, then the `lock` appended while following.
      await waitFor(tui.screen, /● following · 1\/\d+ records · filter: type:lock/u);
      expect((await home.cr(['lock'])).code).toBe(0);
      await waitFor(tui.screen, /● following · 2\/\d+ records/u);
      tui.keys('q');
      await waitFor(tui.screen, 'TUI-EXIT=0');
    },
    SLOW,
  );
});
