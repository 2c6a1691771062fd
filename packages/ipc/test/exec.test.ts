// SPDX-License-Identifier: AGPL-3.0-only
/* eslint-disable @typescript-eslint/require-await -- handlers are async by contract */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectIpc,
  encodeFrame,
  FrameDecoder,
  IpcError,
  isIpcError,
  type ExecResult,
  type IpcClient,
  type IpcHandler,
  type IpcHandlers,
  type RequestInput,
} from '../src/index.ts';
import {
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

type Peer = { uid: number };

let fx: Fixture | undefined;
const clients: IpcClient[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.destroy();
  await fx?.close();
  fx = undefined;
});

async function client(path: string): Promise<IpcClient> {
  const c = await connectIpc({ socketPath: path });
  clients.push(c);
  return c;
}

async function helloSocket(path: string): Promise<Socket> {
  const socket = await rawConnect(path);
  sockets.push(socket);
  socket.on('error', () => undefined);
  const hello = nextFrames(socket, 1);
  socket.write(HELLO);
  await hello;
  return socket;
}

const EXEC = { task: 'deploy', argv: ['/bin/echo', 'hi'], cwd: '/tmp', env: { LANG: 'C' } } as const;

/**
 * A fake `exec`: `started`, then every stdin chunk back as a `stdout` event (registered late,
 * so early frames must be held), `eof` finishes with code 0, a signal finishes "killed".
 */
function echoExec(delayListenerMs = 0): IpcHandler<'exec', Peer> {
  return async (request, ctx) => {
    ctx.send('started', { pid: 4242 });
    if (request.argv[0] === '/bin/false') return { code: 1, signal: null };
    await sleep(delayListenerMs);
    return new Promise<ExecResult>((resolve) => {
      ctx.onInput((input: RequestInput) => {
        if (input.kind === 'stdin') input.data.use((bytes) => ctx.send('stdout', undefined, bytes));
        else if (input.kind === 'eof') resolve({ code: 0, signal: null });
        else if (input.kind === 'signal') resolve({ code: null, signal: input.signal });
        else if (input.kind === 'resize')
          ctx.send('stderr', undefined, Buffer.from(`resize ${input.cols}x${input.rows}\n`));
      });
    });
  };
}

function withExtra(extra: Partial<IpcHandlers<Peer>>): IpcHandlers<Peer> {
  return { ...fakeHandlers(), ...extra };
}

