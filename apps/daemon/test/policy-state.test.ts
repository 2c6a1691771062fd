// SPDX-License-Identifier: AGPL-3.0-only
// The policy side of ServiceState (architecture §7) and resolveCommand, on real vault files.
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditLog } from '@cora/audit';
import { isIpcError } from '@cora/ipc';
import type { VaultHistory } from '../src/service/vault-history.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVault, readVault, updateVault } from '@cora/crypto-format';
import { SecretBuf, wipeSecretsBlock } from '@cora/memstore';
import { addTask, allowCaller, emptyPolicy, parsePolicy, type Policy } from '@cora/policy';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { resolveCommand } from '../src/shared/resolve.ts';
import { ServiceState } from '../src/service/state.ts';
import { openHistory, reveal, secret } from './helpers.ts';

const PASS = 'policy state passphrase';
let dir: TempDir;
let vault: string;
const states: ServiceState[] = [];
let history: VaultHistory;
let auditLog: AuditLog;

async function writeVault(json: string): Promise<void> {
  const pass = secret(PASS);
  const auditKey = SecretBuf.random(32);
  try {
    await createVault(
      vault,
      {
        entries: [
          { name: 'TOKEN', value: secret('token-value'), created: 1, updated: 2 },
          { name: 'OTHER', value: secret('other-value'), created: 1, updated: 2 },
        ],
        auditKey,
        json: Buffer.from(json),
      },
      pass,
    );
  } finally {
    pass.wipe();
    auditKey.wipe();
  }
}

beforeEach(async () => {
  dir = await makeTempDir('cora-policy-state-');
  vault = join(dir.path, 'vault.cora');
  ({ history, log: auditLog } = await openHistory(dir.path, vault));
});
afterEach(async () => {
  for (const s of states.splice(0)) s.dispose();
  await auditLog.close();
  await dir.remove();
});

async function unlocked(json = '{"policy":{},"meta":{"by":"test"}}'): Promise<ServiceState> {
  await writeVault(json);
  const state = new ServiceState({ vaultPath: vault, history, authDelayBaseMs: 1 });
  states.push(state);
  const p = secret(PASS);
  try {
    await state.unlock(p);
  } finally {
    p.wipe();
  }
  return state;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'returned';
  } catch (error) {
    return isIpcError(error) ? error.code : `other: ${String(error)}`;
  }
}

async function setWith(state: ServiceState, pass: string, policy: Policy): Promise<string> {
  const p = secret(pass);
  try {
    await state.setPolicy(p, policy);
    return 'ok';
  } catch (error) {
    return isIpcError(error) ? error.code : `other: ${String(error)}`;
  } finally {
    p.wipe();
  }
}

async function section(): Promise<Record<string, unknown>> {
  const p = secret(PASS);
  try {
    const block = await readVault(vault, p);
    try {
      return JSON.parse(Buffer.from(block.json).toString()) as Record<string, unknown>;
    } finally {
      wipeSecretsBlock(block);
    }
  } finally {
    p.wipe();
  }
}

const withTask = (): Policy =>
  addTask(allowCaller(emptyPolicy(), { exe: '/usr/bin/env' }), 'web', {
    secrets: ['TOKEN'],
    targets: ['/usr/bin/true'],
  });

