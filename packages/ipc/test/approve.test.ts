// SPDX-License-Identifier: AGPL-3.0-only
/* eslint-disable @typescript-eslint/require-await -- handlers are async by contract */
import { afterEach, describe, expect, it } from 'vitest';
import {
  APPROVAL_LIMITS,
  connectIpc,
  encodeFrame,
  IpcError,
  isIpcError,
  packParts,
  type ApprovalInfo,
  type ApprovalResolved,
  type ApproveResult,
  type IpcClient,
  type IpcHandler,
  type RequestInput,
} from '../src/index.ts';
import { fakeHandlers, HELLO, nextFrames, rawConnect, secret, startServer, type Fixture } from './helpers.ts';

type Peer = { uid: number };

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

const INFO: ApprovalInfo = {
  id: 7,
  task: 'deploy',
  target: '/usr/bin/curl',
  argv: ['curl', 'https://example.invalid'],
  argvMore: [0, 0],
  argvOmitted: 0,
  cwd: '/tmp',
  cwdMore: 0,
  secrets: ['API_KEY'],
  caller: { pid: 100, exe: '/usr/bin/node', script: '/opt/cr/cli.js' },
  ancestry: [{ pid: 99, exe: '/usr/bin/bash' }],
  window: '15m',
  expiresAt: new Date(0).toISOString(),
  env: [{ name: 'HOME', value: '/home/u', more: 0 }],
  envOmitted: 0,
  files: [{ where: 'home', path: '.curlrc', modified: new Date(0).toISOString() }],
};

/**
 * A fake approver endpoint: checks the passphrase part, sends `ready` and one `pending`, then
 * answers each decision with `resolved` and ends after the first one.
 */
function fakeApprove(inputs: RequestInput[], pending: unknown = INFO): IpcHandler<'approve', Peer> {
  return async (_request, ctx) => {
    const ok = ctx.parts[0]?.use((bytes) => Buffer.from(bytes).equals(Buffer.from('pass')));
    if (ok !== true) throw new IpcError('AUTH_FAILED', 'wrong passphrase');
    ctx.send('ready');
    ctx.send('pending', pending);
    return new Promise<ApproveResult>((resolve) => {
      ctx.onInput((input) => {
        inputs.push(input);
        if (input.kind === 'decide') {
          ctx.send('resolved', {
            id: input.approval,
            outcome: input.decision === 'deny' ? 'denied' : 'granted',
          });
          resolve({ ended: 'replaced' });
        }
      });
    });
  };
}

/** An exec that only says it started and never ends (until the connection goes). */
function echoStarted(): IpcHandler<'exec', Peer> {
  return async (_request, ctx) => {
    ctx.send('started', { pid: 4242 });
    return new Promise<never>(() => undefined);
  };
}

