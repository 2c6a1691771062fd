// SPDX-License-Identifier: AGPL-3.0-only
// Issue 4 / architecture §12: exec latency, through the real service, against spawning the
// same binary directly.
// The built service (apps/daemon/dist, started by `cr`) in a throw-away CORA_HOME: a vault
// initialised and unlocked, one secret, a task `t` running /usr/bin/true with it, and this
// script (under this Node) allowed as a caller. Everything after that goes through the
// public `@cora/ipc` client, as an integrator's agent would: connect (the client checks the
// socket and the server's uid first), then `client.exec()` for task `t`.
// 1. One client: N paired rounds of [child_process.spawn('/usr/bin/true'), client.exec(t)],
//    in alternating order. Measured per round: to "running" (the floor's `spawn` event; the
//    service's `started` event, so policy, the fsynced `task-start` audit record, the secret
//    copies, posix_spawn and the reply are in it) and to "done" (the floor's `close`; the
//    exec's exit status, after the masked output has been drained).
// 2. 32 clients: rounds of 32 concurrent direct spawns, then 32 concurrent execs (one per
//    connection), alternating which goes first.
// 3. The CLI: `cr exec t -- true`, `cr status` and `cr version` whole against `node -e 0`,
//    paired the same way (the start-up budget of issue 14).
// 4. Output: task `big` injects 100 printable 32-byte secrets and runs /bin/cat on a file of
//    BENCH_OUTPUT_MIB random printable bytes; MB/s of masked output received by client.exec,
//    paired with the same cat read directly by this process (issue 13's ≥ 500 MB/s, measured
//    through the service: pipe, masker, frames, socket and client).
// Figures are medians and p99s, and the ratio Cora / floor of each. Written to
// results/exec-latency.json.
// Usage: pnpm run build && pnpm --filter @cora/bench exec-latency
//   (BENCH_ROUNDS=300 paired rounds for 1 client, BENCH_BURSTS=20 rounds of 32, BENCH_E2E=30,
//   BENCH_OUTPUT_MIB=128 and BENCH_OUTPUT_ROUNDS=5 for the output case, 0 rounds to skip it)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectIpc, socketPath, type IpcClient } from '@cora/ipc';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 300);
const BURSTS = Number(process.env['BENCH_BURSTS'] ?? 20);
const E2E_RUNS = Number(process.env['BENCH_E2E'] ?? 30);
const OUTPUT_MIB = Number(process.env['BENCH_OUTPUT_MIB'] ?? 128);
const OUTPUT_ROUNDS = Number(process.env['BENCH_OUTPUT_ROUNDS'] ?? 5);
const OUTPUT_SECRETS = 100;
const CAT = '/bin/cat';
const CONCURRENCY = 32;
const TARGET = '/usr/bin/true';
const APP_DIR = fileURLToPath(new URL('../../apps/daemon/', import.meta.url));
const CR = join(APP_DIR, 'bin', 'cr');

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** p50 and p99 of one series, ms. */
interface Stats {
  p50: number;
  p99: number;
}

function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/** One run: ms to "running" and to "done". */
interface Timing {
  running: number;
  done: number;
}

/** The floor: the same binary spawned by this process, no Cora in between. */
function direct(): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let running = NaN;
    const child = spawn(TARGET, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    child.stdout.resume();
    child.stderr.resume();
    child.once('spawn', () => (running = performance.now() - start));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`${TARGET} exited ${String(code)}`));
      else resolve({ running, done: performance.now() - start });
    });
  });
}

/** The same binary as task `t`, through the service, over the public client. */
async function viaService(client: IpcClient, cwd: string): Promise<Timing> {
  const start = performance.now();
  let running = NaN;
  const run = client.exec(
    { task: 't', argv: [TARGET], cwd, env: { PATH: '/usr/bin:/bin' } },
    { onStarted: () => (running = performance.now() - start) },
  );
  await run.end();
  const { code } = await run.done;
  if (code !== 0) throw new Error(`exec t exited ${String(code)}`);
  return { running, done: performance.now() - start };
}

