// SPDX-License-Identifier: AGPL-3.0-only
// architecture §12: unlock total ≤ 1.15 × the Argon2id cost alone, with 1,000 secrets.
// Measures readVault (read file → header checks → Argon2id → decrypt into secure memory →
// decode into SecretBufs) against a bare crypto.argon2 call with the same parameters, runs
// interleaved so machine drift hits both equally. Usage: pnpm --filter @cora/bench open-vault
import { argon2, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KDF_FLOOR, createVault, readVault } from '@cora/crypto-format';
import { SecretBuf, wipeSecretsBlock, type SecretEntry } from '@cora/memstore';

const argon2Async = promisify(argon2);
// Wiped SecretBufs are unmapped by GC finalizers; collect before each timing so one case's
// clean-up (10,000 buffers) is not billed to the next one. Run with --expose-gc.
// Finalizers run after the collection, so also let the event loop turn before timing.
const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => undefined);
async function settle(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
}
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);
const SIZES = [1, 1_000, 10_000];

async function bareArgon2(): Promise<number> {
  const salt = randomBytes(16);
  const start = performance.now();
  const key = await argon2Async('argon2id', {
    message: Buffer.from('benchmark passphrase'),
    nonce: salt,
    parallelism: KDF_FLOOR.p,
    memory: KDF_FLOOR.m,
    passes: KDF_FLOOR.t,
    tagLength: 32,
  });
  const elapsed = performance.now() - start;
  key.fill(0);
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const dir = mkdtempSync(join(tmpdir(), 'cora-bench-'));
const passphrase = SecretBuf.from(Buffer.from('benchmark passphrase'));
try {
  const vaults = new Map<number, string>();
  for (const count of SIZES) {
    const entries: SecretEntry[] = [];
    const now = Date.now();
    for (let i = 0; i < count; i += 1) {
      entries.push({ name: `SECRET_${i}`, value: SecretBuf.random(48), created: now, updated: now });
    }
    const path = join(dir, `v${count}`, 'vault.cora');
    mkdirSync(join(dir, `v${count}`), { mode: 0o700 });
    const block = {
      entries,
      auditKey: SecretBuf.random(32),
      json: new TextEncoder().encode('{"policy":{},"meta":{}}'),
    };
    await createVault(path, block, passphrase);
    wipeSecretsBlock(block);
    vaults.set(count, path);
  }

  await bareArgon2(); // warm-up: first call pays thread-pool start-up
  const bare: number[] = [];
  const open = new Map<number, number[]>(SIZES.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    await settle();
    bare.push(await bareArgon2());
    for (const [count, path] of vaults) {
      await settle();
      const start = performance.now();
      const block = await readVault(path, passphrase);
      open.get(count)!.push(performance.now() - start);
      wipeSecretsBlock(block);
    }
  }

  const base = median(bare);
  const rows = [{ case: 'bare Argon2id (t=3, m=64 MiB, p=4)', ms: base, ratio: 1 }];
  for (const [count, times] of open) {
    rows.push({
      case: `readVault, ${count} secret${count === 1 ? '' : 's'}`,
      ms: median(times),
      ratio: median(times) / base,
    });
  }
  console.log(`open-vault: median of ${ROUNDS} rounds, node ${process.version}, ${new Date().toISOString()}`);
  for (const row of rows) {
    console.log(`${row.case.padEnd(40)} ${row.ms.toFixed(1).padStart(8)} ms  ${row.ratio.toFixed(3)}×`);
  }
  const target = rows.find((r) => r.case.startsWith('readVault, 1000 '))!;
  console.log(
    `target ≤ 1.15× with 1,000 secrets: ${target.ratio <= 1.15 ? 'met' : 'MISSED'} (${target.ratio.toFixed(3)}×)`,
  );
  writeFileSync(
    new URL('../results/open-vault.json', import.meta.url),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds: ROUNDS, rows }, null, 2) +
      '\n',
  );
} finally {
  passphrase.wipe();
  rmSync(dir, { recursive: true, force: true });
}
