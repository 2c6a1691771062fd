// SPDX-License-Identifier: AGPL-3.0-only
// Over 500 lines on purpose: the server and its own client spoken to over a real socket, one
// fixture and set of frame helpers for every section; the admission and claim suites live apart.
/* eslint-disable @typescript-eslint/require-await -- handlers and hooks are async by contract */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connectIpc, encodeFrame, IpcError, isIpcError, packParts, type IpcClient } from '../src/index.ts';
import {
  busy,
  fakeHandlers,
  framesUntilClose,
  HELLO,
  nextFrames,
  rawConnect,
  rawFrame,
  secret,
  startServer,
  waitFor,
  type Fixture,
} from './helpers.ts';

let fx: Fixture | undefined;

const clients: IpcClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await fx?.close();
  fx = undefined;
});

async function client(path: string): Promise<IpcClient> {
  const c = await connectIpc({ socketPath: path });
  clients.push(c);
  return c;
}

/** Send `bytes` after a good hello and return every frame until the server closes. */
async function afterHello(path: string, ...writes: Uint8Array[]): Promise<unknown[]> {
  const socket = await rawConnect(path);
  const hello = nextFrames(socket, 1);
  socket.write(HELLO);
  const first = await hello;
  const frames = framesUntilClose(socket);
  for (const w of writes) socket.write(w);
  return [...first, ...(await frames)];
}

function errorOf(frames: unknown[]): { id: number; code: string } {
  const last = frames.at(-1) as { id: number; ok: boolean; error: { code: string } };
  expect(last.ok).toBe(false);
  return { id: last.id, code: last.error.code };
}