describe('exec and policy schemas', () => {
  const refused: [string, string][] = [
    ['an unknown signal', '{"id":2,"type":"exec.signal","ref":1,"signal":"SIGSTOP"}'],
    ['a relative cwd', '{"id":2,"type":"exec","task":"t","argv":["a"],"cwd":"tmp","env":{}}'],
    ['an empty argv', '{"id":2,"type":"exec","task":"t","argv":[],"cwd":"/","env":{}}'],
    [
      '257 argv items',
      JSON.stringify({ id: 2, type: 'exec', task: 't', argv: Array(257).fill('a'), cwd: '/', env: {} }),
    ],
    [
      'an argv item of 4097 bytes',
      JSON.stringify({ id: 2, type: 'exec', task: 't', argv: ['é'.repeat(2049)], cwd: '/', env: {} }),
    ],
    ['a NUL in argv', '{"id":2,"type":"exec","task":"t","argv":["a\\u0000b"],"cwd":"/","env":{}}'],
    ['an env name with =', '{"id":2,"type":"exec","task":"t","argv":["a"],"cwd":"/","env":{"A=B":"x"}}'],
    ['a non-string env value', '{"id":2,"type":"exec","task":"t","argv":["a"],"cwd":"/","env":{"A":1}}'],
    [
      '257 env entries',
      JSON.stringify({
        id: 2,
        type: 'exec',
        task: 't',
        argv: ['a'],
        cwd: '/',
        env: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`V${i}`, 'x'])),
      }),
    ],
    ['an extra exec field', '{"id":2,"type":"exec","task":"t","argv":["a"],"cwd":"/","env":{},"uid":0}'],
    ['a non-object policy (array)', '{"id":2,"type":"policy.set","policy":[1]}'],
    ['a non-object policy (string)', '{"id":2,"type":"policy.set","policy":"x"}'],
    ['a null policy', '{"id":2,"type":"policy.set","policy":null}'],
    ['an extra policy.get field', '{"id":2,"type":"policy.get","policy":{}}'],
    [
      'a relative explain caller',
      '{"id":2,"type":"policy.explain","task":"t","argv":["a"],"caller":"bin/x"}',
    ],
    ['a resize of 0 columns', '{"id":2,"type":"exec.resize","ref":1,"cols":0,"rows":24}'],
    ['a stdin without ref', '{"id":2,"type":"exec.stdin"}'],
    ['eof: false', '{"id":2,"type":"exec.stdin","ref":1,"eof":false}'],
  ];

  it.each(refused)('should refuse %s with BAD_REQUEST and close', async (_name, header) => {
    fx ??= await startServer();
    const socket = await helloSocket(fx.path);
    const frames = framesUntilClose(socket);
    socket.write(rawFrame(header, header.includes('exec.stdin') ? Buffer.from('x') : new Uint8Array(0)));
    const last = (await frames).at(-1) as { id: number; error: { code: string } };
    expect(last).toMatchObject({ id: 2, ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('should refuse bad exec params locally, before sending', async () => {
    fx = await startServer({ handlers: withExtra({ exec: echoExec() }) });
    const c = await client(fx.path);
    await expect(c.exec({ ...EXEC, cwd: 'relative' }).done).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(c.exec({ ...EXEC, argv: [] }).done).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(c.request('policy.set', { policy: [] }, { parts: [secret('pw')] })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    // The connection is untouched.
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
  });

  it('should refuse an exec.stdin whose attachment does not match eof (BAD_ATTACHMENT)', async () => {
    fx = await startServer({ handlers: withExtra({ exec: echoExec() }) });
    for (const frame of [
      encodeFrame({ id: 3, type: 'exec.stdin', ref: 2 }),
      encodeFrame({ id: 3, type: 'exec.stdin', ref: 2, eof: true }, Buffer.from('x')),
      encodeFrame({ id: 3, type: 'exec.signal', ref: 2, signal: 'SIGINT' }, Buffer.from('x')),
    ]) {
      const socket = await helloSocket(fx.path);
      const frames = framesUntilClose(socket);
      socket.write(encodeFrame({ id: 2, type: 'exec', ...EXEC }));
      socket.write(frame);
      const last = (await frames).at(-1) as { id: number; error: { code: string } };
      expect(last).toMatchObject({ id: 3, ok: false, error: { code: 'BAD_ATTACHMENT' } });
    }
  });
});

describe('IpcClient#exec', () => {
  it('should stream started/stdout/stderr, forward stdin held before the listener, and finish with the code', async () => {
    fx = await startServer({ handlers: withExtra({ exec: echoExec(100) }) });
    const c = await client(fx.path);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let pid = 0;
    const run = c.exec(
      { ...EXEC, tty: true },
      {
        onStarted: (p) => (pid = p),
        onStdout: (chunk) => out.push(Buffer.from(chunk)),
        onStderr: (chunk) => err.push(Buffer.from(chunk)),
      },
    );
    // Sent at once: the handler registers its listener 100 ms later, so these are held.
    await run.stdin(Buffer.from('hello '));
    await run.resize(80, 24);
    await run.stdin(Buffer.from('world'));
    await run.end();
    expect(await run.done).toEqual({ code: 0, signal: null });
    expect(pid).toBe(4242);
    expect(Buffer.concat(out).toString()).toBe('hello world');
    expect(Buffer.concat(err).toString()).toBe('resize 80x24\n');
    // After done, follow-ups send nothing and do not throw.
    await run.stdin(Buffer.from('late'));
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
  });

  it('should forward a signal and report it', async () => {
    fx = await startServer({ handlers: withExtra({ exec: echoExec() }) });
    const c = await client(fx.path);
    const run = c.exec(EXEC);
    await run.signal('SIGTERM');
    expect(await run.done).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('should finish without any input when the child does', async () => {
    fx = await startServer({ handlers: withExtra({ exec: echoExec() }) });
    const c = await client(fx.path);
    expect(await c.exec({ ...EXEC, argv: ['/bin/false'] }).done).toEqual({ code: 1, signal: null });
  });

  it('should run several execs concurrently on one connection, each with its own input', async () => {
    fx = await startServer({ handlers: withExtra({ exec: echoExec(20) }) });
    const c = await client(fx.path);
    const outs = Array.from({ length: 6 }, () => [] as string[]);
    const runs = outs.map((out) => c.exec(EXEC, { onStdout: (b) => out.push(Buffer.from(b).toString()) }));
    await Promise.all(runs.map(async (run, i) => run.stdin(Buffer.from(`run ${i}`)).then(() => run.end())));
    await Promise.all(runs.map((run) => run.done));
    expect(outs.map((o) => o.join(''))).toEqual(outs.map((_, i) => `run ${i}`));
  });

  it('should answer NOT_ALLOWED when the service has no exec or policy handler', async () => {
    fx = await startServer(); // fakeHandlers: none of the optional types
    const c = await client(fx.path);
    const error = await c.exec(EXEC).done.catch((e: unknown) => e);
    expect(isIpcError(error, 'NOT_ALLOWED')).toBe(true);
    expect((error as IpcError).message).toMatch(/not supported by this service/);
    await expect(c.request('policy.get', {})).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    await expect(c.request('policy.explain', { task: 't', argv: ['x'] })).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
    });
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
  });
});

describe('exec follow-up frames', () => {
  it('should answer NOT_FOUND for an unknown, finished or non-exec ref and keep the connection', async () => {
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => (release = r));
    fx = await startServer({
      handlers: withExtra({
        exec: echoExec(),
        'secrets.list': async () => {
          await slow;
          return [];
        },
      }),
    });
    const socket = await helloSocket(fx.path);
    // Unknown ref.
    let frames = nextFrames(socket, 1);
    socket.write(encodeFrame({ id: 5, type: 'exec.signal', ref: 99, signal: 'SIGINT' }));
    expect((await frames)[0]).toMatchObject({ id: 5, ok: false, error: { code: 'NOT_FOUND' } });
    // A ref that is in flight but not an exec.
    socket.write(encodeFrame({ id: 6, type: 'secrets.list' }));
    frames = nextFrames(socket, 1);
    socket.write(encodeFrame({ id: 7, type: 'exec.stdin', ref: 6 }, Buffer.from('x')));
    expect((await frames)[0]).toMatchObject({ id: 7, ok: false, error: { code: 'NOT_FOUND' } });
    release();
    // A finished exec.
    frames = nextFrames(socket, 3); // list reply, started, exec reply
    socket.write(encodeFrame({ id: 8, type: 'exec', ...EXEC, argv: ['/bin/false'] }));
    expect(await frames).toEqual(
      expect.arrayContaining([{ id: 8, ok: true, result: { code: 1, signal: null } }]),
    );
    frames = nextFrames(socket, 2);
    socket.write(encodeFrame({ id: 9, type: 'exec.resize', ref: 8, cols: 10, rows: 10 }));
    socket.write(encodeFrame({ id: 10, type: 'status' }));
    const [refused, status] = (await frames) as [unknown, unknown];
    expect(refused).toMatchObject({ id: 9, ok: false, error: { code: 'NOT_FOUND' } });
    expect(status).toMatchObject({ id: 10, ok: true, result: { state: 'locked' } });
    expect(fx.protocolErrors).toEqual([]);
  });

  it('should refuse a follow-up that reuses an in-flight id, closing the connection', async () => {
    fx = await startServer({ handlers: withExtra({ exec: echoExec() }) });
    const socket = await helloSocket(fx.path);
    const frames = framesUntilClose(socket);
    socket.write(encodeFrame({ id: 2, type: 'exec', ...EXEC }));
    socket.write(encodeFrame({ id: 2, type: 'exec.signal', ref: 2, signal: 'SIGINT' }));
    expect((await frames).at(-1)).toMatchObject({ id: 2, ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('should carry 5 MB of stdin in 64 KiB chunks without RATE_LIMITED or BUSY, in order', async () => {
    let received = 0;
    const hash = createHash('sha256');
    fx = await startServer({
      limits: { rate: { capacity: 3, refillPerSecond: 1 }, maxInFlight: 1 },
      handlers: withExtra({
        exec: async (_request, ctx) =>
          new Promise<ExecResult>((resolve) => {
            ctx.onInput(async (input) => {
              if (input.kind === 'stdin') {
                input.data.use((bytes) => hash.update(bytes));
                received += input.data.length;
                // A slow child: the server must stop reading meanwhile (no unbounded queue).
                if (received % (1024 * 1024) < 65_536) await sleep(5);
              } else if (input.kind === 'eof') resolve({ code: 0, signal: null });
            });
          }),
      }),
    });
    const c = await client(fx.path);
    const data = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 12)) & 0xff;
    const run = c.exec(EXEC, { timeoutMs: 10_000 });
    for (let at = 0; at < data.length; at += 65_536) await run.stdin(data.subarray(at, at + 65_536));
    await run.end();
    expect(await run.done).toEqual({ code: 0, signal: null });
    expect(received).toBe(data.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(fx.protocolErrors).toEqual([]);
  });

  it('should stop reading the connection while the input listener is busy (stdin back-pressure)', async () => {
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (release = r));
    let chunks = 0;
    fx = await startServer({
      handlers: withExtra({
        exec: async (_request, ctx) =>
          new Promise<ExecResult>((resolve) => {
            ctx.onInput(async (input) => {
              if (input.kind === 'stdin') {
                chunks++;
                await blocked; // a child that does not read its stdin
              } else if (input.kind === 'eof') resolve({ code: 0, signal: null });
            });
          }),
      }),
    });
    const c = await client(fx.path);
    const run = c.exec(EXEC, { timeoutMs: 10_000 });
    let written = 0;
    const writes = Array.from({ length: 128 }, async () => {
      await run.stdin(Buffer.alloc(65_536, 1));
      written++;
    });
    await sleep(300);
    expect(chunks).toBe(1); // the server took one frame and stopped reading
    expect(written).toBeLessThan(128); // so the kernel buffers filled and the client waits
    release();
    await Promise.all(writes);
    await run.end();
    expect(await run.done).toEqual({ code: 0, signal: null });
    expect(chunks).toBe(128);
  });

  it('should pause the handler through send() = false and waitForDrain() when the client stops reading', async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const total = 12 * 1024 * 1024;
    let refusals = 0;
    let sent = 0;
    fx = await startServer({
      handlers: withExtra({
        exec: async (_request, ctx) => {
          while (sent < total) {
            const ok = ctx.send('stdout', undefined, chunk);
            sent += chunk.length;
            if (!ok) {
              refusals++;
              await ctx.waitForDrain();
              if (ctx.signal.aborted) return { code: null, signal: 'SIGKILL' };
            }
          }
          return { code: 0, signal: null };
        },
      }),
    });
    const socket = await helloSocket(fx.path);
    socket.pause(); // a client that stops reading
    socket.write(encodeFrame({ id: 2, type: 'exec', ...EXEC }));
    await waitFor(() => refusals > 0);
    await sleep(100);
    // The handler is waiting, not flooding: well under the 16-frame cut-off.
    expect(sent).toBeLessThan(8 * 1024 * 1024);
    const decoder = new FrameDecoder();
    let bytes = 0;
    const reply = new Promise<unknown>((resolve) => {
      socket.on('data', (data: Buffer) => {
        for (const frame of decoder.push(data)) {
          bytes += frame.attachment?.length ?? 0;
          frame.attachment?.wipe();
          const header = JSON.parse(Buffer.from(frame.header).toString()) as { ok?: boolean };
          if (header.ok !== undefined) resolve(header);
        }
      });
    });
    socket.resume();
    expect(await reply).toEqual({ id: 2, ok: true, result: { code: 0, signal: null } });
    expect(bytes).toBe(total);
    expect(refusals).toBeGreaterThan(0);
    expect(fx.protocolErrors).toEqual([]);
  });
});

describe('policy messages', () => {
  it('should round-trip policy.set (with the passphrase part) and policy.get', async () => {
    let stored: unknown = { callers: [], tasks: {} };
    fx = await startServer({
      handlers: withExtra({
        'policy.get': async () => ({ policy: stored }),
        'policy.set': async (request, { parts }) => {
          const ok = parts[0]!.use((b) => Buffer.from(b).equals(Buffer.from('correct horse')));
          if (!ok) throw new IpcError('AUTH_FAILED', 'wrong passphrase');
          stored = request.policy;
          return { ok: true };
        },
        'policy.explain': async (request) => ({
          steps: [
            { step: 'caller', ok: true, detail: request.caller ?? 'unknown' },
            { step: 'target', ok: false, detail: `${request.argv[0]} is not a target` },
          ],
          outcome: 'deny',
          reason: `task ${request.task}: target not allowed`,
        }),
      }),
    });
    const c = await client(fx.path);
    expect(await c.request('policy.get', {})).toEqual({ policy: { callers: [], tasks: {} } });
    const policy = { callers: [{ exe: '/usr/bin/agent' }], tasks: { deploy: { secrets: ['TOKEN'] } } };
    await expect(c.request('policy.set', { policy }, { parts: [secret('wrong')] })).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
    await expect(c.request('policy.set', { policy })).rejects.toMatchObject({ code: 'BAD_ATTACHMENT' });
    expect(await c.request('policy.set', { policy }, { parts: [secret('correct horse')] })).toEqual({
      ok: true,
    });
    expect(await c.request('policy.get', {})).toEqual({ policy });
    expect(
      await c.request('policy.explain', {
        task: 'deploy',
        argv: ['/usr/bin/curl'],
        caller: '/usr/bin/agent',
      }),
    ).toEqual({
      steps: [
        { step: 'caller', ok: true, detail: '/usr/bin/agent' },
        { step: 'target', ok: false, detail: '/usr/bin/curl is not a target' },
      ],
      outcome: 'deny',
      reason: 'task deploy: target not allowed',
    });
  });

  it('should refuse a policy.set frame without its passphrase attachment (BAD_ATTACHMENT)', async () => {
    fx = await startServer();
    const socket = await helloSocket(fx.path);
    const frames = framesUntilClose(socket);
    socket.write(encodeFrame({ id: 2, type: 'policy.set', policy: {} }));
    expect((await frames).at(-1)).toMatchObject({ id: 2, error: { code: 'BAD_ATTACHMENT' } });
  });

  it('should never send a result outside its schema (INTERNAL)', async () => {
    const internal: unknown[] = [];
    fx = await startServer({
      onInternalError: (e) => internal.push(e),
      handlers: withExtra({
        'policy.get': async () => ({ policy: [] }),
        exec: async () => ({ code: 0, signal: null, value: 'leak' }) as never,
      }),
    });
    const c = await client(fx.path);
    await expect(c.request('policy.get', {})).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(c.exec(EXEC).done).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(internal).toHaveLength(2);
  });
});
