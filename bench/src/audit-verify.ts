// SPDX-License-Identifier: AGPL-3.0-only
// Issue 5: verify speed in events/s over a 100k-record log (rotated into several files)
// with the key: every line parsed, schema-checked, re-serialised, hashed and HMAC-checked.
// Usage: pnpm --filter @cora/bench audit-verify   (BENCH_RECORDS=100000, BENCH_ROUNDS=3)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, verifyLog, type AuditEvent } from '@cora/audit';
import { SecretBuf } from '@cora/memstore';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 100_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const caller = {
  pid: 4242,
  uid: 1000,
  exe: '/usr/bin/node',
  script: '/home/me/agent.js',
  parentPid: 4000,
  parentExe: '/usr/bin/bash',
  cli: false,
};
const events: AuditEvent[] = [
  { type: 'connect', caller },
  {
    type: 'task-start',
    caller,
    task: 'deploy',
    target: '/usr/bin/git',
    secrets: ['GITHUB_TOKEN', 'NPM_TOKEN'],
    output: 'masked',
    reason: 'ALLOWED',
    weak: false,
  },
  { type: 'secret-injected', task: 'deploy', pid: 5000, secrets: ['GITHUB_TOKEN', 'NPM_TOKEN'] },
  { type: 'task-end', task: 'deploy', pid: 5000, code: 0, signal: null, durationMs: 812 },
];

const dir = mkdtempSync(join(process.env['BENCH_DIR'] ?? tmpdir(), 'cora-bench-audit-verify-'));
const key = SecretBuf.random(32);
try {
  // Written without fsync (this measures verify, not the writer), 8 MiB files as by default.
  const log = await AuditLog.open({ dir, fsync: false, keep: 1000 });
  log.setKey(key);
  await log.append({ type: 'unlock', caller: { ...caller, cli: true }, secrets: 2 });
  const batch: Promise<unknown>[] = [];
  for (let i = 1; i < RECORDS; i++) {
    batch.push(log.append(events[i % events.length]!));
    if (batch.length === 1000) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  const head = log.head();
  await log.close();

  const times: number[] = [];
  let report = await verifyLog(dir, { key, expectHead: head });
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    report = await verifyLog(dir, { key, expectHead: head });
    times.push(performance.now() - start);
  }
  if (!report.ok || report.records < RECORDS)
    throw new Error(`verify failed: ${JSON.stringify(report.firstProblem)}`);
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)]!;
  const noKeyStart = performance.now();
  await verifyLog(dir, { expectHead: head });
  const noKeyMs = performance.now() - noKeyStart;
  const row = {
    records: report.records,
    files: report.files.length,
    ms: Math.round(ms),
    eventsPerSecond: Math.round((report.records / ms) * 1000),
    eventsPerSecondNoKey: Math.round((report.records / noKeyMs) * 1000),
  };
  console.log(
    `audit-verify: median of ${String(ROUNDS)}, node ${process.version}, ${new Date().toISOString()}`,
  );
  console.table([row]);
  writeFileSync(
    new URL('../results/audit-verify.json', import.meta.url),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds: ROUNDS, ...row }, null, 2)}\n`,
  );
} finally {
  key.wipe();
  rmSync(dir, { recursive: true, force: true });
}
