// SPDX-License-Identifier: AGPL-3.0-only
// architecture §12: IPC round trip (status) within 2 × ssh-agent's request round trip.
// Server: a child process running @cora/ipc's server with the service's per-connection work
// (kernel identity via peerIdentity at connect, stillSame() before every request, schema
// checks both ways). Reference: ssh-agent answering REQUEST_IDENTITIES on its own socket.
// Both are measured from this process with the same loop: p50/p99 of sequential round trips on
// one connection, and requests/s with 1 and 32 concurrent clients.
// Then, from a Python client (ipc_client.py, issue 14), paired rounds against the same Cora
// server, a bare Node server with the same framing (echo-server.ts) and the same ssh-agent:
// p50/p99 of each, and Cora's p50 over the echo's (target ≤ 1.3×, p99 ≤ the echo's p99).
// Usage: pnpm --filter @cora/bench ipc-roundtrip   (BENCH_PY_ROUNDS=N rounds of 2,000, default 5)
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectIpc, type IpcClient } from '@cora/ipc';

const SEQUENTIAL = Number(process.env['BENCH_REQUESTS'] ?? 5000);
const CONCURRENT_SECONDS = 2;
const PY_ROUNDS = Number(process.env['BENCH_PY_ROUNDS'] ?? 5);
const PY_REQUESTS = 2000;

interface Client {
  roundTrip(): Promise<void>;
  close(): void;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latency(client: Client): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i += 1) await client.roundTrip(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i += 1) {
    const start = performance.now();
    await client.roundTrip();
    times.push((performance.now() - start) * 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function throughput(clients: Client[]): Promise<number> {
  let done = 0;
  const until = performance.now() + CONCURRENT_SECONDS * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < until) {
        await client.roundTrip();
        done += 1;
      }
    }),
  );
  return done / CONCURRENT_SECONDS;
}

// ssh-agent protocol (draft-miller-ssh-agent): u32 length | type. 11 = REQUEST_IDENTITIES,
// answered by 12 = IDENTITIES_ANSWER (an empty list here).
async function sshAgentClient(path: string): Promise<Client> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once('error', reject);
  });
  let waiting: (() => void) | null = null;
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const length = buffered.readUInt32BE(0);
      if (buffered[4] !== 12) throw new Error(`ssh-agent answered type ${buffered[4]}`);
      buffered = buffered.subarray(4 + length);
      const resolve = waiting;
      waiting = null;
      resolve?.();
    }
  });
  const request = Buffer.from([0, 0, 0, 1, 11]);
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        socket.write(request);
      }),
    close: () => socket.destroy(),
  };
}

async function coraClient(path: string): Promise<Client> {
  const client: IpcClient = await connectIpc({ socketPath: path, clientName: 'bench' });
  return {
    roundTrip: async () => {
      await client.request('status', {});
    },
    close: () => client.close(),
  };
}

