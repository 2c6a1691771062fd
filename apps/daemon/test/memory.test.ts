// SPDX-License-Identifier: AGPL-3.0-only
// Memory dumps (G3): read the service's and the CLI's memory through /proc/<pid>/mem and look
// for a canary passphrase and a canary value in every encoding of canaryForms. Needs root:
// the service is undumpable (PR_SET_DUMPABLE 0), so only CAP_SYS_PTRACE may read it.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CANARY_FORM_LABELS,
  canaryForms,
  makeCanary,
  scanProcessMemory,
  type MemoryHit,
} from '@cora/test-utils';
import { CR, status, useCoraHomes, type CoraHome } from './e2e-helpers.ts';
import { APP_DIR } from './helpers.ts';

const asRoot = process.getuid?.() === 0;
const hasGdb = spawnSync('gdb', ['--version']).status === 0;
// Each test brings its own canary passphrase.
const newHome = useCoraHomes('unused');

function describeHits(hits: readonly MemoryHit[], what: string): string[] {
  return hits.map(
    (h) =>
      `${what} (${CANARY_FORM_LABELS[h.needleIndex] ?? '?'}) at 0x${h.address.toString(16)} in ${h.region.perms} ${h.region.path}`,
  );
}

describe.runIf(asRoot)('memory of the service and the CLI (root only)', () => {
  async function unlockedService(passphrase: Buffer): Promise<{ home: CoraHome; pid: number }> {
    const home = await newHome({ passphrase: passphrase.toString('latin1') });
    expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
    expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
    return { home, pid: (await status(home)).pid! };
  }

  it('should hold no copy of the passphrase after unlock, and nothing anywhere after lock', async () => {
    const passphrase = makeCanary();
    const { home, pid } = await unlockedService(passphrase);
    const passForms = canaryForms(passphrase);
    // Unlocked: secure memory is no-access while idle, so skip no-access regions and look
    // for stray copies everywhere else (heap, stacks, V8 spaces).
    const afterUnlock = await scanProcessMemory(pid, passForms, { protectedRegionMaxBytes: 0 });
    expect(describeHits(afterUnlock, 'passphrase')).toEqual([]);
    expect((await home.cr(['lock'])).code).toBe(0);
    // Locked: nothing anywhere, secure memory included.
    const afterLock = await scanProcessMemory(pid, passForms);
    expect(describeHits(afterLock, 'passphrase')).toEqual([]);
  });

  // The service reads each connection into a buffer it owns and wipes (@cora/ipc, onread),
  // so no unwiped copy of a frame's attachment is left in the malloc heap by Node's reader.
  it('should hold no copy of the passphrase or a value outside secure memory after secrets set', async () => {
    const passphrase = makeCanary();
    const value = makeCanary();
    const { home, pid } = await unlockedService(passphrase);
    const set = await home.cr(['secrets', 'set', 'CANARY', '--passphrase-file', home.passFile], {
      input: value.toString('latin1'),
    });
    expect(set.code).toBe(0);
    const forms = [...canaryForms(passphrase), ...canaryForms(value)];
    const afterSet = await scanProcessMemory(pid, forms, { protectedRegionMaxBytes: 0 });
    expect(describeHits(afterSet, 'canary')).toEqual([]);
    expect((await home.cr(['lock'])).code).toBe(0);
    const afterLock = await scanProcessMemory(pid, forms);
    expect(describeHits(afterLock, 'canary')).toEqual([]);
  });

  // The last moment of the client: gdb stops it at exit_group and writes a core of its whole
  // address space. The secret's name (a JS string, not secret) must be in it — proof the dump
  // holds the CLI's heap — and neither the value nor the passphrase, in any encoding.
  it.runIf(hasGdb)('should hold no copy of the value or the passphrase just before cr exits', async () => {
    const passphrase = makeCanary();
    const value = makeCanary();
    const { home } = await unlockedService(passphrase);
    const name = `CANARY_${makeCanary()
      .toString('latin1')
      .replace(/[^A-Za-z0-9]/g, '')
      .slice(0, 12)}`;
    const core = join(home.dir.path, 'cr.core');
    const gdb = spawnSync(
      'gdb',
      [
        '-q',
        '-batch',
        '-nx',
        '-ex',
        'set pagination off',
        '-ex',
        'catch syscall exit_group',
        '-ex',
        'run',
        '-ex',
        `gcore ${core}`,
        '-ex',
        'continue',
        '--args',
        process.execPath,
        '--disable-sigusr1',
        join(APP_DIR, 'dist', 'cli.js'),
        'secrets',
        'set',
        name,
        '--passphrase-file',
        home.passFile,
      ],
      { env: home.env, input: value, timeout: 60_000 },
    );
    expect(gdb.stdout.toString()).toContain(`Stored ${name}.`);
    const dump = readFileSync(core);
    expect(dump.includes(Buffer.from(name)), 'the core must hold the CLI heap').toBe(true);
    const found = [...canaryForms(value), ...canaryForms(passphrase)]
      .map((form, i) =>
        dump.includes(Buffer.from(form)) ? (CANARY_FORM_LABELS[i % CANARY_FORM_LABELS.length] ?? '?') : null,
      )
      .filter((label) => label !== null);
    expect(found).toEqual([]);
    dump.fill(0);
  });

  it('should hold a value read from stdin only in secure memory while secrets set runs', async () => {
    const passphrase = makeCanary();
    const value = makeCanary();
    const home = await newHome({ passphrase: passphrase.toString('latin1') });
    expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
    // The CLI reads the value from stdin, then blocks reading the passphrase from fd 3.
    const child = spawn(CR, ['secrets', 'set', 'CANARY', '--passphrase-fd', '3'], {
      env: home.env,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const fd3 = child.stdio[3] as NodeJS.WritableStream;
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdin.end(value);
    // Give it time to read stdin and block on fd 3.
    await new Promise((r) => setTimeout(r, 700));
    const hits = await scanProcessMemory(child.pid!, canaryForms(value), { protectedRegionMaxBytes: 0 });
    fd3.end(`${passphrase.toString('latin1')}\n`);
    expect(await exited).toBe(0);
    expect(describeHits(hits, 'value')).toEqual([]);
  });
});
