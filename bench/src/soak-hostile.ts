// SPDX-License-Identifier: AGPL-3.0-only
// Issue 10: the service's memory under hostile traffic. A child process runs @cora/ipc's server
// (public API only) with the service's per-connection identity work and default limits; this
// process throws hostile connections at it (silent, garbage, oversized frames, slow-loris,
// half-frames, a valid request followed by garbage, 1 MiB attachments, reconnect floods) while
// a legitimate client, in this process, connects and asks for `status` every half second. The
// server's RSS is sampled before, during (every second) and after the attack, and after a GC.
// Usage: pnpm --filter @cora/bench soak-hostile
//   BENCH_SECONDS=60 (attack length), BENCH_WORKERS=200 (concurrent attackers),
//   BENCH_ROUNDS=1 (attack/settle rounds; RSS after each round shows whether it keeps growing),
//   BENCH_PROCESSES=1 (attacker processes, the workers split between them),
//   BENCH_KINDS=silent,garbage,… (a subset of the attacks), BENCH_AUTH=none (no peerIdentity),
//   BENCH_IPC=/path/to/index.ts (serve with another build of @cora/ipc, e.g. an older one),
//   BENCH_SERVER_FLAGS='--max-semi-space-size=1' (Node flags for the server process)
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type * as IpcModule from '@cora/ipc';
import { peerIdentity, type VerifiedPeer } from '@cora/identity';
import { ATTACHMENT_PARTS, IpcError, connectIpc, encodeFrame, type IpcHandlers } from '@cora/ipc';

/** What the server child reports when asked. */
interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Resident bytes of the C heap (`[heap]` in /proc/self/smaps: malloc's main arena). */
  readonly mallocHeap: number;
  readonly connections: number;
}

type Command = { readonly cmd: 'sample'; readonly gc: boolean };

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The server child.

/** Resident size of the `[heap]` mapping (Linux), where glibc keeps small and mid-size blocks. */
function mallocHeapBytes(): number {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'latin1');
  } catch {
    return 0;
  }
  const at = text.indexOf(' [heap]\n');
  if (at < 0) return 0;
  const rss = /\nRss:\s+(\d+) kB/.exec(text.slice(at, at + 2000));
  return rss === null ? 0 : Number(rss[1]) * 1024;
}

/** The peer of BENCH_AUTH=none. */
const noIdentity = { close: () => undefined, stillSame: () => true } as unknown as VerifiedPeer;

