// SPDX-License-Identifier: AGPL-3.0-only
// `cr approve` in a real terminal (issue 12): a `cr exec` whose argv tries to wipe or rewrite
// the approver's screen waits for a human; the approver's pane (tmux capture-pane) must still
// show who asked, from where and what, with every hostile character made visible; one key (no
// Enter) decides; the terminal is left as it was found.
import { spawn } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CR, useCoraHomes, withApprovalTask, type CoraHome } from './e2e-helpers.ts';
import { hasTmux, tmuxServer, waitFor } from './tmux.ts';

const PASS = 'approve tmux passphrase, long enough';
const SH = realpathSync('/bin/sh');
const server = tmuxServer('cora-approve');
const newHome = useCoraHomes(PASS);
afterAll(() => {
  if (hasTmux) server.kill();
});

/** Hostile arguments: clear the screen and home the cursor, rewrite the line, reorder, hide. */
const HOSTILE = [
  'sh',
  '-c',
  'echo ran',
  '\x1b[2J\x1b[H',
  'FAKE-CALLER all good',
  'over\rwritten',
  'a b',
  '',
  'x\u202ey',
  'z\u200bw',
  'B'.repeat(4000),
];

/**
 * `cr exec t -- <HOSTILE>` as a child of this test (not of the tmux server that runs the
 * approver: no self-approval).
 */
function requester(home: CoraHome): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CR, ['exec', 't', '--', ...HOSTILE], {
      env: home.env,
      cwd: home.dir.path,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stderr });
    });
  });
}

describe.skipIf(!hasTmux)(
  'cr approve in a real terminal (e2e; tmux — skipped when tmux is not installed)',
  () => {
    it('should keep caller, cwd and command on screen under a hostile argv, and deny on one key', async () => {
      const home = await withApprovalTask(await newHome(), SH, 'once');
      // A file that steers curl, written by "the agent" in the child's HOME.
      writeFileSync(join(home.dir.path, '.curlrc'), 'output = /tmp/stolen\n');
      const pane = server.open(
        home,
        `'${CR}' approve --passphrase-file '${home.passFile}'; echo APPROVE-EXIT=$?; ` +
          `stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon | sed 's/^/STTY=/'; sleep 3600`,
        { cols: 160, rows: 50, joinWrapped: true },
      );
      await waitFor(pane.screen, 'Approver ready', 30_000);
      // A key pressed before any request is shown must not decide the one that comes.
      pane.keys('o');
      const waiting = requester(home);
      const screen = await waitFor(pane.screen, /\[s\] skip \(key\) \?/);

      // Nothing cleared the screen: what was there before the request still is.
      expect(screen).toContain('Approver ready');
      expect(screen).toMatch(/^\s*caller\s+pid \d+ \S*node/m);
      expect(screen).toContain(`cwd       ${home.dir.path}`);
      expect(screen).toContain(`target    ${SH}`);
      // Every argument quoted, every hostile character shown as an escape, the long one cut.
      expect(screen).toContain(
        "command   sh -c 'echo ran' $'\\e[2J\\e[H' 'FAKE-CALLER all good' $'over\\rwritten' 'a b' '' " +
          "$'x\\xe2\\x80\\xaey' $'z\\xe2\\x80\\x8bw' " +
          `${'B'.repeat(256)} …(3744 more bytes)`,
      );
      expect(screen).not.toMatch(/^FAKE-CALLER/m);
      expect(screen).toMatch(/^\s*file\s+present: ~\/\.curlrc \(modified \d+ s ago\)/m);
      expect(screen).toMatch(/^\s*env\s+HOME=/m);

      // The `o` typed ahead decided nothing: the request still waits.
      await new Promise((r) => setTimeout(r, 800));
      expect(pane.screen()).not.toMatch(/Request \d+: granted/);
      pane.keys('d'); // no Enter
      const run = await waiting;
      expect(run.code).toBe(13);
      expect(run.stderr).toMatch(/denied by the approver/);
      await waitFor(pane.screen, /Request \d+: denied\./);

      // Ctrl-C ends the session (exit 130) and the terminal is back in canonical mode.
      pane.keys('C-c');
      const end = await waitFor(pane.screen, /STTY=-?icanon/);
      expect(end).toContain('APPROVE-EXIT=130');
      expect(end).toContain('STTY=icanon');
    }, 90_000);
  },
);