describe('ServiceState policy', () => {
  it('should give the empty policy while locked and for an issue-3 vault ({}), and the unlock time', async () => {
    const state = new ServiceState({ vaultPath: join(dir.path, 'none.cora'), history });
    states.push(state);
    expect(state.policy()).toEqual(emptyPolicy());
    expect(state.unlockedAt()).toBeNull();
    const before = Date.now();
    const open = await unlocked();
    expect(open.policy()).toEqual(emptyPolicy());
    expect(open.policyError()).toBeNull();
    expect(open.unlockedAt()).toBeGreaterThanOrEqual(before);
    open.lock('request');
    expect(open.unlockedAt()).toBeNull();
  });

  it('should parse a stored policy, and set an invalid one aside as empty without failing the unlock', async () => {
    const good = await unlocked(JSON.stringify({ policy: withTask(), meta: {} }));
    expect(good.policy().tasks['web']?.targets).toEqual(['/usr/bin/true']);
    good.dispose();
    await auditLog.close();
    await dir.remove();
    dir = await makeTempDir('cora-policy-state-');
    vault = join(dir.path, 'vault.cora');
    ({ history, log: auditLog } = await openHistory(dir.path, vault));
    const bad = await unlocked(
      JSON.stringify({ policy: { version: 1, callers: [{ exe: 'relative' }], tasks: {} } }),
    );
    expect(bad.unlocked).toBe(true);
    expect(bad.policy()).toEqual(emptyPolicy());
    expect(bad.policyError()).toMatch(/callers\[0\]\.exe/);
  });

  it('should write a policy with the passphrase, keeping meta and secrets, and apply it at once', async () => {
    const state = await unlocked();
    expect(await setWith(state, PASS, withTask())).toBe('ok');
    expect(state.policy().callers).toEqual([{ exe: '/usr/bin/env' }]);
    const stored = await section();
    // meta is kept; the write added its generation (the first use was 0, so this is 1).
    expect(stored['meta']).toEqual({ by: 'test', generation: 1 });
    expect(parsePolicy(stored['policy'])).toEqual(withTask());
    const [token] = state.secretsFor(['TOKEN']);
    expect(token === undefined ? '' : reveal(token.value).toString()).toBe('token-value');
    token?.value.wipe();
  });

  it('should refuse a wrong passphrase and change nothing', async () => {
    const state = await unlocked();
    expect(await setWith(state, 'wrong', withTask())).toBe('AUTH_FAILED');
    expect(state.policy()).toEqual(emptyPolicy());
    expect((await section())['policy']).toEqual({});
  });

  it('should refuse a hand-built invalid policy with BAD_REQUEST naming the path', async () => {
    const state = await unlocked();
    const bad = { ...emptyPolicy(), callers: [{ exe: 'nope' }] } as Policy;
    const p = secret(PASS);
    try {
      await expect(state.setPolicy(p, bad)).rejects.toThrow(/callers\[0\]\.exe/);
    } finally {
      p.wipe();
    }
    expect(await setWith(state, PASS, bad)).toBe('BAD_REQUEST');
  });

  it('should hand out copies of secrets, and throw LOCKED / NOT_FOUND', async () => {
    const state = await unlocked();
    const copies = state.secretsFor(['OTHER', 'TOKEN']);
    expect(copies.map((c) => c.name)).toEqual(['OTHER', 'TOKEN']);
    for (const c of copies) c.value.wipe();
    // Wiping the copies leaves the store intact.
    const again = state.secretsFor(['OTHER']);
    expect(reveal(again[0]!.value).toString()).toBe('other-value');
    again[0]!.value.wipe();
    expect(codeOf(() => state.secretsFor(['TOKEN', 'MISSING', 'ALSO']))).toBe('NOT_FOUND');
    expect(() => state.secretsFor(['MISSING'])).toThrow(/MISSING/);
    state.lock('request');
    expect(codeOf(() => state.secretsFor(['TOKEN']))).toBe('LOCKED');
  });

  it('should refuse to write over a vault changed on disk behind its back, and keep both untouched', async () => {
    const state = await unlocked();
    const p = secret(PASS);
    try {
      await updateVault(vault, p, (block) => ({
        ...block,
        json: Buffer.from(JSON.stringify({ policy: withTask(), meta: { by: 'elsewhere' } })),
      }));
    } finally {
      p.wipe();
    }
    const next = allowCaller(emptyPolicy(), { exe: '/usr/bin/id' });
    // The service never adopts a file it did not write (issue 10, item 4).
    expect(await setWith(state, PASS, next)).toBe('VAULT_ROLLBACK');
    expect((await section())['meta']).toEqual({ by: 'elsewhere' });
    expect(state.policy()).toEqual(emptyPolicy());
  });
});

describe('resolveCommand', () => {
  it('should look bare names up on the search path and realpath them', () => {
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    const real = join(bin, 'tool-1.2');
    writeFileSync(real, '#!/bin/sh\n');
    chmodSync(real, 0o755);
    symlinkSync('tool-1.2', join(bin, 'tool'));
    writeFileSync(join(bin, 'plain'), 'not executable');
    mkdirSync(join(bin, 'adir'));
    expect(resolveCommand('tool', `/nonexistent:${bin}`, '/')).toEqual({ requested: 'tool', resolved: real });
    expect(resolveCommand('plain', bin, '/')).toEqual({ requested: 'plain', resolved: null });
    expect(resolveCommand('adir', bin, '/')).toEqual({ requested: 'adir', resolved: null });
    expect(resolveCommand('missing', bin, '/')).toEqual({ requested: 'missing', resolved: null });
    expect(resolveCommand('', bin, '/').resolved).toBeNull();
  });

  it('should resolve paths with a slash against cwd, and empty PATH entries as cwd', () => {
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    const real = join(bin, 'x');
    writeFileSync(real, '#!/bin/sh\n');
    chmodSync(real, 0o755);
    expect(resolveCommand('./bin/x', '', dir.path).resolved).toBe(real);
    expect(resolveCommand(real, '', '/').resolved).toBe(real);
    expect(resolveCommand('x', ':/nonexistent', bin).resolved).toBe(real);
    expect(resolveCommand('x', '/nonexistent', bin).resolved).toBeNull();
  });
});
