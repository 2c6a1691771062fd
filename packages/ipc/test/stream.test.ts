// SPDX-License-Identifier: AGPL-3.0-only
/* eslint-disable @typescript-eslint/require-await -- handlers are async by contract */
// exec streaming and attachments end to end: how stdin is cut into frames, what is sent
// after the run ended, what a client that leaves mid-stream does to the handler, and who
// wipes which bytes when.
import type { SecretBuf } from '@cora/memstore';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ExecResult,
  type IpcClient,
  type IpcHandler,
  type IpcHandlers,
  type RequestContext,
  type RequestInput,
} from '../src/index.ts';
import { fakeHandlers, Scratch, secret, VALID_REQUESTS, waitFor, type Fixture } from './helpers.ts';

type Peer = { uid: number };
const EXEC = VALID_REQUESTS.exec.params;

const scratch = new Scratch();
let fx: Fixture | undefined;
afterEach(() => scratch.cleanup());

/** A server with `extra` handlers (and a frame limit), and a client of it. */
async function serve(extra: Partial<IpcHandlers<Peer>>, maxFrameBytes?: number): Promise<IpcClient> {
  const limit = maxFrameBytes === undefined ? {} : { maxFrameBytes };
  fx = await scratch.fixture({ handlers: { ...fakeHandlers(), ...extra }, limits: limit });
  return scratch.connect({ socketPath: fx.path, ...limit });
}

/** An exec that records its inputs (stdin as copies) and ends on eof or a signal. */
function recordingExec(
  inputs: (RequestInput | string)[],
  onContext: (ctx: RequestContext<Peer>) => void = () => undefined,
): IpcHandler<'exec', Peer> {
  return async (_request, ctx) => {
    onContext(ctx);
    ctx.send('started', { pid: 4242 });
    return new Promise<ExecResult>((resolve) => {
      ctx.onInput((input) => {
        if (input.kind === 'stdin') inputs.push(input.data.use((b) => Buffer.from(b).toString('latin1')));
        else inputs.push(input);
        if (input.kind === 'eof') resolve({ code: 0, signal: null });
        if (input.kind === 'signal') resolve({ code: null, signal: input.signal });
      });
    });
  };
}

