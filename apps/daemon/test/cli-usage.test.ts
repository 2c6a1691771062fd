// SPDX-License-Identifier: AGPL-3.0-only
// Issue 12, "output people read": a usage mistake gets a message that says what to type.
// Real bin/cr; nothing here needs a service.
import { describe, expect, it } from 'vitest';
import { useCoraHomes } from './e2e-helpers.ts';

const newHome = useCoraHomes('usage passphrase, long enough');

describe('cr usage messages', () => {
  it('should suggest -- when the command has options and none was given, quoting arguments', async () => {
    const home = await newHome();
    const run = await home.cr(['exec', 'gh', 'curl', '-s', 'a b', '']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("cr exec gh -- curl -s 'a b' ''");
    expect(run.stdout).toBe('');
  });

  it('should show a hostile argument escaped in that suggestion', async () => {
    const home = await newHome();
    const run = await home.cr(['exec', 'gh', 'x', '-v', '\x1b[2J']);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain('\x1b');
    expect(run.stderr).toContain("$'\\e[2J'");
  });

  it('should leave cr exec --help and a command without options alone', async () => {
    const home = await newHome();
    expect((await home.cr(['exec', '--help'])).code).toBe(0);
    // No option after the task: runs as before (here: no service, so it says to unlock).
    const run = await home.cr(['exec', 'gh', 'true']);
    expect(run.stderr).not.toContain('put --');
  });

  it('should list the event types when audit show is given one that does not exist', async () => {
    const home = await newHome();
    const run = await home.cr(['audit', 'show', '--type', 'task-stat']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("no event type 'task-stat'");
    expect(run.stderr).toContain('task-start');
  });

  it('should read --since in the one duration grammar', async () => {
    const home = await newHome();
    expect((await home.cr(['audit', 'show', '--since', '1h30m'])).code).toBe(0);
    expect((await home.cr(['audit', 'show', '--since', '30m1h'])).code).toBe(2);
  });

  it('should say to run cr init when there is no vault yet', async () => {
    const home = await newHome();
    const run = await home.cr(['status']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/vault: .*\(none yet: run cr init\)/);
    const json = JSON.parse((await home.cr(['status', '--json'])).stdout) as { vaultExists: boolean };
    expect(json.vaultExists).toBe(false);
  });
});