async function runServer(socketPath: string): Promise<void> {
  const refuse = (): Promise<never> =>
    Promise.reject(new IpcError('NOT_ALLOWED', 'the soak server answers status only'));
  // Every message type refused but status (built from the protocol's own list of types).
  const handlers = {
    ...Object.fromEntries(Object.keys(ATTACHMENT_PARTS).map((type) => [type, refuse])),
    status: () =>
      Promise.resolve({
        state: 'locked',
        secrets: 0,
        pid: process.pid,
        socket: socketPath,
        idleDeadline: null,
        version: 'bench',
      }),
  } as unknown as IpcHandlers<VerifiedPeer>;
  // BENCH_IPC: another build of @cora/ipc for the server (to compare with an older version).
  const ipc = (await import(process.env['BENCH_IPC'] ?? '@cora/ipc')) as typeof IpcModule;
  const server = await ipc.createIpcServer<VerifiedPeer>({
    socketPath,
    // BENCH_AUTH=none: no identity work, to tell the server's own memory from peerIdentity's.
    authenticate:
      process.env['BENCH_AUTH'] === 'none'
        ? () => Promise.resolve(noIdentity)
        : (socket) => peerIdentity(socket),
    handlers,
    onDisconnect: (peer) => {
      peer.close();
    },
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (message: Command) => {
    void (async (): Promise<void> => {
      if (message.gc && gc !== undefined) {
        // Twice, with a pause: secure memory is unmapped by finalizers that run after a GC.
        gc();
        await sleep(200);
        gc();
        await sleep(200);
      }
      const m = process.memoryUsage();
      const sample: MemorySample = {
        rss: m.rss,
        heapUsed: m.heapUsed,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        mallocHeap: mallocHeapBytes(),
        connections: server.connections,
      };
      process.send?.(sample);
    })();
  });
  process.on('disconnect', () => {
    void server.close().then(() => process.exit(0));
  });
  process.send?.('listening');
}

// ---------------------------------------------------------------------------------------------
// The attackers.

const HELLO = encodeFrame({ id: 1, type: 'hello', protocol: 1, client: 'soak' });
const STATUS = encodeFrame({ id: 2, type: 'status' });

/** A frame prefix announcing `length` bytes after the length field, with a 2-byte header. */
function prefix(length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(length, 0);
  b.writeUInt32BE(2, 4);
  return b;
}

/** Connect, run `act`, and resolve when the server closes (or after `holdMs`, whichever first). */
function hostile(path: string, holdMs: number, act: (socket: Socket) => void): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setTimeout(() => socket.destroy(), holdMs);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('connect', () => {
      act(socket);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

type Kind = (path: string) => Promise<void>;

const KINDS: Readonly<Record<string, Kind>> = {
  // Holds a slot until the handshake deadline (or eviction).
  silent: (path) => hostile(path, 10_000, () => undefined),
  garbage: (path) =>
    hostile(path, 10_000, (s) => {
      s.write(randomBytes(4096));
    }),
  oversized: (path) =>
    hostile(path, 10_000, (s) => {
      s.write(prefix(0xffff_fff0));
    }),
  // A frame of just under 1 MiB announced and mostly sent, before hello.
  'big-half-frame': (path) =>
    hostile(path, 10_000, (s) => {
      s.write(Buffer.concat([prefix(MiB - 16), randomBytes(900 * 1024)]));
    }),
  // Hello, then the first bytes of a request, then nothing.
  'half-frame': (path) =>
    hostile(path, 10_000, (s) => {
      s.write(Buffer.concat([HELLO, STATUS.subarray(0, 12)]));
    }),
  'slow-loris': (path) =>
    hostile(path, 10_000, (s) => {
      let at = 0;
      const drip = setInterval(() => {
        if (s.destroyed || at >= HELLO.length - 1) {
          clearInterval(drip);
          return;
        }
        s.write(HELLO.subarray(at, at + 1));
        at += 1;
      }, 100);
      s.once('close', () => {
        clearInterval(drip);
      });
    }),
  'request-then-garbage': (path) =>
    hostile(path, 10_000, (s) => {
      s.write(Buffer.concat([HELLO, STATUS, randomBytes(64)]));
    }),
  // A valid 1 MiB attachment after hello: decoded into secure memory, then refused.
  'big-attachment': (path) =>
    hostile(path, 10_000, (s) => {
      const attachment = Buffer.concat([
        Buffer.from([0, 0, 0, 2]),
        Buffer.from('pw'),
        randomBytes(MiB - 256),
      ]);
      s.write(Buffer.concat([HELLO, encodeFrame({ id: 2, type: 'secrets.set', name: 'X' }, attachment)]));
    }),
  // 20 connections opened and dropped at once.
  'reconnect-flood': async (path) => {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        hostile(path, 10_000, (s) => {
          s.destroy();
        }),
      ),
    );
  },
};

/** Run the attackers for `seconds`; resolves with how many connections of each kind were opened. */
async function attack(
  path: string,
  seconds: number,
  workers: number,
  kinds: readonly string[],
): Promise<Record<string, number>> {
  const opened = new Map<string, number>();
  const until = performance.now() + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        const name = kinds[next++ % kinds.length]!;
        opened.set(name, (opened.get(name) ?? 0) + (name === 'reconnect-flood' ? 20 : 1));
        await KINDS[name]!(path);
      }
    }),
  );
  return Object.fromEntries(opened);
}

// ---------------------------------------------------------------------------------------------
// The driver: the legitimate client, in a process of its own as the real `cr` would be.

interface Probe {
  ok: number;
  failed: number;
  latencies: number[];
  errors: Map<string, number>;
}

async function probeOnce(path: string, probe: Probe): Promise<void> {
  const start = performance.now();
  try {
    const client = await connectIpc({ socketPath: path, clientName: 'legit', timeoutMs: 5000 });
    try {
      await client.request('status', {}, { timeoutMs: 5000 });
    } finally {
      client.close();
    }
    probe.ok += 1;
    probe.latencies.push(performance.now() - start);
  } catch (error) {
    probe.failed += 1;
    const code = error instanceof IpcError ? error.code : String(error);
    probe.errors.set(code, (probe.errors.get(code) ?? 0) + 1);
  }
}

function sampler(child: ChildProcess): (gc: boolean) => Promise<MemorySample> {
  return (gc) =>
    new Promise((resolve) => {
      child.once('message', (m: MemorySample) => {
        resolve(m);
      });
      const command: Command = { cmd: 'sample', gc };
      child.send(command);
    });
}

