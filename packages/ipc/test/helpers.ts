// SPDX-License-Identifier: AGPL-3.0-only
/* eslint-disable @typescript-eslint/require-await -- handlers and hooks are async by contract */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, waitForLine, type TempDir } from '@cora/test-utils';
import { SecretBuf } from '@cora/memstore';
import {
  connectIpc,
  createIpcServer,
  encodeFrame,
  FrameDecoder,
  IpcError,
  type ConnectOptions,
  type IpcClient,
  type IpcHandlers,
  type IpcServer,
  type IpcServerOptions,
  type MessageType,
  type RequestParams,
  type RequestType,
  type Results,
} from '../src/index.ts';

/** Handlers of a fake service: strict, small, and they record what they saw. */
export function fakeHandlers(seen: string[] = []): IpcHandlers<{ uid: number }> {
  let locked = true;
  const names = new Map<string, number>();
  return {
    status: async () => ({
      state: locked ? 'locked' : 'unlocked',
      secrets: names.size,
      pid: process.pid,
      socket: '/x',
      idleDeadline: null,
      version: '0.1.0',
    }),
    lock: async () => {
      locked = true;
      return { state: 'locked' };
    },
    unlock: async (_request, { parts }) => {
      const ok = parts[0]!.use((bytes) => Buffer.from(bytes).equals(Buffer.from('correct horse')));
      if (!ok) throw new IpcError('AUTH_FAILED', 'wrong passphrase');
      locked = false;
      return { state: 'unlocked', secrets: names.size };
    },
    init: async (request, { parts }) => {
      seen.push(`init ${request.by} ${parts.map((p) => p.length).join(',')}`);
      return { created: true, generation: 1 };
    },
    'secrets.list': async () =>
      [...names].map(([name, length]) => ({
        name,
        created: new Date(0).toISOString(),
        updated: new Date(0).toISOString(),
        length,
      })),
    'secrets.set': async (request, { parts }) => {
      seen.push(`set ${request.name} ${parts.map((p) => p.length).join(',')}`);
      const replaced = names.has(request.name);
      names.set(request.name, parts[1]!.length);
      return { name: request.name, replaced };
    },
    'secrets.delete': async (request) => {
      if (!names.delete(request.name)) throw new IpcError('NOT_FOUND', `no secret named ${request.name}`);
      return { name: request.name };
    },
    'secrets.import': async (request, { parts }) => {
      seen.push(`import ${request.names.join(',')} ${parts.length}`);
      return { created: [...request.names], replaced: [] };
    },
    passwd: async () => ({ changed: true }),
  };
}

export interface Fixture {
  readonly dir: TempDir;
  readonly path: string;
  readonly server: IpcServer;
  readonly protocolErrors: string[];
  close(): Promise<void>;
}

/** A real server on a socket in a fresh private temp dir. */
export async function startServer(
  overrides: Partial<IpcServerOptions<{ uid: number }>> = {},
): Promise<Fixture> {
  const dir = await makeTempDir('cora-ipc-');
  const path = join(dir.path, 'run', 'cora.sock');
  const protocolErrors: string[] = [];
  const server = await createIpcServer<{ uid: number }>({
    socketPath: path,
    authenticate: async () => ({ uid: process.getuid!() }),
    handlers: fakeHandlers(),
    onProtocolError: (_peer, code) => protocolErrors.push(code),
    ...overrides,
  });
  return {
    dir,
    path,
    server,
    protocolErrors,
    async close() {
      await server.close();
      await dir.remove();
    },
  };
}

/** Connect a raw socket (no client checks, no hello). */
export function rawConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Collect every frame header the server sends until it closes the connection. */
export function framesUntilClose(socket: Socket, timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    const headers: unknown[] = [];
    const timer = setTimeout(() => reject(new Error('the server did not close the connection')), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        headers.push(JSON.parse(Buffer.from(frame.header).toString('utf8')));
        frame.attachment?.wipe();
      }
    });
    socket.on('error', () => {
      // ECONNRESET after the server's error frame is fine
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(headers);
    });
  });
}

