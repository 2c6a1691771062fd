// SPDX-License-Identifier: AGPL-3.0-only
// The client against a hostile service in another process (test/fixtures/hostile-server.ts),
// one that passed the socket checks (same uid) and then lies: malformed frames, results
// outside their schema, forged codes, streams without end. The client must reject with a
// clear code, never hang, and never let a stray field reach the caller.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, waitForLine, type TempDir } from '@cora/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectIpc, type EventHeader, type IpcClient } from '../src/index.ts';
import { REQUEST_TYPES, someParts, VALID_REQUESTS, VALID_RESULTS } from './helpers.ts';

const HOSTILE = fileURLToPath(new URL('./fixtures/hostile-server.ts', import.meta.url));
/** Longest a refusal may take: every case here is decided by bytes already received. */
const PROMPT_MS = 2000;

let dir: TempDir;
let path: string;
let child: ChildProcess;
beforeAll(async () => {
  dir = await makeTempDir('cora-ipc-hostile-');
  await mkdir(join(dir.path, 'run'), { mode: 0o700 });
  path = join(dir.path, 'run', 'cora.sock');
  child = spawn(process.execPath, ['--conditions=cora-source', HOSTILE, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitForLine(child.stdout!, (l) => l === 'READY', 20_000);
});
afterAll(async () => {
  child.kill('SIGKILL');
  await dir.remove();
});

const clients: IpcClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** Connect with `mode` as the client name: the hostile server's script for this connection. */
async function connect(mode: string): Promise<IpcClient> {
  const client = await connectIpc({ socketPath: path, clientName: mode, timeoutMs: 5000 });
  clients.push(client);
  return client;
}

/** What `promise` rejects with, and how long it took; fails if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string; ms: number }> {
  const start = performance.now();
  const error = await promise.then(
    () => ({ code: 'resolved', message: '' }),
    (e: unknown) => e as { code: string; message: string },
  );
  return { code: error.code, message: error.message, ms: performance.now() - start };
}

describe('connectIpc: a hostile answer to hello', () => {
  it.each([
    ['a frame over the size limit', 'oversize', 'PROTOCOL_ERROR'],
    ['an HTTP response', 'http', 'PROTOCOL_ERROR'],
    ['random bytes', 'random', 'PROTOCOL_ERROR'],
    ['a length under the minimum', 'short-length', 'PROTOCOL_ERROR'],
    ['a header that is not JSON', 'not-json', 'PROTOCOL_ERROR'],
    ['a header with a duplicate key', 'duplicate-key', 'PROTOCOL_ERROR'],
    ['a __proto__ key', 'proto', 'PROTOCOL_ERROR'],
    ['100 000-deep nesting', 'deep', 'PROTOCOL_ERROR'],
    ['a hello result with an extra field', 'hello-extra', 'PROTOCOL_ERROR'],
    ['an attachment on the reply', 'hello-attachment', 'PROTOCOL_ERROR'],
    ['an error code the client keeps for itself', 'local-code', 'PROTOCOL_ERROR'],
    ['a close before the reply', 'close', 'CONNECTION_CLOSED'],
    ['a close in the middle of the reply', 'half', 'CONNECTION_CLOSED'],
    ['a refusal from the closed list', 'refuse', 'NOT_ALLOWED'],
  ])('should reject %s with %s, promptly', async (_what, mode, code) => {
    const result = await rejection(connect(mode));
    expect(result.code).toBe(code);
    expect(result.ms).toBeLessThan(PROMPT_MS);
    expect(result.message).not.toContain('CORACANARY');
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

describe('IpcClient: hostile replies to requests', () => {
  it.each(REQUEST_TYPES)('should refuse a %s result with an extra value field', async (type) => {
    const client = await connect('extra');
    const { params, parts } = VALID_REQUESTS[type];
    const result = await rejection(client.request(type, params, { parts: someParts(parts) }));
    expect(result.code).toBe('PROTOCOL_ERROR');
    expect(result.message).not.toContain('CORACANARY');
  });

  it('should refuse a result of another type, and keep the connection', async () => {
    const client = await connect('wrong-type');
    expect((await rejection(client.request('status', {}))).code).toBe('PROTOCOL_ERROR');
    expect(await client.request('lock', {})).toEqual(VALID_RESULTS.lock);
    expect(client.closed).toBe(false);
  });

  it('should ignore a reply and an event for ids it never sent', async () => {
    const client = await connect('stray');
    const events: EventHeader[] = [];
    const result = await client.request('status', {}, { onEvent: (event) => events.push(event) });
    expect(result).toEqual(VALID_RESULTS.status);
    expect(events).toEqual([]);
    expect(client.closed).toBe(false);
  });

  it('should reject every pending request with a connection-level error (id 0) and close', async () => {
    const client = await connect('id-zero');
    const [a, b] = await Promise.all([
      rejection(client.request('status', {})),
      rejection(client.request('lock', {})),
    ]);
    expect([a.code, b.code]).toEqual(['BUSY', 'BUSY']);
    expect(client.closed).toBe(true);
  });

  it('should refuse a reply that carries an attachment, and close', async () => {
    const client = await connect('reply-attachment');
    expect((await rejection(client.request('status', {}))).code).toBe('PROTOCOL_ERROR');
    expect(client.closed).toBe(true);
  });

  it('should say CONNECTION_CLOSED when the service closes in the middle of a reply', async () => {
    const client = await connect('mid-reply');
    const result = await rejection(client.request('status', {}));
    expect(result.code).toBe('CONNECTION_CLOSED');
    expect(result.ms).toBeLessThan(PROMPT_MS);
  });

  it('should time out a request whose events never end, and stop delivering them', async () => {
    const client = await connect('endless');
    let events = 0;
    const result = await rejection(
      client.request('status', {}, { timeoutMs: 300, onEvent: () => (events += 1) }),
    );
    expect(result.code).toBe('TIMEOUT');
    expect(result.ms).toBeLessThan(300 + PROMPT_MS);
    expect(events).toBeGreaterThan(0);
    const seen = events;
    await new Promise((r) => setTimeout(r, 100));
    expect(events).toBe(seen);
  });

  it('should abort a request whose events never end', async () => {
    const client = await connect('endless');
    const abort = new AbortController();
    let events = 0;
    const pending = rejection(
      client.request(
        'status',
        {},
        {
          signal: abort.signal,
          onEvent: () => {
            events += 1;
            if (events === 100) abort.abort();
          },
        },
      ),
    );
    expect((await pending).code).toBe('TIMEOUT');
    expect(events).toBe(100);
  });
});

describe('IpcClient#exec: a hostile service', () => {
  const EXEC = VALID_REQUESTS.exec.params;

  it('should refuse a started event with an impossible pid', async () => {
    const client = await connect('bad-started');
    let started = 0;
    const run = client.exec(EXEC, { onStarted: () => (started += 1) });
    expect((await rejection(run.done)).code).toBe('PROTOCOL_ERROR');
    expect(started).toBe(0);
    expect(client.closed).toBe(true);
  });

  it('should wipe each stdout chunk once its callback returns', async () => {
    const client = await connect('stdout-then-exit');
    const kept: Uint8Array[] = [];
    const copies: string[] = [];
    const run = client.exec(EXEC, {
      onStdout: (chunk) => {
        copies.push(Buffer.from(chunk).toString());
        kept.push(chunk); // a view the caller was told not to keep
      },
    });
    expect(await run.done).toEqual(VALID_RESULTS.exec);
    expect(copies).toEqual(['CORACANARY-stdout']);
    expect(kept).toHaveLength(1);
    // Zeroed once the callback returned: the escaped view holds none of the output.
    expect(kept[0]!.byteLength).toBe('CORACANARY-stdout'.length);
    expect(kept[0]!.every((byte) => byte === 0)).toBe(true);
  });

  it('should wipe an event attachment once onEvent returns', async () => {
    const client = await connect('stdout-then-exit');
    const held: Uint8Array[] = [];
    await client.request('exec', EXEC, {
      onEvent: (_event, attachment) => attachment && held.push(attachment),
    });
    expect(held).toHaveLength(1);
    expect(held[0]!.length).toBeGreaterThan(0);
    expect(held[0]!.every((byte) => byte === 0)).toBe(true);
  });
});