describe('approve', () => {
  it('should stream pending requests and deliver decisions to the handler', async () => {
    const inputs: RequestInput[] = [];
    fx = await startServer({ handlers: { ...fakeHandlers(), approve: fakeApprove(inputs) } });
    const c = await client(fx.path);
    const seen: ApprovalInfo[] = [];
    const resolved: ApprovalResolved[] = [];
    let ready = false;
    const session = c.approve(secret('pass'), {
      onReady: () => {
        ready = true;
      },
      onPending: (info) => {
        seen.push(info);
        void session.decide(info.id, 'allow-window');
      },
      onResolved: (r) => resolved.push(r),
    });
    await expect(session.done).resolves.toEqual({ ended: 'replaced' });
    expect(ready).toBe(true);
    expect(seen).toEqual([INFO]);
    expect(inputs).toEqual([{ kind: 'decide', approval: 7, decision: 'allow-window' }]);
    expect(resolved).toEqual([{ id: 7, outcome: 'granted' }]);
    await expect(session.decide(7, 'deny')).rejects.toSatisfy((e) => isIpcError(e, 'NOT_FOUND'));
  });

  it('should refuse a wrong passphrase through done', async () => {
    fx = await startServer({ handlers: { ...fakeHandlers(), approve: fakeApprove([]) } });
    const c = await client(fx.path);
    const session = c.approve(secret('nope'));
    await expect(session.done).rejects.toSatisfy((e) => isIpcError(e, 'AUTH_FAILED'));
  });

  it('should answer NOT_FOUND to a decision whose ref is not an approve in flight', async () => {
    const inputs: RequestInput[] = [];
    fx = await startServer({
      handlers: { ...fakeHandlers(), exec: echoStarted(), approve: fakeApprove(inputs) },
    });
    const socket = await rawConnect(fx.path);
    socket.on('error', () => undefined);
    try {
      let frames = nextFrames(socket, 1);
      socket.write(HELLO);
      await frames;
      // Unknown ref.
      frames = nextFrames(socket, 1);
      socket.write(encodeFrame({ id: 5, type: 'approve.decide', ref: 99, approval: 1, decision: 'deny' }));
      expect((await frames)[0]).toMatchObject({ id: 5, ok: false, error: { code: 'NOT_FOUND' } });
      // An exec in flight is not an approve; and an exec follow-up cannot reach an approve.
      frames = nextFrames(socket, 2);
      socket.write(encodeFrame({ id: 6, type: 'exec', task: 't', argv: ['/bin/x'], cwd: '/', env: {} }));
      socket.write(encodeFrame({ id: 7, type: 'approve.decide', ref: 6, approval: 1, decision: 'deny' }));
      expect(await frames).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: 6, event: 'started' }),
          expect.objectContaining({
            id: 7,
            ok: false,
            error: expect.objectContaining({ code: 'NOT_FOUND' }) as unknown,
          }),
        ]),
      );
      frames = nextFrames(socket, 2);
      socket.write(
        encodeFrame(
          { id: 8, type: 'approve' },
          packParts([Buffer.from('pass')]).use((b) => Buffer.from(b)),
        ),
      );
      await frames; // ready, pending
      frames = nextFrames(socket, 1);
      socket.write(encodeFrame({ id: 9, type: 'exec.signal', ref: 8, signal: 'SIGINT' }));
      expect((await frames)[0]).toMatchObject({ id: 9, ok: false, error: { code: 'NOT_FOUND' } });
      expect(inputs).toEqual([]);
      expect(fx.protocolErrors).toEqual([]);
    } finally {
      socket.destroy();
    }
  });

  it('should treat a malformed pending event as a protocol error', async () => {
    fx = await startServer({
      handlers: { ...fakeHandlers(), approve: fakeApprove([], { ...INFO, value: 'x' }) },
    });
    const c = await client(fx.path);
    const seen: unknown[] = [];
    const session = c.approve(secret('pass'), { onPending: (info) => seen.push(info) });
    await expect(session.done).rejects.toSatisfy((e) => isIpcError(e, 'PROTOCOL_ERROR'));
    expect(seen).toEqual([]);
  });

  it.each([
    ['too many variables', { env: Array.from({ length: APPROVAL_LIMITS.maxEnv + 1 }, () => INFO.env[0]) }],
    [
      'a value over the limit',
      { env: [{ name: 'A', value: 'x'.repeat(APPROVAL_LIMITS.maxEnvValueBytes + 1), more: 0 }] },
    ],
    ['a variable with an extra field', { env: [{ name: 'A', value: 'x', more: 0, secret: 'y' }] }],
    ['a file outside home and cwd', { files: [{ where: 'etc', path: 'passwd', modified: INFO.expiresAt }] }],
    ['too many files', { files: Array.from({ length: APPROVAL_LIMITS.maxFiles + 1 }, () => INFO.files[0]) }],
    ['no env at all', { env: undefined }],
  ])('should refuse a pending event with %s (strict, bounded)', async (_what, change) => {
    fx = await startServer({
      handlers: { ...fakeHandlers(), approve: fakeApprove([], { ...INFO, ...change }) },
    });
    const c = await client(fx.path);
    const seen: unknown[] = [];
    const session = c.approve(secret('pass'), { onPending: (info) => seen.push(info) });
    await expect(session.done).rejects.toSatisfy((e) => isIpcError(e, 'PROTOCOL_ERROR'));
    expect(seen).toEqual([]);
  });

  it('should pass DENIED and AUDIT_UNAVAILABLE from a handler through to the client', async () => {
    fx = await startServer({
      handlers: {
        ...fakeHandlers(),
        approve: async () => {
          throw new IpcError('DENIED', 'denied by the approver');
        },
        'audit.verify': async () => {
          throw new IpcError('AUDIT_UNAVAILABLE', 'the audit log cannot be written');
        },
      },
    });
    const c = await client(fx.path);
    await expect(c.approve(secret('pass')).done).rejects.toMatchObject({
      code: 'DENIED',
      message: 'denied by the approver',
    });
    await expect(c.request('audit.verify', {})).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });

  it('should answer NOT_ALLOWED when the service has no approve handler', async () => {
    fx = await startServer();
    const c = await client(fx.path);
    await expect(c.approve(secret('pass')).done).rejects.toSatisfy((e) => isIpcError(e, 'NOT_ALLOWED'));
  });
});
