// SPDX-License-Identifier: AGPL-3.0-only
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@cora/test-utils';

/** The real python binary (not a pyenv shim, which is a bash script that execs it). */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** A Unix-socket server on a temp path that hands out accepted connections in order. */
export interface TestServer {
  readonly dir: TempDir;
  readonly path: string;
  /** The next accepted connection (already accepted ones first). */
  next(timeoutMs?: number): Promise<Socket>;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const dir = await makeTempDir('cora-identity-');
  const path = join(dir.path, 's.sock');
  const accepted: Socket[] = [];
  const waiters: ((socket: Socket) => void)[] = [];
  const sockets = new Set<Socket>();
  // pauseOnConnect: nothing reads, so a peer that exits leaves the socket open on our side
  // (a reading server would see EOF and destroy it before it could be verified).
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    const waiter = waiters.shift();
    if (waiter) waiter(socket);
    else accepted.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    dir,
    path,
    next(timeoutMs = 10_000): Promise<Socket> {
      const ready = accepted.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no connection in time')), timeoutMs);
        waiters.push((socket) => {
          clearTimeout(timer);
          resolve(socket);
        });
      });
    },
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dir.remove();
    },
  };
}

/** Children started by a test; `killAll()` in afterEach leaves nothing running. */
export class Children {
  readonly #all: ChildProcess[] = [];

  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], ...options });
    this.#all.push(child);
    return child;
  }

  async killAll(): Promise<void> {
    await Promise.all(
      this.#all.splice(0).map(async (child) => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = exitOf(child);
          child.kill('SIGKILL');
          await exited;
        }
      }),
    );
  }
}

/** Resolves once the child has exited and Node has reaped it. */
export function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Python that connects to argv[1], says "connected", then runs `after` (Python source). */
export function pythonClient(after = 'sys.stdin.read()'): string {
  return [
    'import os, socket, sys',
    's = socket.socket(socket.AF_UNIX)',
    's.connect(sys.argv[1])',
    'print("connected", flush=True)',
    after,
  ].join('\n');
}

/** Poll until `check()` is true (e.g. /proc shows an exec), at most `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