describe('IpcClient#exec: stdin frames', () => {
  it('should cut stdin into frames that fit a small frame limit, in order', async () => {
    const inputs: (RequestInput | string)[] = [];
    const c = await serve({ exec: recordingExec(inputs) }, 4096);
    const data = Buffer.from(Array.from({ length: 20_000 }, (_, i) => i % 251));
    const run = c.exec(EXEC);
    await run.stdin(data);
    await run.end();
    expect(await run.done).toEqual({ code: 0, signal: null });
    const chunks = inputs.filter((i): i is string => typeof i === 'string');
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    expect(chunks.every((chunk) => chunk.length <= 4096)).toBe(true);
    expect(Buffer.from(chunks.join(''), 'latin1').equals(data)).toBe(true);
    expect(fx!.protocolErrors).toEqual([]);
  });

  it('should send nothing for empty stdin (an empty stdin frame would be refused)', async () => {
    const inputs: (RequestInput | string)[] = [];
    const c = await serve({ exec: recordingExec(inputs) });
    const run = c.exec(EXEC);
    await run.stdin(new Uint8Array(0));
    await run.end();
    expect(await run.done).toEqual({ code: 0, signal: null });
    expect(inputs).toEqual([{ kind: 'eof' }]);
    expect(fx!.protocolErrors).toEqual([]);
  });

  it('should refuse a bad resize locally and keep the run going', async () => {
    const inputs: (RequestInput | string)[] = [];
    const c = await serve({ exec: recordingExec(inputs) });
    const run = c.exec(EXEC);
    await expect(run.resize(0, 24)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(run.stdin('text' as never)).rejects.toThrow(TypeError);
    await run.resize(80, 24);
    await run.signal('SIGTERM');
    expect(await run.done).toEqual({ code: null, signal: 'SIGTERM' });
    expect(inputs).toEqual([
      { kind: 'resize', cols: 80, rows: 24 },
      { kind: 'signal', signal: 'SIGTERM' },
    ]);
  });

  it('should send no follow-up once the run has ended', async () => {
    const inputs: (RequestInput | string)[] = [];
    const c = await serve({ exec: recordingExec(inputs) });
    const run = c.exec(EXEC);
    await run.end();
    await run.done;
    await run.stdin(Buffer.from('late'));
    await run.signal('SIGKILL');
    await run.resize(1, 1);
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
    expect(inputs).toEqual([{ kind: 'eof' }]);
    expect(fx!.protocolErrors).toEqual([]);
  });
});

describe('IpcClient#exec: a client that leaves mid-stream', () => {
  it('should abort the handler, refuse its later sends and free the connection', async () => {
    let ctx: RequestContext<Peer> | undefined;
    const c = await serve({ exec: recordingExec([], (x) => (ctx = x)) });
    let started = 0;
    const run = c.exec(EXEC, { onStarted: () => (started += 1) });
    await waitFor(() => started === 1);
    c.close();
    await expect(run.done).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    await waitFor(() => ctx!.signal.aborted);
    expect(ctx!.send('stdout', undefined, Buffer.from('nobody reads this'))).toBe(false);
    await waitFor(() => fx!.server.connections === 0);
  });

  it('should reject done with TIMEOUT on abort while the service keeps the run', async () => {
    let ctx: RequestContext<Peer> | undefined;
    const c = await serve({ exec: recordingExec([], (x) => (ctx = x)) });
    const abort = new AbortController();
    const run = c.exec(EXEC, { signal: abort.signal, onStarted: () => abort.abort() });
    await expect(run.done).rejects.toMatchObject({ code: 'TIMEOUT' });
    // Documented: only closing the client makes the service stop the child.
    expect(ctx!.signal.aborted).toBe(false);
    c.close();
    await waitFor(() => ctx!.signal.aborted);
  });
});

describe('attachments: ownership and wiping', () => {
  it('should wipe each stdin input once the listener returns, or once its promise settles', async () => {
    const held: SecretBuf[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = await serve({
      exec: async (_request, ctx) =>
        new Promise<ExecResult>((resolve) => {
          ctx.onInput(async (input) => {
            if (input.kind === 'eof') return resolve({ code: 0, signal: null });
            if (input.kind !== 'stdin') return;
            held.push(input.data);
            if (held.length === 2) await gate;
          });
        }),
    });
    const run = c.exec(EXEC);
    await run.stdin(Buffer.from('one'));
    await run.stdin(Buffer.from('two'));
    await waitFor(() => held.length === 2);
    expect(held.map((b) => b.wiped)).toEqual([true, false]);
    release();
    await waitFor(() => held[1]!.wiped);
    await run.end();
    expect(await run.done).toEqual({ code: 0, signal: null });
  });

  it('should copy an event attachment: the handler keeps its own bytes intact', async () => {
    const mine = Buffer.from('handler bytes');
    const c = await serve({
      exec: async (_request, ctx) => {
        ctx.send('stdout', undefined, mine);
        return { code: 0, signal: null };
      },
    });
    const out: string[] = [];
    expect(await c.exec(EXEC, { onStdout: (b) => out.push(Buffer.from(b).toString()) }).done).toEqual({
      code: 0,
      signal: null,
    });
    expect(out).toEqual(['handler bytes']);
    expect(mine.toString()).toBe('handler bytes');
  });

  it('should carry an empty last part, and leave the caller’s parts to the caller', async () => {
    const lengths: number[][] = [];
    const c = await serve({
      'secrets.set': async (request, { parts }) => {
        lengths.push(parts.map((p) => p.length));
        return { name: request.name, replaced: false };
      },
    });
    const passphrase = Buffer.from('pw');
    const value = secret('v');
    await c.request('secrets.set', { name: 'A' }, { parts: [passphrase, new Uint8Array(0)] });
    await c.request('secrets.set', { name: 'B' }, { parts: [passphrase, value] });
    expect(lengths).toEqual([
      [2, 0],
      [2, 1],
    ]);
    // Not consumed (RequestOptions.parts): wiping them is the caller's job.
    expect(passphrase.toString()).toBe('pw');
    expect(value.wiped).toBe(false);
    value.wipe();
  });

  it('should refuse locally parts that add up past the frame limit, and keep the connection', async () => {
    const c = await serve({}, 4096);
    await expect(
      c.request('secrets.set', { name: 'A' }, { parts: [Buffer.from('pw'), Buffer.alloc(4096)] }),
    ).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' });
    expect(await c.request('status', {})).toMatchObject({ state: 'locked' });
    expect(fx!.protocolErrors).toEqual([]);
  });
});
