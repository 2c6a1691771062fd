// SPDX-License-Identifier: AGPL-3.0-only
// Issue 4 / architecture §12: `cr exec` latency.
// 1. Service side: request received → child running (posix_spawn returned, so the child has
//    exec'd: CLONE_VFORK), p50/p99 with 1 and 32 concurrent clients, including the fsynced
//    `task-start` audit record that must be on disk before any secret is copied. The exec handler runs in
//    this process behind a real @cora/ipc server; its `onSpawned` hook reports each spawn.
//    Targets: 2 ms / 10 ms.
// 2. End to end: the built `bin/cr exec TASK -- true` against a real unlocked service (a temp
//    home, one secret, a policy written into the vault), median of 30, against `node -e 0`.
//    Target: +25 ms.
// Usage: pnpm --filter @cora/daemon run build && pnpm --filter @cora/bench exec-latency
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { updateVault } from '@cora/crypto-format';
import { peerIdentity } from '@cora/identity';
import { IpcError, connectIpc, createIpcServer, type IpcClient, type IpcHandlers } from '@cora/ipc';
import { SecretBuf } from '@cora/memstore';
import { parsePolicy } from '@cora/policy';
import { AuditLog } from '@cora/audit';
import { Approvals } from '../../apps/daemon/src/service/approvals.ts';
import { ServiceAudit } from '../../apps/daemon/src/service/audit.ts';
import { createExecHandler } from '../../apps/daemon/src/service/exec-handler.ts';
import type { Peer } from '../../apps/daemon/src/service/peer.ts';

const SPAWNS_PER_CLIENT = Number(process.env['BENCH_SPAWNS'] ?? 200);
const E2E_RUNS = 30;
const APP_DIR = fileURLToPath(new URL('../../apps/daemon/', import.meta.url));
const CR = join(APP_DIR, 'bin', 'cr');

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Service-side spawn latency, the client's whole exec round trip, and spawns per second. */
interface SideFigures {
  p50: number;
  p99: number;
  roundP50: number;
  perSecond: number;
}

