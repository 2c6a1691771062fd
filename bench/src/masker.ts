// SPDX-License-Identifier: AGPL-3.0-only
// architecture §12 and issue 13 §4: masking ≥ 500 MB/s through the masker with 100 secrets.
// 100 random 32-byte secrets (printable like API tokens, or random bytes with BENCH_BINARY=1),
// BENCH_MIB of random printable data with a planted value (raw, hex or base64) about every MiB,
// pushed in BENCH_CHUNK_KIB chunks (default 256 KiB: what the service reads from a child's
// output pipe at once when the child writes faster than it is read, spawn.ts OUTPUT_PIPE_BYTES;
// 64 KiB is a default-sized pipe's most). Each round times, in alternating order over the
// same data, the masker (push + flush) and two floors: `copy`, each chunk copied into a fresh
// array (the least a masker that returns new arrays does), and `indexOf`, one Buffer.indexOf of
// a single 32-byte value per chunk plus that copy (native search for one pattern). The figures
// are medians over the rounds, and the masker's rate over the floors' paired round by round.
// Checks that every planted value was concealed. Results are written to results/masker.json.
// Usage: pnpm --filter @cora/bench masker
//   BENCH_MIB=64 BENCH_ROUNDS=7 BENCH_BINARY=1 BENCH_CHUNK_KIB=256
//   BENCH_MASKER=path/to/index.ts   a masker other than @cora/masker (e.g. an older build)
import { randomBytes, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SecretBuf } from '@cora/memstore';
import type * as MaskerModule from '@cora/masker';

const TOTAL_MIB = Number(process.env['BENCH_MIB'] ?? 64);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 7);
const BINARY = process.env['BENCH_BINARY'] === '1';
const OTHER = process.env['BENCH_MASKER'];
const SECRETS = 100;
const CHUNK = Number(process.env['BENCH_CHUNK_KIB'] ?? 256) * 1024;
const PRINTABLE = Buffer.from(
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,.;:-_=+/"{}[]()\n\t',
);

const { createMasker } = (await import(
  OTHER === undefined ? '@cora/masker' : pathToFileURL(resolve(process.env['INIT_CWD'] ?? '.', OTHER)).href
)) as typeof MaskerModule;

function printable(length: number): Buffer {
  const out = randomBytes(length);
  for (let i = 0; i < length; i += 1) out[i] = PRINTABLE[out[i]! % PRINTABLE.length]!;
  return out;
}

const plain = Array.from({ length: SECRETS }, () => (BINARY ? randomBytes(32) : printable(32)));
const secrets = plain.map((value, i) => ({ name: `SECRET_${i}`, value: SecretBuf.from(value) }));

const data = printable(TOTAL_MIB * 1024 * 1024);
let planted = 0;
for (let at = 4096; at + 128 < data.length; at += 1024 * 1024) {
  const value = plain[randomInt(SECRETS)]!;
  const form = [value, Buffer.from(value.toString('hex')), Buffer.from(value.toString('base64'))][
    planted % 3
  ]!;
  form.copy(data, at);
  planted += 1;
}

const rss0 = process.memoryUsage().rss;
const buildStart = performance.now();
const masker = createMasker(secrets);
const buildMs = performance.now() - buildStart;
// The masker's tables are in secure memory, written while it is built: this is their size,
// give or take the allocator's pages.
const buildRssMiB = (process.memoryUsage().rss - rss0) / 2 ** 20;

/** One pass over the data; `each` returns what the caller would emit for a chunk. */
type Case = (chunk: Buffer) => Uint8Array;
const needle = Buffer.from(plain[0]!);
const cases: Record<string, { each: Case; end?: () => Uint8Array }> = {
  copy: { each: (chunk) => copy(chunk) },
  indexOf: {
    each: (chunk) => {
      if (chunk.indexOf(needle) === -2) throw new Error('unreachable');
      return copy(chunk);
    },
  },
  masker: { each: (chunk) => masker.push(chunk), end: () => masker.flush() },
};

