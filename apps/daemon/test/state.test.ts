// SPDX-License-Identifier: AGPL-3.0-only
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditLog } from '@cora/audit';
import { isIpcError } from '@cora/ipc';
import type { VaultHistory } from '../src/service/vault-history.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readVault } from '@cora/crypto-format';
import { SecretBuf, wipeSecretsBlock } from '@cora/memstore';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { ServiceState, type LockReason, type StateOptions } from '../src/service/state.ts';
import { openHistory, makeVault, reveal, secret } from './helpers.ts';

const PASS = 'state test passphrase';
let dir: TempDir;
let vault: string;
const states: ServiceState[] = [];
let history: VaultHistory;
let auditLog: AuditLog;

beforeEach(async () => {
  dir = await makeTempDir('cora-state-');
  vault = join(dir.path, 'vault.cora');
  ({ history, log: auditLog } = await openHistory(dir.path, vault));
  await makeVault(vault, PASS);
});
afterEach(async () => {
  for (const s of states.splice(0)) s.dispose();
  await auditLog.close();
  await dir.remove();
});

function make(options: Partial<StateOptions> = {}): ServiceState {
  const state = new ServiceState({ vaultPath: vault, history, authDelayBaseMs: 1, ...options });
  states.push(state);
  return state;
}

async function withPass<T>(text: string, fn: (p: SecretBuf) => Promise<T>): Promise<T> {
  const p = secret(text);
  try {
    return await fn(p);
  } finally {
    p.wipe();
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isIpcError(error) ? error.code : `other: ${String(error)}`;
  }
}

/** `count` values of `size` bytes (filled with their index), in one region as the service's parts are. */
function values(count: number, size: number, prefix: string): { name: string; value: SecretBuf }[] {
  const bufs = SecretBuf.allocMany(
    Array.from({ length: count }, () => size),
    (views) => {
      views.forEach((view, i) => view.fill(i % 251));
    },
  );
  return bufs.map((value, i) => ({ name: `${prefix}_${String(i)}`, value }));
}