describe('createIpcServer: malformed frames', () => {
  const length = (n: number, h: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(n, 0);
    b.writeUInt32BE(h, 4);
    return b;
  };
  const cases: [string, Uint8Array[], string][] = [
    ['a bad length', [length(3, 0)], 'BAD_FRAME'],
    ['a header length past the frame', [Buffer.concat([length(10, 20), Buffer.alloc(6)])], 'BAD_FRAME'],
    ['an oversized frame', [length(2 * 1024 * 1024, 2)], 'FRAME_TOO_LARGE'],
    ['invalid JSON', [rawFrame('{"id":2,')], 'BAD_JSON'],
    ['100 000-deep nesting', [rawFrame('['.repeat(100_000) + ']'.repeat(100_000))], 'BAD_JSON'],
    ['a __proto__ key', [rawFrame('{"id":2,"type":"status","__proto__":{"polluted":1}}')], 'BAD_JSON'],
    [
      'a constructor key',
      [rawFrame('{"id":2,"type":"status","constructor":{"prototype":{"polluted":1}}}')],
      'BAD_JSON',
    ],
    ['duplicate keys', [rawFrame('{"id":2,"type":"status","type":"lock"}')], 'BAD_JSON'],
    ['a wrong type', [rawFrame('{"id":"2","type":"status"}')], 'BAD_REQUEST'],
    ['a wrong parameter type', [rawFrame('{"id":2,"type":"secrets.delete","name":7}')], 'BAD_REQUEST'],
    ['an unknown field', [rawFrame('{"id":2,"type":"status","extra":1}')], 'BAD_REQUEST'],
    ['a header that is not an object', [rawFrame('[1,2]')], 'BAD_REQUEST'],
    ['an id of 0', [rawFrame('{"id":0,"type":"status"}')], 'BAD_REQUEST'],
    ['an id over 2^31-1', [rawFrame('{"id":2147483648,"type":"status"}')], 'BAD_REQUEST'],
    ['an unknown message type', [rawFrame('{"id":2,"type":"secrets.get","name":"A"}')], 'UNKNOWN_TYPE'],
    ['an unsupported v', [rawFrame('{"v":9,"id":2,"type":"status"}')], 'UNSUPPORTED_VERSION'],
    ['an attachment on status', [encodeFrame({ id: 2, type: 'status' }, Buffer.from('x'))], 'BAD_ATTACHMENT'],
    ['no attachment on unlock', [encodeFrame({ id: 2, type: 'unlock' })], 'BAD_ATTACHMENT'],
    [
      'a set attachment with one part',
      [encodeFrame({ id: 2, type: 'secrets.set', name: 'A' }, Buffer.from([0, 0, 0, 9, 1]))],
      'BAD_ATTACHMENT',
    ],
    ['a second hello', [HELLO], 'BAD_REQUEST'],
  ];

  it.each(cases)(
    'should answer %s with an error frame, close, and keep serving others',
    async (_name, writes, code) => {
      fx ??= await startServer();
      const other = await client(fx.path);
      const frames = await afterHello(fx.path, ...writes);
      expect((frames[0] as { ok: boolean }).ok).toBe(true); // hello
      expect(errorOf(frames).code).toBe(code);
      expect(fx.protocolErrors.at(-1)).toBe(code);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(await other.request('status', {})).toMatchObject({ state: 'locked' });
    },
  );

  it('should answer with the request id when it could read one', async () => {
    fx = await startServer();
    const frames = await afterHello(fx.path, rawFrame('{"id":77,"type":"nope"}'));
    expect(errorOf(frames)).toEqual({ id: 77, code: 'UNKNOWN_TYPE' });
  });

  it('should close on ff ff ff ff at once, with nothing buffered', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    const hello = nextFrames(socket, 1);
    socket.write(HELLO);
    await hello;
    const frames = framesUntilClose(socket);
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff])); // and nothing more: the server must not wait
    const start = Date.now();
    expect(errorOf(await frames).code).toBe('FRAME_TOO_LARGE');
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('should survive a truncated frame followed by a close', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    socket.write(HELLO);
    socket.end(encodeFrame({ id: 2, type: 'status' }).subarray(0, 12));
    socket.resume();
    await new Promise((r) => socket.once('close', r));
    await waitFor(() => fx!.server.connections === 0);
    const c = await client(fx.path);
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
  });

  it('should refuse a first frame that is not hello with HANDSHAKE_REQUIRED', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    const frames = framesUntilClose(socket);
    socket.write(encodeFrame({ id: 1, type: 'status' }));
    expect(errorOf(await frames).code).toBe('HANDSHAKE_REQUIRED');
  });

  it('should refuse a first frame over 4 KiB as soon as its length arrives (nothing buffered before hello)', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    const frames = framesUntilClose(socket);
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(4097, 0);
    prefix.writeUInt32BE(2, 4);
    socket.write(prefix);
    const last = (await frames).at(-1) as { error: { code: string; message: string } };
    expect(last.error).toEqual({
      code: 'FRAME_TOO_LARGE',
      message: 'a first frame of 4097 bytes is over the handshake limit of 4096',
    });
  });

  it('should refuse an unknown protocol version with the supported list', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    const frames = framesUntilClose(socket);
    socket.write(encodeFrame({ id: 1, type: 'hello', protocol: 2, client: 'future' }));
    const last = (await frames).at(-1) as { error: { code: string; message: string; supported: number[] } };
    expect(last.error.code).toBe('UNSUPPORTED_VERSION');
    expect(last.error.supported).toEqual([1]);
    expect(last.error.message).toMatch(/protocol 2 is not supported; this service speaks 1/);
  });
});

describe('createIpcServer: framing over the wire', () => {
  it('should answer two requests sent in one write', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    const got = nextFrames(socket, 3);
    socket.write(
      Buffer.concat([HELLO, encodeFrame({ id: 2, type: 'status' }), encodeFrame({ id: 3, type: 'lock' })]),
    );
    const frames = (await got) as { id: number; ok: boolean }[];
    expect(frames.map((f) => [f.id, f.ok])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    socket.destroy();
  });

  it('should answer a request written one byte at a time', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    const got = nextFrames(socket, 2);
    const bytes = Buffer.concat([
      HELLO,
      encodeFrame(
        { id: 2, type: 'secrets.set', name: 'TOKEN' },
        packParts([Buffer.from('pw'), Buffer.from('value')]).use((b) => Buffer.from(b)),
      ),
    ]);
    for (const byte of bytes) {
      socket.write(Uint8Array.of(byte));
      await new Promise((r) => setImmediate(r));
    }
    const frames = (await got) as { id: number; result: unknown }[];
    expect(frames[1]).toEqual({ id: 2, ok: true, result: { name: 'TOKEN', replaced: false } });
    socket.destroy();
  });
});

