// SPDX-License-Identifier: AGPL-3.0-only
// A policy that checks itself (issue 12), end to end through the real bin/cr and service in a
// private home: task secrets must exist, deleting a used secret asks first, explain checks the
// secrets, tasks can be edited, and pinned targets (`--pin`) refuse a changed file.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { useCoraHomes, type CoraHome, type CrResult } from './e2e-helpers.ts';

const PASS = 'policy checks passphrase, long enough';
const newHome = useCoraHomes(PASS);
// Each test makes several vault writes (a KDF each) on a machine other suites share.
vi.setConfig({ testTimeout: 180_000 });

async function unlockedHome(secrets: readonly string[] = ['GH_TOKEN']): Promise<CoraHome> {
  const home = await newHome();
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
  for (const name of secrets) {
    const set = await home.cr(['secrets', 'set', name, '--passphrase-file', home.passFile], {
      input: `value of ${name}`,
    });
    expect(set.code).toBe(0);
  }
  return home;
}

function pass(home: CoraHome): string[] {
  return ['--passphrase-file', home.passFile];
}

/** `cr policy task ARGS… --passphrase-file …`. */
function task(home: CoraHome, args: readonly string[]): Promise<CrResult> {
  return home.cr(['policy', 'task', ...args, ...pass(home)]);
}

async function policyJson(home: CoraHome): Promise<{ tasks: Record<string, Record<string, unknown>> }> {
  const show = await home.cr(['policy', 'show', '--json']);
  expect(show.code).toBe(0);
  return JSON.parse(show.stdout) as { tasks: Record<string, Record<string, unknown>> };
}

