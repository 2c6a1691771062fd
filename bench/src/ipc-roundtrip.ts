// SPDX-License-Identifier: AGPL-3.0-only
// architecture §12: IPC round trip (status) within 2 × ssh-agent's request round trip.
// Server: a child process running @cora/ipc's server with the service's per-connection work
// (kernel identity via peerIdentity at connect, stillSame() before every request, schema
// checks both ways). Reference: ssh-agent answering REQUEST_IDENTITIES on its own socket.
// Both are measured from this process with the same loop: p50/p99 of sequential round trips on
// one connection, and requests/s with 1 and 32 concurrent clients.
// Usage: pnpm --filter @cora/bench ipc-roundtrip
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectIpc, type IpcClient } from '@cora/ipc';

const SEQUENTIAL = Number(process.env['BENCH_REQUESTS'] ?? 5000);
const CONCURRENT_SECONDS = 2;

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
  writeFileSync(
    new URL('../results/ipc-roundtrip.json', import.meta.url),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, rows, ratio }, null, 2) + '\n',
  );
} finally {
  for (const child of children) child.kill(process.env['BENCH_PROF'] === undefined ? 'SIGKILL' : 'SIGINT');
  rmSync(dir, { recursive: true, force: true });
}