/** Wait for the next `n` frame headers on a socket. */
export function nextFrames(socket: Socket, n: number, timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    const headers: unknown[] = [];
    const timer = setTimeout(() => {
      socket.off('data', onData);
      reject(new Error(`only ${headers.length} of ${n} frames arrived`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      for (const frame of decoder.push(chunk)) {
        headers.push(JSON.parse(Buffer.from(frame.header).toString('utf8')));
        frame.attachment?.wipe();
      }
      if (headers.length >= n) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(headers);
      }
    };
    socket.on('data', onData);
  });
}

/** A raw frame with an arbitrary header text (for malformed-header tests). */
export function rawFrame(
  headerText: string | Uint8Array,
  attachment: Uint8Array = new Uint8Array(0),
): Buffer {
  const header = typeof headerText === 'string' ? Buffer.from(headerText, 'utf8') : Buffer.from(headerText);
  const out = Buffer.alloc(8 + header.length + attachment.length);
  out.writeUInt32BE(4 + header.length + attachment.length, 0);
  out.writeUInt32BE(header.length, 4);
  header.copy(out, 8);
  out.set(attachment, 8 + header.length);
  return out;
}

export const HELLO = encodeFrame({ id: 1, type: 'hello', protocol: 1, client: 'test' });

/** Open file descriptors of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export function secret(text: string): SecretBuf {
  return SecretBuf.fromAndWipe(Buffer.from(text));
}

export async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Keep this thread busy, as a starved process is: no timer and no socket read can run. */
export function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

const ISO = new Date(0).toISOString();
const GRANT = {
  id: '0123abcd',
  task: 'deploy',
  caller: '/usr/bin/agent',
  parentPid: 10,
  scope: 'window',
  grantedAt: ISO,
  expiresAt: ISO,
  approval: 3,
  approver: null,
} as const;

/** A valid result of every message type: what a well-behaved handler returns. */
export const VALID_RESULTS: { readonly [T in MessageType]: Results[T] } = {
  hello: { protocol: 1, server: 'cora' },
  status: { state: 'locked', secrets: 0, pid: 1, socket: '/x', idleDeadline: null, version: '0.1.0' },
  lock: { state: 'locked' },
  unlock: { state: 'unlocked', secrets: 1 },
  init: { created: true, generation: 1 },
  'secrets.list': [{ name: 'A', created: ISO, updated: ISO, length: 1 }],
  'secrets.set': { name: 'A', replaced: false },
  'secrets.delete': { name: 'A' },
  'secrets.import': { created: ['A'], replaced: [] },
  passwd: { changed: true },
  'policy.get': { policy: {} },
  'policy.set': { ok: true },
  'policy.explain': { steps: [{ step: 'caller', ok: true, detail: '' }], outcome: 'allow', reason: '' },
  'policy.verify': {
    process: {
      pid: 42,
      uid: 1000,
      startTime: '123456',
      exe: '/usr/bin/agent',
      exeSha256: null,
      script: null,
      ancestry: [{ pid: 1, uid: 0, exe: null }],
      pinned: true,
    },
    cli: { match: false, detail: 'it is not cr' },
    rules: [
      {
        list: 'callers',
        exe: '/usr/bin/agent',
        script: null,
        uid: null,
        sha256: '0'.repeat(64),
        match: true,
        reason: 'ALLOWED',
        pin: true,
        detail: 'allowed',
      },
    ],
    requests: { allowed: true, reason: 'ALLOWED', detail: '' },
    status: { allowed: true, reason: 'ALLOWED', detail: '' },
    tasks: [{ task: 't', via: true, detail: 'no via required' }],
  },
  exec: { code: 0, signal: null },
  approve: { ended: 'locked' },
  'audit.verify': {
    ok: true,
    records: 0,
    files: [],
    macChecked: true,
    lastSealedSeq: null,
    unsealed: 0,
    head: null,
    torn: null,
    firstProblem: null,
  },
  'audit.export': { count: 0, head: '0'.repeat(64) },
  'grants.list': [GRANT],
  'grants.revoke': { revoked: [GRANT] },
};