async function auditTypes(home: CoraHome, type: string): Promise<Record<string, unknown>[]> {
  const shown = await home.cr(['audit', 'show', '--type', type, '--json']);
  expect(shown.code).toBe(0);
  return shown.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('cr policy task add: secret names are checked against the vault', () => {
  it('should refuse a name the vault does not hold, naming it and the closest held name', async () => {
    const home = await unlockedHome(['GH_TOKEN', 'OPENAI_API_KEY']);
    const added = await task(home, ['add', 'gh', 'GH_TOKNE', '--target', '/usr/bin/true']);
    expect(added.code).toBe(5);
    expect(added.stderr).toContain('GH_TOKNE');
    expect(added.stderr).toContain('did you mean GH_TOKEN?');
    expect(added.stderr).toContain('--allow-missing-secret');
    expect((await policyJson(home)).tasks).toEqual({});
  });

  it('should accept the name with --allow-missing-secret, and keep accepting later changes', async () => {
    const home = await unlockedHome();
    const added = await task(home, [
      'add',
      'later',
      'NOT_YET',
      '--target',
      '/usr/bin/true',
      '--allow-missing-secret',
    ]);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    // An unrelated change does not trip over the reference that was accepted on purpose.
    const other = await task(home, ['add', 'gh', 'GH_TOKEN', '--target', '/usr/bin/true']);
    expect(other.code).toBe(0);
    expect(Object.keys((await policyJson(home)).tasks).sort()).toEqual(['gh', 'later']);
  });
});

describe('cr policy task add of an existing task, task edit and --replace', () => {
  it('should refuse add of an existing name and point to edit; edit and --replace change it, audited', async () => {
    const home = await unlockedHome(['GH_TOKEN', 'NPM_TOKEN']);
    const base = ['policy', 'task', 'add', 'gh', 'GH_TOKEN', '--target', '/usr/bin/true', '--ttl', '1h'];
    expect((await home.cr([...base, ...pass(home)])).code).toBe(0);
    const again = await home.cr([...base, ...pass(home)]);
    expect(again.code).toBe(7);
    expect(again.stderr).toContain('cr policy task edit gh');

    const edited = await task(home, [
      'edit',
      'gh',
      'GH_TOKEN',
      'NPM_TOKEN',
      '--target',
      '/usr/bin/false',
      '--approve',
      'once',
    ]);
    expect(edited.stderr).toBe('');
    expect(edited.code).toBe(0);
    expect((await policyJson(home)).tasks['gh']).toMatchObject({
      secrets: ['GH_TOKEN', 'NPM_TOKEN'],
      targets: ['/usr/bin/false'],
      approve: 'once',
      ttl: '1h', // kept: not given
    });
    const cleared = await task(home, ['edit', 'gh', '--clear', 'ttl']);
    expect(cleared.code).toBe(0);
    expect((await policyJson(home)).tasks['gh']).not.toHaveProperty('ttl');
    // edit checks secret names too
    const typo = await task(home, ['edit', 'gh', 'NPM_TOKNE']);
    expect(typo.code).toBe(5);
    expect(typo.stderr).toContain('did you mean NPM_TOKEN?');

    const replaced = await task(home, ['add', 'gh', 'GH_TOKEN', '--target', '/usr/bin/true', '--replace']);
    expect(replaced.code).toBe(0);
    expect((await policyJson(home)).tasks['gh']).toEqual({
      secrets: ['GH_TOKEN'],
      targets: ['/usr/bin/true'],
      approve: 'never',
      output: 'masked',
    });
    const missing = await task(home, ['edit', 'nope', '--ttl', '1h']);
    expect(missing.code).toBe(5);
    // add, edit, edit (clear), add --replace: four recorded changes
    expect(await auditTypes(home, 'policy-changed')).toHaveLength(4);
  });
});

describe('cr secrets delete of a secret tasks use', () => {
  it('should refuse without a terminal or --yes, naming the tasks (exit 26), also while locked', async () => {
    const home = await unlockedHome(['GH_TOKEN', 'OTHER']);
    for (const name of ['gh', 'gh2']) {
      const added = await task(home, ['add', name, 'GH_TOKEN', '--target', '/usr/bin/true']);
      expect(added.code).toBe(0);
    }
    const refused = await home.cr(['secrets', 'delete', 'GH_TOKEN', ...pass(home)]);
    expect(refused.code).toBe(26);
    expect(refused.stderr).toContain('tasks gh, gh2');
    expect(refused.stderr).toContain('--yes');
    // A secret no task uses goes without asking.
    expect((await home.cr(['secrets', 'delete', 'OTHER', ...pass(home)])).code).toBe(0);

    // While locked the CLI cannot read the policy: the service checks in the decrypted vault.
    expect((await home.cr(['lock'])).code).toBe(0);
    const locked = await home.cr(['secrets', 'delete', 'GH_TOKEN', ...pass(home)]);
    expect(locked.code).toBe(26);
    expect(locked.stderr).toContain('tasks gh, gh2');

    const forced = await home.cr(['secrets', 'delete', 'GH_TOKEN', '--yes', ...pass(home)]);
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect((await home.cr(['unlock', ...pass(home)])).code).toBe(0);
    const list = await home.cr(['secrets', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
    expect(await auditTypes(home, 'secret-deleted')).toHaveLength(2);
  });
});

describe('cr policy explain checks the secrets', () => {
  it('should fail a secrets step when the task names a secret the vault does not hold', async () => {
    const home = await unlockedHome(['GH_TOKEN']);
    const added = await task(home, [
      'add',
      'gh',
      'GH_TOKNE',
      '--target',
      '/usr/bin/true',
      '--allow-missing-secret',
    ]);
    expect(added.code).toBe(0);
    const explained = await home.cr(['policy', 'explain', 'gh', '--', '/usr/bin/true']);
    expect(explained.code).toBe(9);
    expect(explained.stdout).toContain(
      '✗ secrets: the task needs GH_TOKNE, which the vault does not hold (did you mean GH_TOKEN?)',
    );
    expect(explained.stdout).toContain('→ deny (SECRET_MISSING)');
    // exec fails the same way (exit 5), as explain now predicts
    expect((await home.cr(['exec', 'gh', '--', '/usr/bin/true'])).code).toBe(5);

    const fixed = await task(home, ['edit', 'gh', 'GH_TOKEN']);
    expect(fixed.code).toBe(0);
    const ok = await home.cr(['policy', 'explain', 'gh', '--', '/usr/bin/true']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('✓ secrets: the vault holds GH_TOKEN');
  });
});

describe('pinned targets', () => {
  /** A directory only its owner can write, with a copy of `binary` in it. */
  function privateCopy(home: CoraHome, binary: string, name: string): string {
    const dir = join(home.dir.path, 'bin-private');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, name);
    copyFileSync(binary, path);
    chmodSync(path, 0o755);
    return path;
  }

  it('should refuse a replaced binary (exit 9, both short hashes, audited) and run it again once restored', async () => {
    const home = await unlockedHome(['GH_TOKEN']);
    const tool = privateCopy(home, '/usr/bin/printenv', 'tool');
    const original = sha(tool);
    const added = await task(home, ['add', 'gh', 'GH_TOKEN', '--target', tool, '--pin']);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain(`pinned at sha256 ${original.slice(0, 12)}`);
    expect((await policyJson(home)).tasks['gh']?.['target_sha256']).toEqual({ [tool]: original });

    const ran = await home.cr(['exec', 'gh', '--', tool, 'GH_TOKEN']);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('<concealed:GH_TOKEN>');

    // The agent replaces the file it may run.
    copyFileSync('/usr/bin/env', tool);
    const changed = sha(tool);
    const refused = await home.cr(['exec', 'gh', '--', tool, 'GH_TOKEN']);
    expect(refused.code).toBe(9);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(tool);
    expect(refused.stderr).toContain(changed.slice(0, 12));
    expect(refused.stderr).toContain(original.slice(0, 12));
    const records = await auditTypes(home, 'target-refused');
    expect(records.at(-1)).toMatchObject({ task: 'gh', target: tool, reason: 'TARGET_PIN_MISMATCH' });
    expect(await auditTypes(home, 'task-start')).toHaveLength(1);

    const explained = await home.cr(['policy', 'explain', 'gh', '--', tool]);
    expect(explained.code).toBe(9);
    expect(explained.stdout).toContain(`✗ target: ${tool} changed since task gh pinned it`);
    expect(explained.stdout).toContain('→ deny (TARGET_PIN_MISMATCH)');

    // Restored: the pinned bytes run again.
    copyFileSync('/usr/bin/printenv', tool);
    const again = await home.cr(['exec', 'gh', '--', tool, 'GH_TOKEN']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('<concealed:GH_TOKEN>');

    // Re-pinning on purpose accepts the new file.
    copyFileSync('/usr/bin/env', tool);
    expect((await task(home, ['edit', 'gh', '--pin'])).code).toBe(0);
    expect((await home.cr(['exec', 'gh', '--', tool, 'true'])).code).toBe(0);
  });

  it('should run a pinned binary from the descriptor it was hashed through (fd 3 of the child)', async () => {
    const home = await unlockedHome(['GH_TOKEN']);
    const readlink = privateCopy(home, '/usr/bin/readlink', 'reader');
    const add = ['policy', 'task', 'add', 'rl', 'GH_TOKEN', '--target', readlink];
    expect((await home.cr([...add, '--pin', ...pass(home)])).code).toBe(0);
    // fd 3 of the child is the binary itself, opened by the service before it hashed it.
    const pinned = await home.cr(['exec', 'rl', '--', readlink, '/proc/self/fd/3']);
    expect(pinned.stderr).toBe('');
    expect(pinned.stdout).toBe(`${readlink}\n`);
    // Unpinned, nothing but 0-2 reaches the child.
    expect((await task(home, ['edit', 'rl', '--clear', 'pin'])).code).toBe(0);
    const plain = await home.cr(['exec', 'rl', '--', readlink, '/proc/self/fd/3']);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toBe('');
  });

  it('should warn about a target in a directory the user can write, and about a script', async () => {
    const home = await unlockedHome(['GH_TOKEN']);
    // Writable for the user whoever runs this (root included: others may write it).
    const dir = join(home.dir.path, 'shared-bin');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const tool = join(dir, 'tool');
    copyFileSync('/usr/bin/true', tool);
    chmodSync(tool, 0o755);
    const added = await task(home, ['add', 'w', 'GH_TOKEN', '--target', tool]);
    expect(added.code).toBe(0);
    expect(added.stderr).toContain(`warning: ${tool} is under ${dir}`);
    expect(added.stderr).toContain('pin it with --pin');
    const explained = await home.cr(['policy', 'explain', 'w', '--', tool]);
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain(`! warning: ${tool} is under ${dir}`);
    const pinned = await task(home, ['edit', 'w', '--pin']);
    expect(pinned.stderr).toContain('(pinned: a replaced file is refused)');

    // A /usr/bin target in a private home draws no warning.
    const safe = await task(home, ['add', 's', 'GH_TOKEN', '--target', '/usr/bin/true']);
    expect(safe.stderr).toBe('');

    const script = join(dir, 'run.sh');
    writeFileSync(script, '#!/bin/sh\necho ran\n', { mode: 0o755 });
    const viaScript = await task(home, ['add', 'sh', 'GH_TOKEN', '--target', script, '--pin']);
    expect(viaScript.code).toBe(0);
    expect(viaScript.stderr).toContain('is a script: what runs is its interpreter (/bin/sh)');
    const ran: CrResult = await home.cr(['exec', 'sh', '--', script]);
    expect(ran.stdout).toBe('ran\n');
    writeFileSync(script, '#!/bin/sh\necho changed\n');
    expect((await home.cr(['exec', 'sh', '--', script])).code).toBe(9);
  });
});

describe('cr policy task add: a target that runs caller-chosen code needs saying so', () => {
  it('should refuse a shell, an interpreter or a launcher as a target unless --allow-interpreter, then keep it', async () => {
    const home = await unlockedHome(['GH_TOKEN']);
    for (const target of ['/bin/sh', '/usr/bin/env', process.execPath]) {
      const refused = await task(home, ['add', 'run', 'GH_TOKEN', '--target', target]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('--allow-interpreter');
      expect(refused.stderr).toContain('choose the code that receives the secrets');
    }
    expect((await policyJson(home)).tasks).toEqual({});

    const added = await task(home, ['add', 'run', 'GH_TOKEN', '--target', '/bin/sh', '--allow-interpreter']);
    expect(added.code).toBe(0);
    expect(added.stderr).toContain('runs whatever code its caller passes');
    // Accepted once: later changes of the task (or of others) do not ask again.
    const edited = await task(home, ['edit', 'run', '--ttl', '1h']);
    expect(edited.code).toBe(0);
    const other = await task(home, ['add', 'safe', 'GH_TOKEN', '--target', '/usr/bin/true']);
    expect(other.code).toBe(0);
    // A new interpreter target on the same task is asked about again.
    const more = await task(home, ['edit', 'run', '--target', '/bin/sh', '--target', '/usr/bin/env']);
    expect(more.code).not.toBe(0);
    expect(more.stderr).toContain('/usr/bin/env');
  }, 60_000);
});
