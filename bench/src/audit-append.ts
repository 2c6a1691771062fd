// SPDX-License-Identifier: AGPL-3.0-only
// Issue 5: audit append throughput with fsync, 1 writer (awaiting each append) and 32
// concurrent writers (32 loops awaiting theirs), key set, on a temp dir on the real disk
// (BENCH_DIR, default the OS temp dir; check it is not a tmpfs). Group commit is what lets
// 32 writers share one write+fsync per batch.
// Usage: pnpm --filter @cora/bench audit-append   (BENCH_SECONDS=3, BENCH_DIR=/var/tmp)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, verifyLog, type AuditEvent } from '@cora/audit';
import { SecretBuf } from '@cora/memstore';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);

/** fsyncs made through Node's FileHandle (the log's group commit is one per batch). */
let fsyncCount = 0;
{
  const probe = await open('/dev/null', 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: FileHandle['sync'] };
  await probe.close();
  const sync = proto.sync;
  proto.sync = function (this: FileHandle): Promise<void> {
    fsyncCount += 1;
    return sync.call(this);
  };
}
const BASE = process.env['BENCH_DIR'] ?? tmpdir();

const caller = {
  pid: 4242,
  uid: 1000,
  exe: '/usr/bin/node',
  script: '/home/me/agent.js',
  parentPid: 4000,
  parentExe: '/usr/bin/bash',
  cli: false,
};
const event: AuditEvent = {
  type: 'task-start',
  caller,
  task: 'deploy',
  target: '/usr/bin/git',
  secrets: ['GITHUB_TOKEN', 'NPM_TOKEN'],
  output: 'masked',
  reason: 'ALLOWED',
  weak: false,
};

interface Row {
  readonly name: string;
  readonly writers: number;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly fsyncs: number;
  readonly eventsPerFsync: number;
}

async function run(writers: number, key: SecretBuf): Promise<Row> {
  const dir = mkdtempSync(join(BASE, 'cora-bench-audit-'));
  try {
    const log = await AuditLog.open({ dir, maxBytes: 512 * 1024 * 1024 });
    log.setKey(key);
    await log.append({ type: 'unlock', caller: { ...caller, cli: true }, secrets: 2 });
    for (let i = 0; i < 200; i++) await log.append(event); // warm-up
    const fsyncs0 = fsyncCount;
    let events = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (performance.now() < deadline) {
          await log.append(event);
          events += 1;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const fsyncs = fsyncCount - fsyncs0;
    await log.close();
    const report = await verifyLog(dir, { key });
    if (!report.ok) throw new Error(`log does not verify: ${JSON.stringify(report.firstProblem)}`);
    return {
      name: `${String(writers)} writer${writers === 1 ? '' : 's'}, fsync`,
      writers,
      events,
      seconds,
      eventsPerSecond: Math.round(events / seconds),
      fsyncs,
      eventsPerFsync: Number((events / fsyncs).toFixed(1)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const key = SecretBuf.random(32);
const rows = [await run(1, key), await run(32, key)];
key.wipe();
console.log(
  `audit-append: ${String(SECONDS)} s per case in ${BASE}, node ${process.version}, ${new Date().toISOString()}`,
);
console.table(
  rows.map(({ name, eventsPerSecond, fsyncs, eventsPerFsync }) => ({
    case: name,
    'events/s': eventsPerSecond,
    fsyncs,
    'events/fsync': eventsPerFsync,
  })),
);
writeFileSync(
  new URL('../results/audit-append.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, dir: BASE, seconds: SECONDS, rows }, null, 2)}\n`,
);
