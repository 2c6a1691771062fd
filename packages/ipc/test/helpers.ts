// SPDX-License-Identifier: AGPL-3.0-only
/* eslint-disable @typescript-eslint/require-await -- handlers and hooks are async by contract */
import { readdirSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { SecretBuf } from '@cora/memstore';
import {
  createIpcServer,
  encodeFrame,
  FrameDecoder,
  IpcError,
  type IpcHandlers,
  type IpcServer,
  type IpcServerOptions,
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