describe('createIpcServer: a valid request followed by garbage in one write', () => {
  const STATUS_RESULT = { state: 'locked', secrets: 0 };
  const garbage: [string, Buffer, string][] = [
    ['an impossible length', Buffer.from([0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef]), 'BAD_FRAME'],
    ['text', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'FRAME_TOO_LARGE'],
    ['a frame of invalid JSON', rawFrame('{"id":3,'), 'BAD_JSON'],
  ];

  it.each(garbage)(
    'should answer the request, then refuse %s with an error frame, then close',
    async (_name, bytes, code) => {
      fx = await startServer();
      const socket = await rawConnect(fx.path);
      const hello = nextFrames(socket, 1);
      socket.write(HELLO);
      await hello;
      const frames = framesUntilClose(socket);
      socket.write(Buffer.concat([encodeFrame({ id: 2, type: 'status' }), bytes]));
      const got = (await frames) as { id: number; ok: boolean; result?: unknown; error?: { code: string } }[];
      expect(got).toHaveLength(2);
      expect(got[0]).toMatchObject({ id: 2, ok: true, result: STATUS_RESULT });
      expect(got[1]).toMatchObject({ ok: false, error: { code } });
      expect(fx.protocolErrors).toEqual([code]);
    },
  );

  it('should answer hello and the request sent with it before the garbage', async () => {
    fx = await startServer();
    const socket = await rawConnect(fx.path);
    const frames = framesUntilClose(socket);
    socket.write(Buffer.concat([HELLO, encodeFrame({ id: 2, type: 'status' }), Buffer.from('garbage!')]));
    const got = (await frames) as { id: number; ok: boolean; error?: { code: string } }[];
    expect(got.map((f) => [f.id, f.ok])).toEqual([
      [1, true],
      [2, true],
      [0, false],
    ]);
    expect(got[2]!.error?.code).toBe('FRAME_TOO_LARGE');
  });

  it('should wait for a slow request before sending the error, and read nothing after the garbage', async () => {
    const base = fakeHandlers();
    const seen: string[] = [];
    fx = await startServer({
      handlers: {
        ...base,
        status: async (request, context) => {
          await sleep(300);
          return base.status(request, context);
        },
        lock: async (request, context) => {
          seen.push('lock');
          return base.lock(request, context);
        },
      },
    });
    const socket = await rawConnect(fx.path);
    const hello = nextFrames(socket, 1);
    socket.write(HELLO);
    await hello;
    const frames = framesUntilClose(socket);
    const start = Date.now();
    socket.write(Buffer.concat([encodeFrame({ id: 2, type: 'status' }), Buffer.from([0, 0, 0, 3])]));
    // A request after the garbage is never run.
    socket.write(encodeFrame({ id: 3, type: 'lock' }));
    const got = (await frames) as { id: number; ok: boolean; error?: { code: string } }[];
    expect(Date.now() - start).toBeGreaterThanOrEqual(250);
    expect(got.map((f) => [f.id, f.ok, f.error?.code])).toEqual([
      [2, true, undefined],
      [0, false, 'BAD_FRAME'],
    ]);
    expect(seen).toEqual([]);
  });
});

