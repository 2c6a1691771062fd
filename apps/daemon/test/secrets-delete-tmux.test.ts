// SPDX-License-Identifier: AGPL-3.0-only
// `cr secrets delete` of a secret that tasks use, in a real terminal (issue 12): it names the
// tasks and asks y/N; anything but yes keeps the secret (exit 26), yes deletes it.
import { afterAll, describe, expect, it } from 'vitest';
import { CR, useCoraHomes, withTask, type CoraHome } from './e2e-helpers.ts';
import { hasTmux, tmuxServer, waitFor } from './tmux.ts';

const PASS = 'delete prompt passphrase, long enough';
const server = tmuxServer('cora-delete');
const newHome = useCoraHomes(PASS);
afterAll(() => {
  if (hasTmux) server.kill();
});

async function names(home: CoraHome): Promise<string> {
  const list = await home.cr(['secrets', 'list']);
  expect(list.code).toBe(0);
  return list.stdout;
}

describe.skipIf(!hasTmux)('cr secrets delete asks on a terminal (e2e; tmux — skipped without tmux)', () => {
  it('should name the tasks, keep the secret on Enter or n, and delete it on y', async () => {
    const home = await newHome();
    const add = await withTask(home, {
      secret: 'TOKEN',
      value: 'delete-me-0123456789',
      task: 'deploy',
      args: ['--target', '/bin/echo'],
    });
    expect(add.code).toBe(0);
    const line = `'${CR}' secrets delete TOKEN --passphrase-file '${home.passFile}'; echo "EXIT=$?"; sleep 3600`;

    for (const answer of ['', 'n', 'yes please']) {
      const pane = server.open(home, line);
      const asked = await waitFor(pane.screen, '[y/N]');
      expect(asked).toContain('TOKEN is used by task deploy, which cannot run without it.');
      pane.type(answer);
      pane.keys('Enter');
      const done = await waitFor(pane.screen, 'EXIT=');
      expect(done).toContain('EXIT=26');
      expect(done).toContain('TOKEN was not deleted');
      expect(await names(home)).toContain('TOKEN');
    }

    const pane = server.open(home, line);
    await waitFor(pane.screen, '[y/N]');
    pane.type('y');
    pane.keys('Enter');
    const done = await waitFor(pane.screen, 'EXIT=');
    expect(done).toContain('EXIT=0');
    expect(await names(home)).not.toContain('TOKEN');
  }, 60_000);
});