/** Names and values on disk (test only). */
async function onDisk(passphrase = PASS): Promise<Record<string, string>> {
  const block = await withPass(passphrase, (p) => readVault(vault, p));
  try {
    return Object.fromEntries(block.entries.map((e) => [e.name, reveal(e.value).toString()]));
  } finally {
    wipeSecretsBlock(block);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ServiceState', () => {
  it('should unlock with the right passphrase and lock on request', async () => {
    const reasons: LockReason[] = [];
    const state = make({ onLock: (r) => reasons.push(r) });
    expect(state.snapshot()).toMatchObject({ state: 'locked', secrets: null, idleDeadline: null });
    expect(await withPass(PASS, (p) => state.unlock(p))).toBe(true);
    expect(await withPass(PASS, (p) => state.unlock(p))).toBe(false);
    const snap = state.snapshot();
    expect(snap).toMatchObject({ state: 'unlocked', secrets: 0 });
    expect(Date.parse(snap.idleDeadline!)).toBeGreaterThan(Date.now() + 14 * 60 * 1000);
    state.lock('request');
    expect(state.snapshot()).toMatchObject({ state: 'locked', lastLockReason: 'request' });
    expect(reasons).toEqual(['request']);
  });

  it('should refuse a wrong passphrase with AUTH_FAILED and stay locked', async () => {
    const state = make();
    expect(await codeOf(withPass('wrong', (p) => state.unlock(p)))).toBe('AUTH_FAILED');
    expect(state.unlocked).toBe(false);
    expect(await codeOf(withPass(PASS, (p) => state.unlock(p)))).toBe('resolved');
  });

  it('should delay repeated wrong passphrases more and more', async () => {
    const state = make({ authDelayBaseMs: 40 });
    const t0 = performance.now();
    await codeOf(withPass('wrong', (p) => state.unlock(p)));
    const first = performance.now() - t0;
    const t1 = performance.now();
    await codeOf(withPass('wrong', (p) => state.unlock(p)));
    await codeOf(withPass('wrong', (p) => state.unlock(p)));
    const next = performance.now() - t1;
    expect(first).toBeGreaterThanOrEqual(40);
    expect(next).toBeGreaterThanOrEqual(80 + 160);
  });

  it('should say in the refusal that it waited, how long, and that the next try waits longer', async () => {
    const state = make({ authDelayBaseMs: 300 });
    await codeOf(withPass('wrong', (p) => state.unlock(p)));
    const second = await withPass('wrong', (p) => state.unlock(p)).catch((error: unknown) => error as Error);
    expect((second as Error).message).toMatch(
      /wrong try 2 in a row, so the service waited 0\.6 s before answering/,
    );
    expect((second as Error).message).toContain('twice as long');
  });

  it('should share the delay between unlock, approver checks and changes (one counter)', async () => {
    const state = make({ authDelayBaseMs: 300 });
    await codeOf(withPass('wrong', (p) => state.verifyPassphrase(p))); // 300 ms
    await codeOf(withPass('wrong', (p) => state.deleteSecret('A', p))); // 600 ms
    const t0 = performance.now();
    expect(await codeOf(withPass('wrong', (p) => state.unlock(p)))).toBe('AUTH_FAILED');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1200); // the third failure in a row
    // The right passphrase resets it: the next failure costs the base delay again (plus the KDF).
    expect(await codeOf(withPass(PASS, (p) => state.verifyPassphrase(p)))).toBe('resolved');
    const t1 = performance.now();
    await codeOf(withPass('wrong', (p) => state.unlock(p)));
    expect(performance.now() - t1).toBeLessThan(1200);
    expect(state.unlocked).toBe(false);
  });

  it('should report NO_VAULT when the file is missing', async () => {
    const state = new ServiceState({ vaultPath: join(dir.path, 'none.cora'), history });
    states.push(state);
    expect(await codeOf(withPass(PASS, (p) => state.unlock(p)))).toBe('NO_VAULT');
  });

  it('should lock after the idle timeout, counted from the last request', async () => {
    const state = make({ idleTimeoutMs: 300 });
    await withPass(PASS, (p) => state.unlock(p));
    await sleep(200);
    state.touch();
    await sleep(200);
    expect(state.unlocked).toBe(true); // 400 ms since unlock, 200 since the last request
    await sleep(250);
    expect(state.snapshot()).toMatchObject({ state: 'locked', lastLockReason: 'idle' });
  });

  it('should lock at the end of the lifetime even when busy', async () => {
    const state = make({ lifetimeMs: 300 });
    await withPass(PASS, (p) => state.unlock(p));
    expect(Date.parse(state.snapshot().lifetimeDeadline!)).toBeLessThanOrEqual(Date.now() + 300);
    for (let i = 0; i < 4; i++) {
      state.touch();
      await sleep(100);
    }
    expect(state.snapshot()).toMatchObject({ state: 'locked', lastLockReason: 'lifetime' });
  });

  it('should lock when the wall clock jumps ahead of the monotonic clock (suspend)', async () => {
    // A real suspend cannot be produced in a test: the wall clock is the one thing faked.
    let skew = 0;
    const state = make({
      tickMs: 20,
      suspendThresholdMs: 1000,
      clocks: { wall: () => Date.now() + skew, mono: () => performance.now() },
    });
    await withPass(PASS, (p) => state.unlock(p));
    await sleep(60);
    skew = 500; // an NTP-sized step: not a suspend
    await sleep(60);
    expect(state.unlocked).toBe(true);
    skew += 60_000;
    await sleep(60);
    expect(state.snapshot()).toMatchObject({ state: 'locked', lastLockReason: 'suspend' });
  });

  it('should set, replace, delete and import through the vault and update memory at once', async () => {
    const state = make();
    await withPass(PASS, (p) => state.unlock(p));
    const v1 = secret('value one');
    expect(await withPass(PASS, (p) => state.setSecret('API_KEY', v1, p))).toBe(false);
    expect(v1.wiped).toBe(false); // the caller keeps its value
    v1.wipe();
    expect(state.list().map((s) => [s.name, s.length])).toEqual([['API_KEY', 9]]);
    const created = state.list()[0]!.created;
    await sleep(5);
    const v2 = secret('value two!');
    expect(await withPass(PASS, (p) => state.setSecret('API_KEY', v2, p))).toBe(true);
    v2.wipe();
    const info = state.list()[0]!;
    expect(info.created).toBe(created);
    expect(info.updated).toBeGreaterThan(created);
    const a = secret('a');
    const b = secret('b');
    const result = await withPass(PASS, (p) =>
      state.importSecrets(
        [
          { name: 'A', value: a },
          { name: 'API_KEY', value: b },
        ],
        p,
      ),
    );
    a.wipe();
    b.wipe();
    expect(result).toEqual({ added: ['A'], replaced: ['API_KEY'] });
    expect(await onDisk()).toEqual({ API_KEY: 'b', A: 'a' });
    await withPass(PASS, (p) => state.deleteSecret('A', p));
    expect(state.list().map((s) => s.name)).toEqual(['API_KEY']);
    expect(await onDisk()).toEqual({ API_KEY: 'b' });
  });

  it('should change nothing on a wrong passphrase (G6)', async () => {
    const state = make();
    await withPass(PASS, (p) => state.unlock(p));
    const before = readFileSync(vault);
    const v = secret('x');
    expect(await codeOf(withPass('wrong', (p) => state.setSecret('X', v, p)))).toBe('AUTH_FAILED');
    expect(await codeOf(withPass('wrong', (p) => state.deleteSecret('X', p)))).toBe('AUTH_FAILED');
    expect(await codeOf(withPass('wrong', (p) => withPass('new', (n) => state.changePassphrase(p, n))))).toBe(
      'AUTH_FAILED',
    );
    v.wipe();
    expect(readFileSync(vault).equals(before)).toBe(true);
    expect(state.list()).toEqual([]);
  });

  it('should manage secrets while locked and show them at the next unlock', async () => {
    const state = make();
    const v = secret('while locked');
    await withPass(PASS, (p) => state.setSecret('LOCKED_SET', v, p));
    v.wipe();
    expect(state.unlocked).toBe(false);
    await withPass(PASS, (p) => state.unlock(p));
    expect(state.list().map((s) => s.name)).toEqual(['LOCKED_SET']);
  });

  it('should refuse bad names, oversized values, duplicates and unknown secrets', async () => {
    const state = make();
    const v = secret('x');
    const big = SecretBuf.alloc(65_537);
    expect(await codeOf(withPass(PASS, (p) => state.setSecret('9x', v, p)))).toBe('INVALID_NAME');
    expect(await codeOf(withPass(PASS, (p) => state.setSecret('BIG', big, p)))).toBe('TOO_LARGE');
    expect(
      await codeOf(
        withPass(PASS, (p) =>
          state.importSecrets(
            [
              { name: 'D', value: v },
              { name: 'D', value: v },
            ],
            p,
          ),
        ),
      ),
    ).toBe('BAD_REQUEST');
    expect(await codeOf(withPass(PASS, (p) => state.deleteSecret('NOPE', p)))).toBe('NOT_FOUND');
    expect(() => state.list()).toThrow(/locked/);
    v.wipe();
    big.wipe();
    const exact = SecretBuf.alloc(65_536);
    expect(await codeOf(withPass(PASS, (p) => state.setSecret('EXACT', exact, p)))).toBe('resolved');
    exact.wipe();
  });

  it('should change the passphrase: the old one stops working, secrets stay', async () => {
    const state = make();
    const v = secret('kept');
    await withPass(PASS, (p) => state.setSecret('KEPT', v, p));
    v.wipe();
    await withPass(PASS, (p) => state.unlock(p));
    await withPass(PASS, (p) => withPass('brand new passphrase', (n) => state.changePassphrase(p, n)));
    expect(state.list().map((s) => s.name)).toEqual(['KEPT']);
    expect(await onDisk('brand new passphrase')).toEqual({ KEPT: 'kept' });
    state.lock('request');
    expect(await codeOf(withPass(PASS, (p) => state.unlock(p)))).toBe('AUTH_FAILED');
    expect(await codeOf(withPass('brand new passphrase', (p) => state.unlock(p)))).toBe('resolved');
  });

  it('should take the documented 10,000 secrets while unlocked and refuse one more (issue 10, item 6)', async () => {
    const state = make();
    await withPass(PASS, (p) => state.unlock(p));
    const full = values(10_000, 24, 'S');
    try {
      expect(await codeOf(withPass(PASS, (p) => state.importSecrets(full, p)))).toBe('resolved');
    } finally {
      for (const item of full) item.value.wipe();
    }
    expect(state.snapshot().secrets).toBe(10_000);
    const one = values(1, 24, 'EXTRA');
    try {
      expect(await codeOf(withPass(PASS, (p) => state.importSecrets(one, p)))).toBe('BUDGET_EXCEEDED');
    } finally {
      one[0]?.value.wipe();
    }
    expect(state.snapshot().secrets).toBe(10_000);
  }, 120_000);

  it('should hold the 64 MiB budget while locked, at the limit and one byte past it, and still unlock', async () => {
    const state = make();
    // 1,024 values of 64 KiB: exactly the budget.
    const full = values(1024, 65_536, 'BIG');
    try {
      expect(await codeOf(withPass(PASS, (p) => state.importSecrets(full, p)))).toBe('resolved');
    } finally {
      for (const item of full) item.value.wipe();
    }
    const one = values(1, 1, 'ONE_BYTE');
    try {
      expect(await codeOf(withPass(PASS, (p) => state.importSecrets(one, p)))).toBe('BUDGET_EXCEEDED');
    } finally {
      one[0]?.value.wipe();
    }
    expect(await codeOf(withPass(PASS, (p) => state.unlock(p)))).toBe('resolved');
    expect(state.snapshot().secrets).toBe(1024);
  }, 120_000);

  it('should refuse bad durations with RangeError', () => {
    expect(() => new ServiceState({ vaultPath: vault, history, idleTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => new ServiceState({ vaultPath: vault, history, lifetimeMs: 1.5 })).toThrow(RangeError);
  });
});