/** Both sides of a paired measurement, with the ratio Cora / floor at p50 and p99. */
interface Paired {
  floor: { running: Stats; done: Stats };
  cora: { running: Stats; done: Stats };
  ratio: { running: Stats; done: Stats };
}

function paired(floor: readonly Timing[], cora: readonly Timing[]): Paired {
  const side = (runs: readonly Timing[]): { running: Stats; done: Stats } => ({
    running: stats(runs.map((r) => r.running)),
    done: stats(runs.map((r) => r.done)),
  });
  const f = side(floor);
  const c = side(cora);
  const ratio = (a: Stats, b: Stats): Stats => ({ p50: a.p50 / b.p50, p99: a.p99 / b.p99 });
  return { floor: f, cora: c, ratio: { running: ratio(c.running, f.running), done: ratio(c.done, f.done) } };
}

/** A throw-away home with a running, unlocked service, task `t` and this script allowed. */
interface Home {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  cr(args: readonly string[], input?: string): string;
  remove(): void;
}

function makeHome(): Home {
  if (!existsSync(join(APP_DIR, 'dist', 'cli.js'))) {
    throw new Error('apps/daemon/dist is missing: run `pnpm run build` first');
  }
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'cora-bench-exec-')));
  const run = join(dir, 'run');
  mkdirSync(run, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    CORA_HOME: join(dir, '.cora'),
    XDG_RUNTIME_DIR: run,
    CORA_NODE: process.execPath,
  };
  delete env['NODE_OPTIONS'];
  const passFile = join(dir, 'pass');
  writeFileSync(passFile, 'bench passphrase, long enough\n', { mode: 0o600 });
  const cr = (args: readonly string[], input = ''): string => {
    const r = spawnSync(CR, [...args], { env, input, cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cr ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const pass = ['--passphrase-file', passFile];
  const home: Home = {
    dir,
    env,
    cr,
    remove: () => {
      try {
        const status = spawnSync(CR, ['status', '--json'], { env, encoding: 'utf8' });
        const pid = (JSON.parse(status.stdout || '{}') as { pid?: number | null }).pid;
        if (typeof pid === 'number') process.kill(pid, 'SIGTERM');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  try {
    cr(['init', ...pass]);
    cr(['unlock', ...pass]);
    cr(['secrets', 'set', 'SECRET', ...pass], 'bench-secret-value-0123456789abcdef');
    cr(['policy', 'task', 'add', 't', 'SECRET', '--target', TARGET, ...pass]);
    // Task `big`: 100 printable 32-byte values (imported from a .env file, then deleted).
    const names = Array.from({ length: OUTPUT_SECRETS }, (_, i) => `OUT_${String(i)}`);
    const dotenv = join(dir, 'big.env');
    writeFileSync(dotenv, names.map((name) => `${name}=${printable(32).toString()}\n`).join(''), {
      mode: 0o600,
    });
    cr(['secrets', 'import', dotenv, ...pass]);
    rmSync(dotenv);
    cr(['policy', 'task', 'add', 'big', ...names, '--target', CAT, ...pass]);
    // This process is a caller like any agent: its interpreter and script (architecture §6).
    const script = realpathSync(fileURLToPath(import.meta.url));
    cr(['policy', 'allow', realpathSync(process.execPath), '--script', script, ...pass]);
  } catch (error) {
    home.remove();
    throw error;
  }
  return home;
}

async function oneClient(home: Home): Promise<Paired> {
  const client = await connectIpc({ socketPath: socketPath(home.env), clientName: 'cora-bench' });
  try {
    for (let i = 0; i < 10; i++) {
      await direct();
      await viaService(client, home.dir);
    }
    const floor: Timing[] = [];
    const cora: Timing[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which goes first, so neither always runs on a warmer cache.
      if (i % 2 === 0) {
        floor.push(await direct());
        cora.push(await viaService(client, home.dir));
      } else {
        cora.push(await viaService(client, home.dir));
        floor.push(await direct());
      }
    }
    return paired(floor, cora);
  } finally {
    client.close();
  }
}

async function manyClients(home: Home): Promise<Paired & { perSecond: { floor: number; cora: number } }> {
  const clients = await Promise.all(
    Array.from({ length: CONCURRENCY }, () =>
      connectIpc({ socketPath: socketPath(home.env), clientName: 'cora-bench' }),
    ),
  );
  try {
    const burstFloor = (): Promise<Timing[]> => Promise.all(clients.map(() => direct()));
    const burstCora = (): Promise<Timing[]> => Promise.all(clients.map((c) => viaService(c, home.dir)));
    await burstFloor();
    await burstCora();
    const floor: Timing[] = [];
    const cora: Timing[] = [];
    let floorMs = 0;
    let coraMs = 0;
    const timed = async (burst: () => Promise<Timing[]>, into: Timing[]): Promise<number> => {
      const t0 = performance.now();
      into.push(...(await burst()));
      return performance.now() - t0;
    };
    for (let i = 0; i < BURSTS; i++) {
      if (i % 2 === 0) {
        floorMs += await timed(burstFloor, floor);
        coraMs += await timed(burstCora, cora);
      } else {
        coraMs += await timed(burstCora, cora);
        floorMs += await timed(burstFloor, floor);
      }
    }
    return {
      ...paired(floor, cora),
      perSecond: { floor: (floor.length / floorMs) * 1000, cora: (cora.length / coraMs) * 1000 },
    };
  } finally {
    for (const client of clients) client.close();
  }
}

/** ms for one whole process run to its exit. */
function timeRun(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { env, cwd, stdio: ['pipe', 'ignore', 'inherit'] });
    child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${String(code)}`));
      else resolve(performance.now() - start);
    });
  });
}

async function endToEnd(
  home: Home,
): Promise<{ cr: Stats; node: Stats; crVersion: Stats; crStatus: Stats; ratio: number }> {
  const cr = (): Promise<number> => timeRun(CR, ['exec', 't', '--', 'true'], home.env, home.dir);
  const node = (): Promise<number> => timeRun(process.execPath, ['-e', '0'], home.env, home.dir);
  // `cr version` does no IPC: what bin/cr and loading dist/cli.js cost on their own.
  const version = (): Promise<number> => timeRun(CR, ['version'], home.env, home.dir);
  // `cr status`: one IPC round trip, the command a status bar polls.
  const status = (): Promise<number> => timeRun(CR, ['status'], home.env, home.dir);
  for (let i = 0; i < 3; i++) {
    // Warm-up: the page cache holds Node, dist/ and node_modules (and the compile cache) after this.
    await node();
    await cr();
    await version();
    await status();
  }
  const samples = {
    cr: [] as number[],
    node: [] as number[],
    version: [] as number[],
    status: [] as number[],
  };
  for (let i = 0; i < E2E_RUNS; i++) {
    samples.node.push(await node());
    samples.cr.push(await cr());
    samples.version.push(await version());
    samples.status.push(await status());
  }
  const crStats = stats(samples.cr);
  const nodeStats = stats(samples.node);
  return {
    cr: crStats,
    node: nodeStats,
    crVersion: stats(samples.version),
    crStatus: stats(samples.status),
    ratio: crStats.p50 / nodeStats.p50,
  };
}

const TOKEN = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
const PRINTABLE = Buffer.concat([TOKEN, Buffer.from(' ,.;:=+/{}[]()\n')]);

/** Random bytes drawn from `alphabet` (an API token's characters by default, as the values). */
function printable(length: number, alphabet: Buffer = TOKEN): Buffer {
  const out = randomBytes(length);
  for (let i = 0; i < length; i += 1) out[i] = alphabet[(out[i] ?? 0) % alphabet.length] ?? 0x41;
  return out;
}

/** MB/s of one run: the bytes received over the wall-clock time from start to exit. */
async function catDirect(file: string): Promise<number> {
  const start = performance.now();
  let bytes = 0;
  const child = spawn(CAT, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  await new Promise((resolve) => child.once('close', resolve));
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

async function catViaService(client: IpcClient, cwd: string, file: string): Promise<number> {
  const start = performance.now();
  let bytes = 0;
  const run = client.exec(
    { task: 'big', argv: [CAT, file], cwd, env: { PATH: '/usr/bin:/bin' } },
    { onStdout: (chunk) => (bytes += chunk.length) },
  );
  await run.end();
  const { code } = await run.done;
  if (code !== 0) throw new Error(`exec big exited ${String(code)}`);
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

async function output(
  home: Home,
): Promise<{ floor: number; cora: number; ratio: number; rounds: number[][] }> {
  const file = join(home.dir, 'output.txt');
  writeFileSync(file, printable(OUTPUT_MIB * 2 ** 20, PRINTABLE));
  const client = await connectIpc({ socketPath: socketPath(home.env), clientName: 'cora-bench' });
  try {
    await catDirect(file);
    await catViaService(client, home.dir, file);
    const rounds: number[][] = [];
    for (let i = 0; i < OUTPUT_ROUNDS; i++) {
      // [floor, cora], run in alternating order.
      rounds.push(
        i % 2 === 0
          ? [await catDirect(file), await catViaService(client, home.dir, file)]
          : [await catViaService(client, home.dir, file), await catDirect(file)].reverse(),
      );
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    return {
      floor: median(rounds.map((r) => r[0] ?? NaN)),
      cora: median(rounds.map((r) => r[1] ?? NaN)),
      ratio: median(rounds.map((r) => (r[1] ?? NaN) / (r[0] ?? NaN))),
      rounds,
    };
  } finally {
    client.close();
    rmSync(file, { force: true });
  }
}

const ms = (n: number): string => n.toFixed(2);
function print(name: string, p: Paired): void {
  console.log(name);
  for (const phase of ['running', 'done'] as const) {
    const f = p.floor[phase];
    const c = p.cora[phase];
    const r = p.ratio[phase];
    console.log(
      `  to ${phase.padEnd(7)} spawn ${ms(f.p50)} / ${ms(f.p99)} ms   cora exec ${ms(c.p50)} / ${ms(c.p99)} ms   × ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)}  (p50 / p99)`,
    );
  }
}

const home = makeHome();
try {
  const single = await oneClient(home);
  print(`1 client, ${String(ROUNDS)} paired rounds`, single);
  const many = await manyClients(home);
  print(`${String(CONCURRENCY)} clients, ${String(BURSTS)} paired bursts`, many);
  console.log(
    `  throughput: spawn ${many.perSecond.floor.toFixed(0)}/s, cora exec ${many.perSecond.cora.toFixed(0)}/s`,
  );
  const e2e = await endToEnd(home);
  console.log(
    `cr exec t -- true ${ms(e2e.cr.p50)} ms against node -e 0 ${ms(e2e.node.p50)} ms (median of ${String(E2E_RUNS)}): × ${e2e.ratio.toFixed(2)}, +${ms(e2e.cr.p50 - e2e.node.p50)} ms (cr version alone ${ms(e2e.crVersion.p50)} ms)`,
  );
  console.log(
    `cr status ${ms(e2e.crStatus.p50)} ms: +${ms(e2e.crStatus.p50 - e2e.node.p50)} ms over node -e 0 (target +15 ms); cr exec target +10 ms`,
  );
  const out = OUTPUT_ROUNDS > 0 ? await output(home) : null;
  if (out !== null) {
    console.log(
      `output, ${String(OUTPUT_SECRETS)} secrets, ${String(OUTPUT_MIB)} MiB, ${String(OUTPUT_ROUNDS)} paired rounds: cat direct ${out.floor.toFixed(0)} MB/s, cora exec (masked) ${out.cora.toFixed(0)} MB/s, × ${out.ratio.toFixed(2)} (target ≥ 500 MB/s)`,
    );
  }
  writeFileSync(
    new URL('../results/exec-latency.json', import.meta.url),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        rounds: ROUNDS,
        bursts: BURSTS,
        oneClient: single,
        clients32: many,
        e2e,
        output: out,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  home.remove();
}