function copy(chunk: Buffer): Uint8Array {
  const out = new Uint8Array(Buffer.allocUnsafeSlow(chunk.length).buffer, 0, chunk.length);
  out.set(chunk);
  return out;
}

/** Wall-clock and CPU MB/s of one pass (outputs kept 64 at a time, like a socket queue). */
function pass(name: string): { wall: number; cpu: number } {
  const { each, end } = cases[name]!;
  const outputs: Uint8Array[] = [];
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  for (let at = 0; at < data.length; at += CHUNK) {
    outputs.push(each(data.subarray(at, at + CHUNK)));
    if (outputs.length === 64) outputs.length = 0;
  }
  if (end !== undefined) outputs.push(end());
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const mb = data.length / 1e6;
  return { wall: mb / seconds, cpu: mb / ((cpu.user + cpu.system) / 1e6) };
}

// Warm-up: one pass each, so the JIT has compiled every loop before timing.
for (const name of Object.keys(cases)) pass(name);
const runs: Record<string, { wall: number; cpu: number }[]> = { copy: [], indexOf: [], masker: [] };
for (let round = 0; round < ROUNDS; round += 1) {
  const order = Object.keys(cases);
  if (round % 2 === 1) order.reverse();
  for (const name of order) runs[name]!.push(pass(name));
}
masker.dispose();

// Count tags in a separate pass so the timing above is the masker alone.
let tags = 0;
const check = createMasker(secrets);
const countTags = (bytes: Uint8Array): void => {
  for (let i = bytes.indexOf(0x3c); i !== -1; i = bytes.indexOf(0x3c, i + 1)) {
    if (bytes[i + 1] === 0x63 && bytes[i + 2] === 0x6f && bytes[i + 3] === 0x6e) tags += 1; // "<con"
  }
};
for (let at = 0; at < data.length; at += CHUNK) countTags(check.push(data.subarray(at, at + CHUNK)));
countTags(check.flush());
check.dispose();
for (const s of secrets) s.value.wipe();

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const summary = Object.fromEntries(
  Object.entries(runs).map(([name, list]) => [
    name,
    { wall: median(list.map((r) => r.wall)), cpu: median(list.map((r) => r.cpu)) },
  ]),
);
const ratio = (floor: string): number => median(runs['masker']!.map((r, i) => r.cpu / runs[floor]![i]!.cpu));

console.log(
  `masker${OTHER === undefined ? '' : ` (${OTHER})`}: ${SECRETS} ${BINARY ? 'binary' : 'printable'} 32-byte secrets, ${TOTAL_MIB} MiB in ${CHUNK / 1024} KiB chunks, ${ROUNDS} paired rounds`,
);
console.log(`  table build: ${buildMs.toFixed(1)} ms, RSS +${buildRssMiB.toFixed(1)} MiB`);
for (const [name, { wall, cpu }] of Object.entries(summary)) {
  console.log(
    `  ${name.padEnd(8)} ${wall.toFixed(0).padStart(6)} MB/s wall, ${cpu.toFixed(0).padStart(6)} MB/s per CPU second`,
  );
}
console.log(
  `  masker / copy ${ratio('copy').toFixed(2)}, masker / indexOf ${ratio('indexOf').toFixed(2)} (per CPU second, paired; target ≥ 500 MB/s)`,
);
console.log(`  planted ${planted}, concealed ${tags}`);
writeFileSync(
  new URL('../results/masker.json', import.meta.url),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      masker: OTHER ?? '@cora/masker',
      secrets: SECRETS,
      binary: BINARY,
      mib: TOTAL_MIB,
      chunkKiB: CHUNK / 1024,
      rounds: ROUNDS,
      buildMs,
      buildRssMiB,
      mbPerSecond: summary,
      maskerOverCopy: ratio('copy'),
      maskerOverIndexOf: ratio('indexOf'),
      runs,
      planted,
      concealed: tags,
    },
    null,
    2,
  )}\n`,
);
if (tags < planted) {
  console.error('FAIL: a planted value was not concealed');
  process.exitCode = 1;
}
