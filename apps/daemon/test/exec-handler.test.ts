// SPDX-License-Identifier: AGPL-3.0-only
// The exec handler in process (issue 4): a real @cora/ipc server and client on a temp socket,
// a real policy object and real children; the service state is replaced by ExecDeps.
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IpcError,
  connectIpc,
  createIpcServer,
  type IpcClient,
  type IpcHandlers,
  type IpcServer,
} from '@cora/ipc';
import { peerIdentity } from '@cora/identity';
import { SecretBuf } from '@cora/memstore';
import { parsePolicy } from '@cora/policy';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { AuditLog } from '@cora/audit';
import { Approvals } from '../src/service/approvals.ts';
import { ServiceAudit } from '../src/service/audit.ts';
import { createExecHandler, type ExecDeps } from '../src/service/exec-handler.ts';
import type { Peer } from '../src/service/peer.ts';

const VALUE = Buffer.from('handler-test-value-0123456789');
const policy = parsePolicy({
  version: 1,
  callers: [],
  tasks: {
    // Targets are stored as realpaths (cr policy task add does the same).
    t: {
      secrets: ['SECRET'],
      targets: ['/bin/sh', '/usr/bin/head', '/usr/bin/sleep'].map((p) => realpathSync(p)),
    },
    rated: { secrets: ['SECRET'], targets: [realpathSync('/bin/sh')], max_spawns: 2, window_ms: 60_000 },
  },
});

let locked = false;
const deps: ExecDeps = {
  policy: () => policy,
  unlockedAt: () => (locked ? null : Date.now() - 1000),
  secretsFor: (names) => names.map((name) => ({ name, value: SecretBuf.from(VALUE) })),
  missingSecret: () => null,
};

const refuse = (): Promise<never> => Promise.reject(new IpcError('NOT_ALLOWED', 'not in this test'));
const spawnTimes: number[] = [];

let dir: TempDir;
let server: IpcServer;
let client: IpcClient;
let auditLog: AuditLog;

beforeAll(async () => {
  dir = await makeTempDir('cora-exec-');
  // A real audit log: every exec below is recorded (and fsynced) before its child starts.
  auditLog = await AuditLog.open({ dir: dir.path });
  const audit = new ServiceAudit(auditLog, () => undefined);
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
    exec: createExecHandler(deps, audit, new Approvals(), { onSpawned: (ms) => spawnTimes.push(ms) }),
  };
  server = await createIpcServer<Peer>({
    socketPath: join(dir.path, 's.sock'),
    authenticate: async (socket) => ({ verified: await peerIdentity(socket), isCli: true }),
    handlers,
    onDisconnect: (peer) => {
      peer.verified.close();
    },
  });
  client = await connectIpc({ socketPath: server.path });
});
afterAll(async () => {
  client.close();
  await server.close();
  await auditLog.close();
  await dir.remove();
});

const params = (
  argv: string[],
): { task: string; argv: string[]; cwd: string; env: Record<string, string> } => ({
  task: 't',
  argv,
  cwd: dir.path,
  env: { PATH: '/usr/bin:/bin' },
});

function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${String(pid)}/stat`, 'latin1').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('createExecHandler', () => {
  it('should stream 128 MiB of output with bounded memory and report the spawn time', async () => {
    let bytes = 0;
    const before = process.memoryUsage().rss;
    let peak = before;
    const run = client.exec(params(['head', '-c', String(128 << 20), '/dev/zero']), {
      onStdout: (chunk) => {
        bytes += chunk.length;
        peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    await run.end();
    expect(await run.done).toEqual({ code: 0, signal: null });
    expect(bytes).toBe(128 << 20);
    expect(peak - before).toBeLessThan(128 << 20);
    expect(spawnTimes.length).toBeGreaterThan(0);
  }, 60_000);

  it('should forward a signal and report it', async () => {
    let pid = 0;
    const run = client.exec(params(['sleep', '30']), { onStarted: (p) => (pid = p) });
    await new Promise((r) => setTimeout(r, 100));
    expect(pid).toBeGreaterThan(0);
    await run.signal('SIGTERM');
    expect(await run.done).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('should kill the child when the client goes away', async () => {
    const other = await connectIpc({ socketPath: server.path });
    let pid = 0;
    const run = other.exec(params(['sleep', '30']), { onStarted: (p) => (pid = p) });
    run.done.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(true);
    other.close();
    const deadline = Date.now() + 3000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });

  it('should mask the value in a prompt that ends without a newline, after a pause', async () => {
    const chunks: Buffer[] = [];
    const run = client.exec(params(['sh', '-c', 'printf "key: %s" "$SECRET"; sleep 0.5; printf " ok"']), {
      onStdout: (chunk) => chunks.push(Buffer.from(chunk)),
    });
    await run.end();
    await run.done;
    const out = Buffer.concat(chunks).toString();
    expect(out).toBe('key: <concealed:SECRET> ok');
    expect(chunks.length).toBeGreaterThan(1); // the prompt came out before the pause ended
  });

  it('should hold max_spawns exactly under concurrent requests (the slot is taken before the audit wait)', async () => {
    const runs = Array.from({ length: 6 }, () => {
      const run = client.exec({ ...params(['sh', '-c', 'true']), task: 'rated' });
      void run.end().catch(() => undefined);
      return run.done.then(
        () => 'ran',
        (error: unknown) => (error as { code?: string }).code ?? 'error',
      );
    });
    const outcomes = await Promise.all(runs);
    expect(outcomes.filter((o) => o === 'ran')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'TASK_RATE_LIMITED')).toHaveLength(4);
  });

  it('should answer LOCKED while locked', async () => {
    locked = true;
    try {
      await expect(client.exec(params(['sh', '-c', 'true'])).done).rejects.toMatchObject({
        code: 'LOCKED',
        message: expect.stringContaining('cr unlock') as unknown,
      });
    } finally {
      locked = false;
    }
  });
});