/** Fork this file in another role; resolves once it sent its first message. */
async function start(args: string[]): Promise<{ child: ChildProcess; first: unknown }> {
  const child = fork(fileURLToPath(import.meta.url), args, {
    execArgv: [
      '--expose-gc',
      '--conditions=cora-source',
      ...(args[0] === '--server' ? (process.env['BENCH_SERVER_FLAGS'] ?? '').split(' ').filter(Boolean) : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const first = await new Promise<unknown>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => {
      reject(new Error(`${args[0] ?? ''} exited with ${String(code)}`));
    });
  });
  return { child, first };
}

const mb = (bytes: number): string => (bytes / MiB).toFixed(1);

function line(label: string, s: MemorySample): string {
  return `${label.padEnd(15)} rss ${mb(s.rss).padStart(6)} MB (malloc heap ${mb(s.mallocHeap).padStart(5)} MB), JS heap ${mb(s.heapUsed).padStart(5)} MB, ${String(s.connections)} connections`;
}

async function main(): Promise<void> {
  const seconds = Number(process.env['BENCH_SECONDS'] ?? 60);
  const workers = Number(process.env['BENCH_WORKERS'] ?? 200);
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? 1);
  const processes = Number(process.env['BENCH_PROCESSES'] ?? 1);
  const kinds = (process.env['BENCH_KINDS'] ?? Object.keys(KINDS).join(',')).split(',');
  for (const k of kinds)
    if (!(k in KINDS)) throw new Error(`unknown kind ${k}; known: ${Object.keys(KINDS).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'cora-bench-soak-'));
  const path = join(dir, 'run', 'cora.sock');
  const { child: server } = await start(['--server', path]);
  const children: ChildProcess[] = [server];
  try {
    const sample = sampler(server);
    // Warm up the legitimate path so its code and caches are in the baseline.
    const warm: Probe = { ok: 0, failed: 0, latencies: [], errors: new Map() };
    for (let i = 0; i < 50; i += 1) await probeOnce(path, warm);
    const before = await sample(true);
    console.log(
      `soak-hostile: ${seconds}s × ${rounds} round(s), ${workers} attackers in ${processes} process(es) (${kinds.join(', ')}), node ${process.version}`,
    );
    console.log(line('before (GC):', before));

    const rows: Record<string, unknown>[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      const probe: Probe = { ok: 0, failed: 0, latencies: [], errors: new Map() };
      let peak = before;
      // The attackers in their own processes (one pid each), as hostile programs would be.
      const attackers = await Promise.all(
        Array.from({ length: processes }, () =>
          start(['--attack', path, String(seconds), String(Math.ceil(workers / processes)), kinds.join(',')]),
        ),
      );
      children.push(...attackers.map((a) => a.child));
      const opened = Promise.all(
        attackers.map(
          ({ child }) =>
            new Promise<Record<string, number>>((resolve) => {
              child.once('message', (m: Record<string, number>) => {
                resolve(m);
              });
            }),
        ),
      ).then((all) => {
        const sum: Record<string, number> = {};
        for (const counts of all) for (const [k, n] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + n;
        return sum;
      });
      const until = performance.now() + seconds * 1000;
      const probing = (async (): Promise<void> => {
        while (performance.now() < until) {
          await probeOnce(path, probe);
          await sleep(500);
        }
      })();
      const sampling = (async (): Promise<void> => {
        while (performance.now() < until) {
          const s = await sample(false);
          if (s.rss > peak.rss) peak = s;
          await sleep(1000);
        }
      })();
      const [counts] = await Promise.all([opened, probing, sampling]);
      for (const { child } of attackers) child.kill('SIGKILL');
      const settled = performance.now();
      let after = await sample(false);
      while (after.connections > 0 && performance.now() - settled < 120_000) {
        await sleep(250);
        after = await sample(false);
      }
      const afterGc = await sample(true);
      probe.latencies.sort((a, b) => a - b);
      const p50 = probe.latencies[Math.floor(probe.latencies.length / 2)] ?? NaN;
      const max = probe.latencies.at(-1) ?? NaN;
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      console.log(`round ${round}: ${total} hostile connections ${JSON.stringify(counts)}`);
      console.log(line('  peak:', peak));
      console.log(line('  after:', after));
      console.log(line('  after GC:', afterGc));
      console.log(
        `  legit status:  ${probe.ok} ok, ${probe.failed} failed ${JSON.stringify(Object.fromEntries(probe.errors))}, p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
      );
      rows.push({
        round,
        opened: counts,
        peak,
        after,
        afterGc,
        legit: { ok: probe.ok, failed: probe.failed, errors: Object.fromEntries(probe.errors), p50, max },
      });
    }
    writeFileSync(
      new URL('../results/soak-hostile.json', import.meta.url),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          seconds,
          workers,
          processes,
          kinds,
          serverFlags: process.env['BENCH_SERVER_FLAGS'] ?? '',
          auth: process.env['BENCH_AUTH'] ?? 'peerIdentity',
          ipc: process.env['BENCH_IPC'] ?? '@cora/ipc',
          before,
          rounds: rows,
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const [role, ...rest] = process.argv.slice(2);
if (role === '--server') {
  await runServer(rest[0] ?? '');
} else if (role === '--attack') {
  process.send?.('started');
  const counts = await attack(rest[0] ?? '', Number(rest[1]), Number(rest[2]), (rest[3] ?? '').split(','));
  process.send?.(counts);
} else {
  await main();
}