function waitForLine(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${seen}`)));
  });
}

/** One run of the Python client: p50/p99 µs of `PY_REQUESTS` sequential round trips. */
async function python(kind: 'cora' | 'echo' | 'ssh', path: string): Promise<{ p50: number; p99: number }> {
  const script = new URL('./ipc_client.py', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)('python3', [script, kind, path, String(PY_REQUESTS)]);
  return JSON.parse(stdout) as { p50: number; p99: number };
}

/** Paired rounds, the order rotating each round; medians over rounds of each p50 and p99. */
async function pythonRows(
  paths: Record<'cora' | 'echo' | 'ssh', string>,
): Promise<Record<string, { p50: number; p99: number }>> {
  const kinds = ['echo', 'cora', 'ssh'] as const;
  const runs: Record<string, { p50: number[]; p99: number[] }> = {
    echo: { p50: [], p99: [] },
    cora: { p50: [], p99: [] },
    ssh: { p50: [], p99: [] },
  };
  for (let round = 0; round < PY_ROUNDS; round += 1) {
    for (let i = 0; i < kinds.length; i += 1) {
      const kind = kinds[(round + i) % kinds.length]!;
      const r = await python(kind, paths[kind]);
      runs[kind]!.p50.push(r.p50);
      runs[kind]!.p99.push(r.p99);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return Object.fromEntries(kinds.map((k) => [k, { p50: median(runs[k]!.p50), p99: median(runs[k]!.p99) }]));
}

async function measure(name: string, make: () => Promise<Client>): Promise<Record<string, number | string>> {
  const one = await make();
  const { p50, p99 } = await latency(one);
  const single = await throughput([one]);
  one.close();
  const many = await Promise.all(Array.from({ length: 32 }, make));
  const multi = await throughput(many);
  for (const c of many) c.close();
  return { name, p50us: p50, p99us: p99, rps1: single, rps32: multi };
}

const dir = mkdtempSync(join(tmpdir(), 'cora-bench-ipc-'));
const children: ChildProcess[] = [];
try {
  const agentPath = join(dir, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', agentPath], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(agent);
  await waitForLine(agent, 'SSH_AUTH_SOCK');

  const runDir = join(dir, 'run');
  const server = spawn(
    process.execPath,
    [
      ...(process.env['BENCH_PROF'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']),
      '--conditions=cora-source',
      new URL('./ipc-server.ts', import.meta.url).pathname,
      join(runDir, 'cora.sock'),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(server);
  await waitForLine(server, 'listening');

  const rows = [
    await measure('ssh-agent REQUEST_IDENTITIES', () => sshAgentClient(agentPath)),
    await measure('cora status (ipc + identity)', () => coraClient(join(runDir, 'cora.sock'))),
  ];
  console.log(
    `ipc-roundtrip: ${SEQUENTIAL} sequential requests, ${CONCURRENT_SECONDS}s throughput runs, node ${process.version}`,
  );
  console.log('case                                p50 µs    p99 µs   req/s (1)  req/s (32)');
  for (const r of rows) {
    console.log(
      `${String(r['name']).padEnd(34)} ${Number(r['p50us']).toFixed(0).padStart(7)} ${Number(r['p99us']).toFixed(0).padStart(9)} ${Number(r['rps1']).toFixed(0).padStart(11)} ${Number(r['rps32']).toFixed(0).padStart(11)}`,
    );
  }
  const ratio = Number(rows[1]!['p50us']) / Number(rows[0]!['p50us']);
  console.log(
    `p50 ratio cora / ssh-agent: ${ratio.toFixed(2)}× (target ≤ 2×: ${ratio <= 2 ? 'met' : 'MISSED'})`,
  );

  const echoPath = join(dir, 'echo.sock');
  const echo = spawn(process.execPath, [new URL('./echo-server.ts', import.meta.url).pathname, echoPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(echo);
  await waitForLine(echo, 'READY');
  const py = await pythonRows({ cora: join(runDir, 'cora.sock'), echo: echoPath, ssh: agentPath });
  console.log(
    `python client: ${String(PY_ROUNDS)} paired rounds of ${String(PY_REQUESTS)} sequential requests (medians)`,
  );
  for (const [kind, r] of Object.entries(py)) {
    console.log(
      `  ${kind.padEnd(5)} p50 ${r.p50.toFixed(1).padStart(7)} µs   p99 ${r.p99.toFixed(1).padStart(8)} µs`,
    );
  }
  const pyRatio = py['cora']!.p50 / py['echo']!.p50;
  console.log(
    `  cora / echo p50 ${pyRatio.toFixed(2)}× (target ≤ 1.3×: ${pyRatio <= 1.3 ? 'met' : 'MISSED'}); p99 ${py['cora']!.p99.toFixed(0)} vs echo ${py['echo']!.p99.toFixed(0)} µs (target ≤: ${py['cora']!.p99 <= py['echo']!.p99 ? 'met' : 'MISSED'})`,
  );
  writeFileSync(
    new URL('../results/ipc-roundtrip.json', import.meta.url),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        rows,
        ratio,
        python: py,
        pythonRatio: pyRatio,
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  for (const child of children) child.kill(process.env['BENCH_PROF'] === undefined ? 'SIGKILL' : 'SIGINT');
  rmSync(dir, { recursive: true, force: true });
}
