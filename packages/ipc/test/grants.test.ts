// SPDX-License-Identifier: AGPL-3.0-only
/* eslint-disable @typescript-eslint/require-await -- handlers are async by contract */
// `grants.list` and `grants.revoke` (architecture §7): strict request schemas on both sides,
// and results checked before they leave the server, so a grant's start time or anything else
// never crosses the socket (G2).
import { afterEach, describe, expect, it } from 'vitest';
import {
  connectIpc,
  encodeFrame,
  GRANT_ID_PATTERN,
  IpcError,
  isIpcError,
  type GrantInfo,
  type IpcClient,
  type IpcHandlers,
} from '../src/index.ts';
import { fakeHandlers, startServer, verdictOf, type Fixture } from './helpers.ts';

type Peer = { uid: number };

let fx: Fixture | undefined;
let open: IpcClient | undefined;
afterEach(async () => {
  open?.close();
  open = undefined;
  await fx?.close();
  fx = undefined;
});

/** A server with `given` handlers (default: none for grants) and a client connected to it. */
async function serve(given?: IpcHandlers<Peer>): Promise<IpcClient> {
  fx = await startServer(given === undefined ? {} : { handlers: given });
  open = await connectIpc({ socketPath: fx.path });
  return open;
}

const GRANT: GrantInfo = {
  id: '0a1b2c3d',
  task: 'deploy',
  caller: '/usr/bin/node',
  parentPid: 4000,
  scope: 'window',
  grantedAt: '2026-11-23T00:00:00.000Z',
  expiresAt: '2026-11-23T00:15:00.000Z',
  approval: 7,
  approver: { pid: 900, exe: '/usr/bin/node' },
};
const SESSION_GRANT: GrantInfo = {
  ...GRANT,
  id: 'ffffffff',
  scope: 'session',
  expiresAt: null,
  approver: null,
};

function handlers(list: () => unknown, revoke: (request: unknown) => unknown): IpcHandlers<Peer> {
  return {
    ...fakeHandlers(),
    'grants.list': async () => list() as readonly GrantInfo[],
    'grants.revoke': async (request) => revoke(request) as { revoked: readonly GrantInfo[] },
  };
}

describe('grants.list', () => {
  it('should carry grants of both scopes from the handler to the client', async () => {
    const c = await serve(
      handlers(
        () => [GRANT, SESSION_GRANT],
        () => ({ revoked: [] }),
      ),
    );
    expect(await c.request('grants.list', {})).toEqual([GRANT, SESSION_GRANT]);
  });

  it.each([
    ['a start time', { ...GRANT, parentStartTime: 5000 }],
    ['argv', { ...GRANT, argv: ['curl', 'secret'] }],
    ['an id that is not 8 hex digits', { ...GRANT, id: 'not-an-id' }],
    ['an unknown scope', { ...GRANT, scope: 'once' }],
    ['a relative caller path', { ...GRANT, caller: 'node' }],
    ['an approver with an extra field', { ...GRANT, approver: { pid: 1, exe: '/x', argv: [] } }],
    ['a time that is not ISO', { ...GRANT, grantedAt: 'yesterday' }],
  ])('should answer INTERNAL, not the result, when a grant holds %s', async (_what, grant) => {
    const c = await serve(
      handlers(
        () => [grant],
        () => ({ revoked: [] }),
      ),
    );
    await expect(c.request('grants.list', {})).rejects.toSatisfy((e) => isIpcError(e, 'INTERNAL'));
  });

  it('should refuse a list request with parameters', async () => {
    await serve(
      handlers(
        () => [],
        () => ({ revoked: [] }),
      ),
    );
    const frame = encodeFrame({ id: 2, type: 'grants.list', all: true });
    expect(await verdictOf(fx?.path ?? '', frame)).toBe('BAD_REQUEST');
  });
});

describe('grants.revoke', () => {
  it('should carry a revoke by id and a revoke of all, and the grants revoked', async () => {
    const seen: unknown[] = [];
    const c = await serve(
      handlers(
        () => [],
        (request) => {
          seen.push(request);
          return { revoked: [GRANT] };
        },
      ),
    );
    expect(await c.request('grants.revoke', { grant: GRANT.id })).toEqual({ revoked: [GRANT] });
    expect(await c.request('grants.revoke', { all: true })).toEqual({ revoked: [GRANT] });
    expect(seen).toEqual([
      expect.objectContaining({ type: 'grants.revoke', grant: GRANT.id }),
      expect.objectContaining({ type: 'grants.revoke', all: true }),
    ]);
  });

  it.each([
    ['neither id nor all', {}],
    ['both an id and all', { grant: GRANT.id, all: true }],
    ['all: false', { all: false }],
    ['an id with upper-case digits', { grant: '0A1B2C3D' }],
    ['an id of the wrong length', { grant: '0a1b2c3' }],
    ['an id that is not a string', { grant: 12345678 }],
    ['an extra field', { grant: GRANT.id, task: 'deploy' }],
  ])('should refuse a request with %s, on the server and in the client', async (_what, params) => {
    const seen: unknown[] = [];
    const c = await serve(
      handlers(
        () => [],
        (request) => seen.push(request),
      ),
    );
    const frame = encodeFrame({ id: 3, type: 'grants.revoke', ...params });
    expect(await verdictOf(fx?.path ?? '', frame)).toBe('BAD_REQUEST');
    await expect(c.request('grants.revoke', params as { all: true })).rejects.toSatisfy((e) => isIpcError(e));
    expect(seen).toEqual([]);
  });

  it('should answer INTERNAL when the result holds more than the grants', async () => {
    const c = await serve(
      handlers(
        () => [],
        () => ({ revoked: [{ ...GRANT, parentStartTime: 1 }] }),
      ),
    );
    await expect(c.request('grants.revoke', { all: true })).rejects.toSatisfy((e) =>
      isIpcError(e, 'INTERNAL'),
    );
  });

  it('should pass NOT_FOUND from the handler through to the client', async () => {
    const c = await serve(
      handlers(
        () => [],
        () => {
          throw new IpcError('NOT_FOUND', 'no live grant has the id 0a1b2c3d');
        },
      ),
    );
    await expect(c.request('grants.revoke', { grant: GRANT.id })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'no live grant has the id 0a1b2c3d',
    });
  });

  it('should answer NOT_ALLOWED when the service has no grants handlers', async () => {
    const c = await serve();
    await expect(c.request('grants.list', {})).rejects.toSatisfy((e) => isIpcError(e, 'NOT_ALLOWED'));
    await expect(c.request('grants.revoke', { all: true })).rejects.toSatisfy((e) =>
      isIpcError(e, 'NOT_ALLOWED'),
    );
  });

  it('should name grant ids by one pattern', () => {
    expect(GRANT_ID_PATTERN.test('0a1b2c3d')).toBe(true);
    expect(GRANT_ID_PATTERN.test('0a1b2c3d0')).toBe(false);
    expect(GRANT_ID_PATTERN.test('g0000000')).toBe(false);
  });
});