describe('createIpcServer: requests and handlers', () => {
  it('should pass attachment parts to the handler and wipe them after', async () => {
    const seen: string[] = [];
    let kept: unknown[] = [];
    const handlers = fakeHandlers(seen);
    fx = await startServer({
      handlers: {
        ...handlers,
        'secrets.import': async (request, ctx) => {
          kept = [...ctx.parts];
          return handlers['secrets.import'](request, ctx);
        },
      },
    });
    const c = await client(fx.path);
    await c.request('secrets.set', { name: 'A' }, { parts: [secret('pw'), Buffer.from('12345')] });
    const res = await c.request(
      'secrets.import',
      { names: ['X', 'Y'] },
      { parts: [secret('pw'), Buffer.from('x'), Buffer.from('yy')] },
    );
    expect(res).toEqual({ created: ['X', 'Y'], replaced: [] });
    expect(seen).toEqual(['set A 2,5', 'import X,Y 3']);
    expect(kept).toHaveLength(3);
    expect(kept.every((p) => (p as { wiped: boolean }).wiped)).toBe(true);
  });

  it('should send handler IpcErrors with their code and hide every other throw as INTERNAL', async () => {
    const internal: unknown[] = [];
    fx = await startServer({
      handlers: {
        ...fakeHandlers(),
        lock: async () => {
          throw new Error('secret-looking message CORACANARY');
        },
        passwd: async () => {
          throw new IpcError('PROTOCOL_ERROR', 'local codes are not for handlers');
        },
      },
      onInternalError: (error) => internal.push(error),
    });
    const c = await client(fx.path);
    await expect(c.request('unlock', {}, { parts: [secret('wrong')] })).rejects.toMatchObject({
      code: 'AUTH_FAILED',
      message: 'wrong passphrase',
    });
    await expect(c.request('lock', {})).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'internal error in the service',
    });
    await expect(c.request('passwd', {}, { parts: [secret('a'), secret('b')] })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    expect(internal).toHaveLength(2);
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' }); // connection still fine
  });

  it('should refuse to send a result outside its schema (no stray value field)', async () => {
    fx = await startServer({
      handlers: {
        ...fakeHandlers(),
        'secrets.list': async () =>
          [
            {
              name: 'A',
              created: new Date().toISOString(),
              updated: new Date().toISOString(),
              value: 'leak',
            },
          ] as never,
      },
    });
    const c = await client(fx.path);
    await expect(c.request('secrets.list', {})).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('should refuse a caller that authenticate rejects, before reading any frame', async () => {
    const refused: (string | null)[] = [];
    fx = await startServer({
      authenticate: async () => {
        throw new Error('not the cr binary');
      },
      onProtocolError: (peer, code) => refused.push(code),
    });
    await expect(connectIpc({ socketPath: fx.path })).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    expect(refused).toEqual(['NOT_ALLOWED']);
  });

  it('should not read frames before authenticate resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    fx = await startServer({
      authenticate: async () => {
        await gate;
        order.push('authenticated');
        return { uid: 0 };
      },
      handlers: {
        ...fakeHandlers(),
        status: async () => {
          order.push('status');
          return { state: 'locked', secrets: 0, pid: 1, socket: '/x', idleDeadline: null, version: '1' };
        },
      },
    });
    const socket = await rawConnect(fx.path);
    const got = nextFrames(socket, 2);
    socket.write(Buffer.concat([HELLO, encodeFrame({ id: 2, type: 'status' })]));
    await sleep(100);
    expect(order).toEqual([]);
    release();
    await got;
    expect(order).toEqual(['authenticated', 'status']);
    socket.destroy();
  });

  it('should stream events before the final reply', async () => {
    fx = await startServer({
      handlers: {
        ...fakeHandlers(),
        status: async (_r, ctx) => {
          ctx.send('progress', { step: 1 });
          ctx.send('chunk', undefined, Buffer.from('bytes'));
          return { state: 'locked', secrets: 0, pid: 1, socket: '/x', idleDeadline: null, version: '1' };
        },
      },
    });
    const c = await client(fx.path);
    const events: string[] = [];
    await c.request(
      'status',
      {},
      {
        onEvent: (event, att) =>
          events.push(
            `${event.event}:${JSON.stringify(event.data)}:${att === null ? '' : Buffer.from(att).toString()}`,
          ),
      },
    );
    expect(events).toEqual(['progress:{"step":1}:', 'chunk:undefined:bytes']);
  });

  it('should answer RATE_LIMITED when the caller’s bucket is empty, and keep the connection', async () => {
    fx = await startServer({ limits: { rate: { capacity: 2, refillPerSecond: 1 } } });
    const c = await client(fx.path); // hello is not rate-limited (it is bounded by the handshake)
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => c.request('status', {})));
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as IpcError).code));
    expect(codes).toEqual(['ok', 'ok', 'RATE_LIMITED', 'RATE_LIMITED']);
    expect(c.closed).toBe(false);
  });

  it('should share the bucket between connections of the same caller key', async () => {
    fx = await startServer({
      limits: { rate: { capacity: 2, refillPerSecond: 0.001 } },
      rateKey: () => 'same',
    });
    const a = await client(fx.path);
    const b = await client(fx.path);
    await a.request('status', {});
    await a.request('status', {});
    await expect(b.request('status', {})).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('should answer BUSY beyond maxInFlight', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    fx = await startServer({
      limits: { maxInFlight: 2 },
      handlers: {
        ...fakeHandlers(),
        lock: async () => {
          await gate;
          return { state: 'locked' };
        },
      },
    });
    const c = await client(fx.path);
    const pending = [c.request('lock', {}), c.request('lock', {})];
    await expect(c.request('lock', {})).rejects.toMatchObject({ code: 'BUSY' });
    release();
    await Promise.all(pending);
  });

  it('should close a connection that does not say hello in time', async () => {
    fx = await startServer({ limits: { handshakeTimeoutMs: 150 } });
    const socket = await rawConnect(fx.path);
    const frames = await framesUntilClose(socket);
    expect(errorOf(frames).code).toBe('HANDSHAKE_TIMEOUT');
    expect(fx.protocolErrors).toContain('HANDSHAKE_TIMEOUT');
  });

  it('should take a hello and a request that arrived while the service was starved past its deadlines', async () => {
    fx = await startServer({ limits: { handshakeTimeoutMs: 100, idleTimeoutMs: 100 } });
    const socket = await rawConnect(fx.path);
    await sleep(20);
    // Written at once to the kernel; this process (the service too) then cannot run for 300 ms,
    // so both deadlines are due before the frames are read. They came in time: answer them.
    socket.write(HELLO);
    busy(300);
    const hello = await nextFrames(socket, 1);
    expect(hello[0]).toMatchObject({ id: 1, ok: true });
    socket.write(encodeFrame({ id: 2, type: 'status' }));
    busy(300);
    const status = await nextFrames(socket, 1);
    expect(status[0]).toMatchObject({ id: 2, ok: true });
    socket.destroy();
    expect(fx.protocolErrors).toEqual([]);
  });

  it('should close an idle connection, also one that trickles bytes', async () => {
    fx = await startServer({ limits: { idleTimeoutMs: 200 } });
    const c = await client(fx.path);
    const socket = await rawConnect(fx.path);
    const frames = framesUntilClose(socket);
    socket.write(HELLO);
    // One byte of a well-formed frame every 50 ms: it would complete only after 1.5 s or more.
    const partial = encodeFrame({ id: 2, type: 'status', padding: 'x'.repeat(16) });
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent < partial.length - 1) socket.write(partial.subarray(sent, ++sent));
    }, 50);
    try {
      expect(errorOf(await frames).code).toBe('IDLE_TIMEOUT');
    } finally {
      clearInterval(trickle);
    }
    await waitFor(() => c.closed);
    await expect(c.request('status', {})).rejects.toMatchObject({ code: 'IDLE_TIMEOUT' });
  });

  it('should keep a connection with a long request in flight past the idle timeout', async () => {
    fx = await startServer({
      limits: { idleTimeoutMs: 100 },
      handlers: { ...fakeHandlers(), lock: async () => (await sleep(400), { state: 'locked' as const }) },
    });
    const c = await client(fx.path);
    expect(await c.request('lock', {})).toEqual({ state: 'locked' });
  });

  it('should survive clients that vanish mid-reply, and abort their handlers', async () => {
    let aborted = 0;
    fx = await startServer({
      handlers: {
        ...fakeHandlers(),
        'secrets.list': async (_r, ctx) => {
          await sleep(50);
          if (ctx.signal.aborted) aborted += 1;
          const now = new Date().toISOString();
          // a big reply, so the write is still going when the client is gone
          return Array.from({ length: 5000 }, (_, i) => ({
            name: `N${i}`,
            created: now,
            updated: now,
            length: i,
          }));
        },
      },
    });
    for (let i = 0; i < 20; i++) {
      const socket = await rawConnect(fx.path);
      socket.on('error', () => undefined);
      socket.write(Buffer.concat([HELLO, encodeFrame({ id: 2, type: 'secrets.list' })]));
      if (i % 2 === 0) await sleep(60); // mid-reply
      socket.destroy();
    }
    await waitFor(() => fx!.server.connections === 0);
    expect(aborted).toBeGreaterThan(0);
    const c = await client(fx.path);
    expect(await c.request('secrets.list', {})).toHaveLength(5000);
  });

  it('should call onDisconnect with the peer when a connection closes', async () => {
    const gone: unknown[] = [];
    fx = await startServer({ onDisconnect: (peer) => gone.push(peer) });
    const c = await client(fx.path);
    c.close();
    await waitFor(() => gone.length === 1);
    expect(gone[0]).toEqual({ uid: process.getuid!() });
  });

  it('should throw TypeError and RangeError for bad options', async () => {
    await expect(createBad({ authenticate: undefined })).rejects.toThrow(TypeError);
    await expect(createBad({ handlers: null })).rejects.toThrow(TypeError);
    await expect(createBad({ limits: { maxConnections: 0 } })).rejects.toThrow(RangeError);
    await expect(createBad({ limits: { maxFrameBytes: 2 } })).rejects.toThrow(RangeError);
    await expect(createBad({ limits: { rate: { capacity: 0, refillPerSecond: 1 } } })).rejects.toThrow(
      RangeError,
    );
  });
});