async function serviceSide(): Promise<Record<string, SideFigures>> {
  const dir = mkdtempSync(join(tmpdir(), 'cora-bench-exec-'));
  const policy = parsePolicy({
    version: 1,
    callers: [],
    tasks: { t: { secrets: ['SECRET'], targets: ['/usr/bin/true'] } },
  });
  const value = Buffer.from('bench-secret-value-0123456789abcdef');
  let times: number[] = [];
  // The real audit log on the real disk (fsync): `task-start` is durable before each spawn.
  const auditLog = await AuditLog.open({ dir });
  const refuse = (): Promise<never> => Promise.reject(new IpcError('NOT_ALLOWED', 'bench'));
  const handlers: IpcHandlers<Peer> = {
    status: refuse,
    lock: refuse,
    unlock: refuse,
    init: refuse,
    'secrets.list': refuse,
    'secrets.set': refuse,
    'secrets.delete': refuse,
    'secrets.import': refuse,
    passwd: refuse,
    exec: createExecHandler(
      {
        policy: () => policy,
        unlockedAt: () => Date.now(),
        secretsFor: (names) => names.map((name) => ({ name, value: SecretBuf.from(value) })),
        missingSecret: () => null,
      },
      new ServiceAudit(auditLog, () => undefined),
      new Approvals(),
      { onSpawned: (ms) => times.push(ms) },
    ),
  };
  const server = await createIpcServer<Peer>({
    socketPath: join(dir, 's.sock'),
    authenticate: async (socket) => ({ verified: await peerIdentity(socket), isCli: true }),
    handlers,
    // One caller (this process) opens 32 connections: lift the per-caller token bucket.
    limits: { rate: { capacity: 100_000, refillPerSecond: 100_000 } },
    onDisconnect: (peer) => {
      peer.verified.close();
    },
  });
  const params = { task: 't', argv: ['true'], cwd: dir, env: { PATH: '/usr/bin:/bin' } };
  const once = async (client: IpcClient): Promise<void> => {
    const run = client.exec(params);
    await run.end();
    await run.done;
  };
  const out: Record<string, SideFigures> = {};
  try {
    for (const concurrency of [1, 32]) {
      const clients = await Promise.all(
        Array.from({ length: concurrency }, () => connectIpc({ socketPath: server.path })),
      );
      for (const client of clients) for (let i = 0; i < 5; i++) await once(client); // warm-up
      times = [];
      const rounds: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        clients.map(async (client) => {
          for (let i = 0; i < SPAWNS_PER_CLIENT / Math.min(concurrency, 8); i++) {
            const r0 = performance.now();
            await once(client);
            rounds.push(performance.now() - r0);
          }
        }),
      );
      const elapsed = performance.now() - t0;
      for (const client of clients) client.close();
      const sorted = [...times].sort((a, b) => a - b);
      const whole = [...rounds].sort((a, b) => a - b);
      out[`clients=${String(concurrency)}`] = {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        roundP50: percentile(whole, 50),
        perSecond: (times.length / elapsed) * 1000,
      };
    }
  } finally {
    await server.close();
    await auditLog.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function timeRun(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { env, stdio: ['pipe', 'ignore', 'inherit'] });
    child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}`));
      else resolve(performance.now() - start);
    });
  });
}

async function median(fn: () => Promise<number>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn(); // warm-up (page cache)
  const samples: number[] = [];
  for (let i = 0; i < E2E_RUNS; i++) samples.push(await fn());
  samples.sort((a, b) => a - b);
  return percentile(samples, 50);
}

async function endToEnd(): Promise<{ cr: number; crVersion: number; node: number }> {
  const home = mkdtempSync(join(tmpdir(), 'cora-bench-e2e-'));
  const run = join(home, 'run');
  mkdirSync(run, { mode: 0o700 });
  const passFile = join(home, 'pass');
  const passphrase = 'bench passphrase, long enough';
  writeFileSync(passFile, `${passphrase}\n`, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    CORA_HOME: join(home, '.cora'),
    XDG_RUNTIME_DIR: run,
    CORA_NODE: process.execPath,
  };
  delete env['NODE_OPTIONS'];
  const cr = (args: string[], input = ''): void => {
    const r = spawnSync(CR, args, { env, input, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cr ${args.join(' ')}: ${r.stderr}`);
  };
  try {
    cr(['init', '--passphrase-file', passFile]);
    cr(['secrets', 'set', 'SECRET', '--passphrase-file', passFile], 'bench-secret-value-0123456789');
    cr(['lock']);
    const pass = SecretBuf.from(Buffer.from(passphrase));
    try {
      await updateVault(join(home, '.cora', 'vault.cora'), pass, (block) => {
        const json = JSON.parse(new TextDecoder().decode(block.json)) as Record<string, unknown>;
        const policy = {
          version: 1,
          callers: [],
          tasks: { t: { secrets: ['SECRET'], targets: ['/usr/bin/true'] } },
        };
        return { ...block, json: new TextEncoder().encode(JSON.stringify({ ...json, policy })) };
      });
    } finally {
      pass.wipe();
    }
    cr(['unlock', '--passphrase-file', passFile]);
    const crMs = await median(() => timeRun(CR, ['exec', 't', '--', 'true'], env));
    // `cr version` does no IPC: what bin/cr and loading dist/cli.js cost on their own.
    const versionMs = await median(() => timeRun(CR, ['version'], env));
    const nodeMs = await median(() => timeRun(process.execPath, ['-e', '0'], env));
    return { cr: crMs, crVersion: versionMs, node: nodeMs };
  } finally {
    spawnSync(CR, ['lock'], { env });
    const status = spawnSync(CR, ['status', '--json'], { env, encoding: 'utf8' });
    const pid = (JSON.parse(status.stdout || '{}') as { pid?: number | null }).pid;
    if (typeof pid === 'number') process.kill(pid, 'SIGTERM');
    rmSync(home, { recursive: true, force: true });
  }
}

const service = await serviceSide();
console.log('service side: request received → child running (ms); whole exec round trip; spawns/s');
for (const [name, { p50, p99, roundP50, perSecond }] of Object.entries(service)) {
  console.log(
    `  ${name.padEnd(11)} p50 ${p50.toFixed(3)}  p99 ${p99.toFixed(3)}  round trip p50 ${roundP50.toFixed(2)}  ${perSecond.toFixed(0)}/s`,
  );
}
const e2e = await endToEnd();
console.log(
  `end to end (median of ${String(E2E_RUNS)}): cr exec t -- true ${e2e.cr.toFixed(1)} ms, node -e 0 ${e2e.node.toFixed(1)} ms, overhead +${(e2e.cr - e2e.node).toFixed(1)} ms (cr version alone ${e2e.crVersion.toFixed(1)} ms)`,
);
writeFileSync(
  new URL('../results/exec-latency.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, service, e2e }, null, 2)}\n`,
);