/** Valid parameters and the attachment part count of every request type. */
export const VALID_REQUESTS: {
  readonly [T in RequestType]: { readonly params: RequestParams[T]; readonly parts: number };
} = {
  status: { params: {}, parts: 0 },
  lock: { params: {}, parts: 0 },
  unlock: { params: { acceptVault: true, idleTimeoutMs: 0, lifetimeMs: 0 }, parts: 1 },
  init: { params: { by: 'cli' }, parts: 1 },
  'secrets.list': { params: {}, parts: 0 },
  'secrets.set': { params: { name: 'A' }, parts: 2 },
  'secrets.delete': { params: { name: 'A' }, parts: 1 },
  'secrets.import': { params: { names: ['A', 'B'] }, parts: 3 },
  passwd: { params: {}, parts: 2 },
  'policy.get': { params: {}, parts: 0 },
  'policy.set': { params: { policy: {} }, parts: 1 },
  'policy.explain': { params: { task: 't', argv: ['/bin/true'], caller: '/usr/bin/agent' }, parts: 0 },
  'policy.verify': { params: { pid: 42 }, parts: 0 },
  exec: { params: { task: 't', argv: ['/bin/true'], cwd: '/', env: { LANG: 'C' }, tty: false }, parts: 0 },
  approve: { params: {}, parts: 1 },
  'audit.verify': { params: {}, parts: 0 },
  'audit.export': { params: {}, parts: 0 },
  'grants.list': { params: {}, parts: 0 },
  'grants.revoke': { params: { all: true }, parts: 0 },
};

/** Every request type, from the table the protocol itself keeps. */
export const REQUEST_TYPES = Object.keys(VALID_REQUESTS) as RequestType[];

/** One handler per request type, each answering its {@link VALID_RESULTS} entry. */
export function validHandlers(
  result: (type: RequestType) => unknown = (type) => VALID_RESULTS[type],
): IpcHandlers<{ uid: number }> {
  return Object.fromEntries(
    REQUEST_TYPES.map((type) => [type, async () => result(type)]),
  ) as unknown as IpcHandlers<{ uid: number }>;
}

/** `n` one-byte parts (attachments whose content does not matter). */
export function someParts(n: number): Uint8Array[] {
  return Array.from({ length: n }, () => Buffer.from('p'));
}

/** The server's verdict on one frame sent after hello: `ok`, or the code of its error reply. */
export async function verdictOf(path: string, frame: Uint8Array): Promise<string> {
  const socket = await rawConnect(path);
  socket.on('error', () => undefined);
  try {
    const hello = nextFrames(socket, 1);
    socket.write(HELLO);
    await hello;
    const next = nextFrames(socket, 1);
    socket.write(frame);
    const [reply] = (await next) as [{ ok: boolean; error?: { code: string } }];
    return reply.ok ? 'ok' : (reply.error?.code ?? 'none');
  } finally {
    socket.destroy();
  }
}

/** A bare listener on `path` in another process (no protocol): prints READY, runs until killed. */
export async function spawnListener(path: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('READY'))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await waitForLine(child.stdout, (l) => l === 'READY');
  return child;
}

/** Leave a stale socket at `path`: its process listened, then was killed with SIGKILL. */
export async function staleSocket(path: string): Promise<void> {
  const child = await spawnListener(path);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

/** What a test made (temp dirs, servers, clients); `cleanup()` in afterEach undoes it all. */
export class Scratch {
  readonly #dirs: TempDir[] = [];
  readonly #servers: { close(): Promise<void> }[] = [];
  readonly #clients: IpcClient[] = [];

  /** A fresh private (0700) temp directory. */
  async dir(prefix = 'cora-ipc-'): Promise<string> {
    const dir = await makeTempDir(prefix);
    this.#dirs.push(dir);
    return dir.path;
  }

  /** A server of {@link fakeHandlers} on `path`. */
  async serve(path: string): Promise<IpcServer> {
    const server = await createIpcServer({
      socketPath: path,
      authenticate: async () => ({ uid: 0 }),
      handlers: fakeHandlers(),
    });
    this.#servers.push(server);
    return server;
  }

  /** {@link startServer}, closed at cleanup. */
  async fixture(overrides: Partial<IpcServerOptions<{ uid: number }>> = {}): Promise<Fixture> {
    const fx = await startServer(overrides);
    this.#servers.push(fx);
    return fx;
  }

  async connect(options: ConnectOptions): Promise<IpcClient> {
    const client = await connectIpc(options);
    this.#clients.push(client);
    return client;
  }

  async cleanup(): Promise<void> {
    for (const c of this.#clients.splice(0)) c.close();
    for (const s of this.#servers.splice(0)) await s.close();
    for (const d of this.#dirs.splice(0)) await d.remove();
  }
}
