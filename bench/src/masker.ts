// SPDX-License-Identifier: AGPL-3.0-only
// architecture §12: masking ≥ 300 MB/s through the masker with 100 secrets.
// 100 random 32-byte secrets (printable like API tokens, or random bytes with BENCH_BINARY=1),
// 256 MiB of random printable data with a planted value (raw, hex or base64) about every MiB,
// pushed in 64 KiB chunks (a pipe read's size). Times push + flush only; checks that every
// planted value was concealed.
// Results are written to results/masker.json.
// Usage: pnpm --filter @cora/bench masker   (BENCH_MIB=256, BENCH_BINARY=1)
import { randomBytes, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { SecretBuf } from '@cora/memstore';
import { createMasker } from '@cora/masker';

const TOTAL_MIB = Number(process.env['BENCH_MIB'] ?? 256);
const BINARY = process.env['BENCH_BINARY'] === '1';
const SECRETS = 100;
const CHUNK = 64 * 1024;
const PRINTABLE = Buffer.from(
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,.;:-_=+/"{}[]()\n\t',
);

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

const buildStart = performance.now();
const masker = createMasker(secrets);
const buildMs = performance.now() - buildStart;

let outBytes = 0;
let tags = 0;
const countTags = (bytes: Uint8Array): void => {
  outBytes += bytes.length;
  for (let i = bytes.indexOf(0x3c); i !== -1; i = bytes.indexOf(0x3c, i + 1)) {
    if (bytes[i + 1] === 0x63 && bytes[i + 2] === 0x6f && bytes[i + 3] === 0x6e) tags += 1; // "<con"
  }
};
// Warm-up on the first 16 MiB, so the JIT has compiled the scan loop before timing.
for (let at = 0; at < 16 * 1024 * 1024; at += CHUNK) masker.push(data.subarray(at, at + CHUNK));
masker.flush();

const start = performance.now();
const cpu0 = process.cpuUsage();
const outputs: Uint8Array[] = [];
for (let at = 0; at < data.length; at += CHUNK) {
  outputs.push(masker.push(data.subarray(at, at + CHUNK)));
  if (outputs.length === 64) outputs.length = 0;
}
outputs.push(masker.flush());
const seconds = (performance.now() - start) / 1000;
// CPU time of this process over the same span (user + system, the mprotect calls included):
// on a shared machine the wall-clock figure mostly measures the other processes.
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
masker.dispose();

// Count tags in a second pass so the timing above is the masker alone.
const check = createMasker(secrets);
for (let at = 0; at < data.length; at += CHUNK) countTags(check.push(data.subarray(at, at + CHUNK)));
countTags(check.flush());
check.dispose();
for (const s of secrets) s.value.wipe();

const mb = data.length / 1e6;
console.log(
  `masker: ${SECRETS} ${BINARY ? 'binary' : 'printable'} 32-byte secrets, ${TOTAL_MIB} MiB in ${CHUNK / 1024} KiB chunks`,
);
console.log(`  table build: ${buildMs.toFixed(1)} ms`);
console.log(`  throughput: ${(mb / seconds).toFixed(0)} MB/s (${seconds.toFixed(2)} s; target ≥ 300 MB/s)`);
console.log(
  `  per CPU second: ${(mb / cpuSeconds).toFixed(0)} MB/s (${cpuSeconds.toFixed(2)} s CPU, ${((100 * cpuSeconds) / seconds).toFixed(0)} % of the wall time)`,
);
console.log(`  planted ${planted}, concealed ${tags}, output ${outBytes} bytes`);
writeFileSync(
  new URL('../results/masker.json', import.meta.url),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      secrets: SECRETS,
      binary: BINARY,
      mib: TOTAL_MIB,
      buildMs,
      mbPerSecond: mb / seconds,
      mbPerCpuSecond: mb / cpuSeconds,
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