async function createBad(overrides: Record<string, unknown>): Promise<unknown> {
  const { createIpcServer } = await import('../src/index.ts');
  return createIpcServer({
    socketPath: '/nonexistent/never/cora.sock',
    authenticate: async () => ({}),
    handlers: fakeHandlers() as never,
    ...overrides,
  });
}

describe('IpcClient', () => {
  it('should refuse bad requests locally before sending', async () => {
    fx = await startServer();
    const c = await client(fx.path);
    await expect(c.request('unlock', {})).rejects.toMatchObject({ code: 'BAD_ATTACHMENT' });
    await expect(c.request('unlock', {}, { parts: [Buffer.alloc(0)] })).rejects.toMatchObject({
      code: 'BAD_ATTACHMENT',
    });
    await expect(
      c.request('secrets.set', { name: 7 } as never, { parts: [Buffer.from('a'), Buffer.from('b')] }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(c.request('status', { extra: 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(c.request('nope' as never, {} as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(c.request('status', null as never)).rejects.toThrow(TypeError);
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
  });

  it('should time out and honour an abort signal', async () => {
    fx = await startServer({
      handlers: { ...fakeHandlers(), lock: async () => (await sleep(300), { state: 'locked' as const }) },
    });
    const c = await client(fx.path);
    await expect(c.request('lock', {}, { timeoutMs: 20 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    const ac = new AbortController();
    const p = c.request('lock', {}, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
  });

  it('should reject pending requests with CONNECTION_CLOSED when the server goes away', async () => {
    fx = await startServer({
      handlers: { ...fakeHandlers(), lock: async () => (await sleep(5000), { state: 'locked' as const }) },
    });
    const c = await client(fx.path);
    const settled = c.request('lock', {}).catch((e: unknown) => e);
    await fx.close();
    fx = undefined;
    const error = await settled;
    expect(isIpcError(error, 'CONNECTION_CLOSED')).toBe(true);
    await expect(c.request('status', {})).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
  });
});
