// SPDX-License-Identifier: AGPL-3.0-only
// Every message type's header schema, at the boundary that matters: what a hostile local
// process can put on the wire. Each case is sent after a good hello on its own connection;
// the verdict is the server's reply (an input frame whose ref is not in flight is answered
// NOT_FOUND, which means its header passed). Requests the server refuses are also refused by
// the client before anything is sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ATTACHMENT_PARTS,
  connectIpc,
  encodeFrame,
  packParts,
  type IpcClient,
  type RequestType,
} from '../src/index.ts';
import { checkResult } from '../src/internal/schemas.ts';
import {
  rawFrame,
  REQUEST_TYPES,
  someParts,
  startServer,
  VALID_REQUESTS,
  validHandlers,
  verdictOf,
  type Fixture,
} from './helpers.ts';

const FRAME_LIMIT = 4 * 1024 * 1024;
/** One connection per case: no test reaches this rate. */
const FAST = { capacity: 100_000, refillPerSecond: 100_000 };
let fx: Fixture;
let client: IpcClient;
beforeAll(async () => {
  fx = await startServer({
    handlers: validHandlers(),
    limits: { maxFrameBytes: FRAME_LIMIT, rate: FAST, connectRate: FAST },
  });
  client = await connectIpc({ socketPath: fx.path, maxFrameBytes: FRAME_LIMIT });
});
afterAll(async () => {
  client.close();
  await fx.close();
});

/** The valid params of `type` with `params` over them; an undefined value removes the key. */
function paramsOf(type: RequestType, params: Record<string, unknown>): Record<string, unknown> {
  const merged = Object.entries({ ...VALID_REQUESTS[type].params, ...params });
  return Object.fromEntries(merged.filter(([, value]) => value !== undefined));
}

/** A request frame of `type` with `params` over its valid ones, and `parts` attachment parts. */
function frame(type: RequestType, params: Record<string, unknown> = {}, parts?: number): Uint8Array {
  const count = parts ?? VALID_REQUESTS[type].parts;
  const attachment = count === 0 ? null : packParts(someParts(count));
  try {
    return encodeFrame({ id: 2, type, ...paramsOf(type, params) }, attachment, FRAME_LIMIT);
  } finally {
    attachment?.wipe();
  }
}

/** The client's own verdict: `ok`, or the code it rejects with (locally or from the server). */
async function clientVerdict(
  type: RequestType,
  params: Record<string, unknown>,
  parts?: number,
): Promise<string> {
  const count = parts ?? VALID_REQUESTS[type].parts;
  try {
    await client.request(type, paramsOf(type, params), {
      parts: someParts(count),
    });
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? 'thrown';
  }
}

describe('request schemas: every type', () => {
  it('should know every request type the protocol defines', () => {
    const fromProtocol = Object.keys(ATTACHMENT_PARTS).filter((t) => t !== 'hello' && !isInputType(t));
    expect(REQUEST_TYPES.toSorted()).toEqual(fromProtocol.toSorted());
    for (const type of REQUEST_TYPES) {
      const parts = ATTACHMENT_PARTS[type];
      expect(VALID_REQUESTS[type].parts).toBe(parts === 'import' ? 3 : parts);
    }
  });

  it.each(REQUEST_TYPES)('should accept a valid %s, from the client and on the wire', async (type) => {
    expect(await verdictOf(fx.path, frame(type))).toBe('ok');
    expect(await clientVerdict(type, {})).toBe('ok');
  });

  it.each(REQUEST_TYPES)('should refuse %s with an extra key, a bad id or a bad v', async (type) => {
    // An unknown field is refused, not ignored: it could be a secret a buggy caller put there.
    expect(await verdictOf(fx.path, frame(type, { value: 'x' }))).toBe('BAD_REQUEST');
    expect(await clientVerdict(type, { value: 'x' })).toBe('BAD_REQUEST');
    expect(await verdictOf(fx.path, frame(type, { id: 1.5 }))).toBe('BAD_REQUEST');
    expect(await verdictOf(fx.path, frame(type, { id: '2' }))).toBe('BAD_REQUEST');
    expect(await verdictOf(fx.path, frame(type, { v: 1 }))).toBe('ok');
    expect(await verdictOf(fx.path, frame(type, { v: 2 }))).toBe('UNSUPPORTED_VERSION');
    expect(await verdictOf(fx.path, frame(type, { v: '1' }))).toBe('BAD_REQUEST');
  });

  it.each(REQUEST_TYPES)(
    'should refuse %s with too few attachment parts, or any when it takes none',
    async (type) => {
      const parts = VALID_REQUESTS[type].parts;
      // The last part takes the rest, so one part too many reads as a longer last part: only
      // a type without parts can tell (any attachment is refused), and the client counts.
      if (parts === 0) expect(await verdictOf(fx.path, frame(type, {}, 1))).toBe('BAD_ATTACHMENT');
      else expect(await verdictOf(fx.path, frame(type, {}, parts - 1))).toBe('BAD_ATTACHMENT');
      expect(await clientVerdict(type, {}, parts + 1)).toBe('BAD_ATTACHMENT');
    },
  );
});

const long = (n: number): string => 'a'.repeat(n);
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `N${String(i)}`);
const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });

/** [what, type, params, parts (default: the type's), expected verdict] */
const FIELDS: [string, RequestType, Record<string, unknown>, number | undefined, string][] = [
  ['a name of 1024 characters', 'secrets.set', { name: long(1024) }, undefined, 'ok'],
  ['a name of 1025 characters', 'secrets.set', { name: long(1025) }, undefined, 'BAD_REQUEST'],
  ['an empty name', 'secrets.delete', { name: '' }, undefined, 'BAD_REQUEST'],
  ['a null name', 'secrets.delete', { name: null }, undefined, 'BAD_REQUEST'],
  ['an import of 10 000 names', 'secrets.import', { names: names(10_000) }, 10_001, 'ok'],
  ['an import of 10 001 names', 'secrets.import', { names: names(10_001) }, 10_002, 'BAD_REQUEST'],
  ['an import of no names', 'secrets.import', { names: [] }, 1, 'BAD_REQUEST'],
  ['an import with a number for a name', 'secrets.import', { names: ['A', 7] }, 3, 'BAD_REQUEST'],
  [
    'an import with fewer parts than names',
    'secrets.import',
    { names: ['A', 'B', 'C'] },
    3,
    'BAD_ATTACHMENT',
  ],
  ['an unlock with acceptVault "true"', 'unlock', { acceptVault: 'true' }, undefined, 'BAD_REQUEST'],
  ['an idle timeout of 2^53 - 1', 'unlock', { idleTimeoutMs: Number.MAX_SAFE_INTEGER }, undefined, 'ok'],
  ['an idle timeout of 2^53', 'unlock', { idleTimeoutMs: 2 ** 53 }, undefined, 'BAD_REQUEST'],
  ['a negative lifetime', 'unlock', { lifetimeMs: -1 }, undefined, 'BAD_REQUEST'],
  ['a fractional lifetime', 'unlock', { lifetimeMs: 1.5 }, undefined, 'BAD_REQUEST'],
  ['an init by someone else', 'init', { by: 'gui' }, undefined, 'BAD_REQUEST'],
  // The header is depth 1: a policy of 7 nested objects reaches MAX_HEADER_DEPTH (8).
  ['a policy nested to the header limit', 'policy.set', { policy: nested(7) }, undefined, 'ok'],
  ['a policy nested past the header limit', 'policy.set', { policy: nested(8) }, undefined, 'BAD_JSON'],
  ['an explain caller with a NUL', 'policy.explain', { caller: '/bin/a\0b' }, undefined, 'BAD_REQUEST'],
  ['an explain with an empty task', 'policy.explain', { task: '' }, undefined, 'BAD_REQUEST'],
  ['an explain under an absolute path', 'policy.explain', { under: '/opt/agent/cli.js' }, undefined, 'ok'],
  ['an explain under a relative path', 'policy.explain', { under: 'bin/claude' }, undefined, 'BAD_REQUEST'],
  ['a verify of pid 1', 'policy.verify', { pid: 1 }, undefined, 'ok'],
  ['a verify of pid 4194304 (PID_MAX_LIMIT)', 'policy.verify', { pid: 4_194_304 }, undefined, 'ok'],
  ['a verify of pid 0', 'policy.verify', { pid: 0 }, undefined, 'BAD_REQUEST'],
  ['a verify of pid -1', 'policy.verify', { pid: -1 }, undefined, 'BAD_REQUEST'],
  ['a verify of pid 4194305', 'policy.verify', { pid: 4_194_305 }, undefined, 'BAD_REQUEST'],
  ['a verify of pid 1.5', 'policy.verify', { pid: 1.5 }, undefined, 'BAD_REQUEST'],
  ['a verify of pid "42"', 'policy.verify', { pid: '42' }, undefined, 'BAD_REQUEST'],
  ['an exec cwd of 4096 bytes', 'exec', { cwd: `/${long(4095)}` }, undefined, 'ok'],
  ['an exec cwd of 4097 bytes', 'exec', { cwd: `/${long(4096)}` }, undefined, 'BAD_REQUEST'],
  ['an exec cwd with a NUL', 'exec', { cwd: '/tmp\0/etc' }, undefined, 'BAD_REQUEST'],
  // A Windows path is relative to a POSIX service (and the other way round on Windows).
  ['an exec cwd that is a Windows drive path', 'exec', { cwd: 'C:\\Users\\me' }, undefined, 'BAD_REQUEST'],
  ['an exec argv item that is a number', 'exec', { argv: ['/bin/true', 1] }, undefined, 'BAD_REQUEST'],
  ['an exec tty of "yes"', 'exec', { tty: 'yes' }, undefined, 'BAD_REQUEST'],
  ['an exec env that is an array', 'exec', { env: ['A=1'] }, undefined, 'BAD_REQUEST'],
  ['an exec env name with a NUL', 'exec', { env: { 'A\0B': 'x' } }, undefined, 'BAD_REQUEST'],
  [
    'an exec env of 256 variables',
    'exec',
    { env: Object.fromEntries(names(256).map((n) => [n, 'x'])) },
    undefined,
    'ok',
  ],
  ['a revoke of a grant id', 'grants.revoke', { all: undefined, grant: '0123abcd' }, undefined, 'ok'],
  [
    'a revoke of a grant id in capitals',
    'grants.revoke',
    { all: undefined, grant: '0123ABCD' },
    undefined,
    'BAD_REQUEST',
  ],
  ['a revoke with both a grant and all', 'grants.revoke', { grant: '0123abcd' }, undefined, 'BAD_REQUEST'],
  ['a revoke with all: false', 'grants.revoke', { all: false }, undefined, 'BAD_REQUEST'],
];

describe('request schemas: field boundaries', () => {
  it.each(FIELDS)('should answer %s: %s → %s', async (_what, type, params, parts, expected) => {
    expect(await verdictOf(fx.path, frame(type, params, parts))).toBe(expected);
    // The client refuses locally what the schema refuses (BAD_JSON is the server's parser).
    if (expected === 'BAD_REQUEST' || expected === 'ok') {
      expect(await clientVerdict(type, params, parts)).toBe(expected);
    }
  });
});

/** [what, header, expected]: follow-up frames (no exec in flight, so a valid one is NOT_FOUND). */
const INPUTS: [string, Record<string, unknown>, string][] = [
  ['a resize of 65535 × 65535', { type: 'exec.resize', ref: 9, cols: 65535, rows: 65535 }, 'NOT_FOUND'],
  ['a resize of 65536 columns', { type: 'exec.resize', ref: 9, cols: 65536, rows: 1 }, 'BAD_REQUEST'],
  ['a resize of 0 rows', { type: 'exec.resize', ref: 9, cols: 1, rows: 0 }, 'BAD_REQUEST'],
  ['a fractional resize', { type: 'exec.resize', ref: 9, cols: 1.5, rows: 1 }, 'BAD_REQUEST'],
  ['SIGKILL', { type: 'exec.signal', ref: 9, signal: 'SIGKILL' }, 'NOT_FOUND'],
  ['SIGSTOP', { type: 'exec.signal', ref: 9, signal: 'SIGSTOP' }, 'BAD_REQUEST'],
  ['a signal number', { type: 'exec.signal', ref: 9, signal: 9 }, 'BAD_REQUEST'],
  ['a ref of 0', { type: 'exec.signal', ref: 0, signal: 'SIGINT' }, 'BAD_REQUEST'],
  ['an eof stdin', { type: 'exec.stdin', ref: 9, eof: true }, 'NOT_FOUND'],
  ['a decision', { type: 'approve.decide', ref: 9, approval: 1, decision: 'deny' }, 'NOT_FOUND'],
  [
    'a decision of "maybe"',
    { type: 'approve.decide', ref: 9, approval: 1, decision: 'maybe' },
    'BAD_REQUEST',
  ],
  [
    'a decision on approval 0',
    { type: 'approve.decide', ref: 9, approval: 0, decision: 'deny' },
    'BAD_REQUEST',
  ],
  ['a follow-up with an extra key', { type: 'exec.signal', ref: 9, signal: 'SIGINT', x: 1 }, 'BAD_REQUEST'],
];

describe('follow-up frame schemas', () => {
  it.each(INPUTS)('should answer %s with %s', async (_what, header, expected) => {
    expect(await verdictOf(fx.path, encodeFrame({ id: 2, ...header }))).toBe(expected);
  });
});

describe('hello schema', () => {
  /** The reply to a first frame, which must be hello. */
  async function first(header: string): Promise<string> {
    const { rawConnect, nextFrames } = await import('./helpers.ts');
    const socket = await rawConnect(fx.path);
    socket.on('error', () => undefined);
    try {
      const reply = nextFrames(socket, 1);
      socket.write(rawFrame(header));
      const [answer] = (await reply) as [{ ok: boolean; error?: { code: string } }];
      return answer.ok ? 'ok' : (answer.error?.code ?? 'none');
    } finally {
      socket.destroy();
    }
  }

  it.each([
    ['a client name of 256 characters', { client: long(256) }, 'ok'],
    ['a client name of 257 characters', { client: long(257) }, 'BAD_REQUEST'],
    ['protocol 2', { protocol: 2 }, 'UNSUPPORTED_VERSION'],
    ['protocol 65536', { protocol: 65536 }, 'BAD_REQUEST'],
    ['an extra key', { token: 'x' }, 'BAD_REQUEST'],
  ])('should answer a hello with %s: %s', async (_what, params, expected) => {
    expect(await first(JSON.stringify({ id: 1, type: 'hello', protocol: 1, client: 't', ...params }))).toBe(
      expected,
    );
  });
});

function isInputType(type: string): boolean {
  return ['exec.stdin', 'exec.signal', 'exec.resize', 'approve.decide'].includes(type);
}

describe('status result schema', () => {
  const base = { state: 'locked', secrets: 0, pid: 1, socket: '/x', idleDeadline: null, version: '0.1.0' };
  const at = '2026-12-04T19:25:00.000Z';

  it('should take the lock reason and deadlines, and a status without them (a service before them)', () => {
    expect(checkResult('status', base)).toEqual(base);
    const full = { ...base, lifetimeDeadline: at, unlockedAt: at, lastLock: { reason: 'idle', at } };
    expect(checkResult('status', full)).toEqual(full);
    expect(
      checkResult('status', { ...base, lastLock: null, lifetimeDeadline: null, unlockedAt: null }),
    ).not.toBeNull();
  });

  it.each([
    ['a reason outside the list', { lastLock: { reason: 'bored', at } }],
    ['a lock time that is not ISO', { lastLock: { reason: 'idle', at: 'yesterday' } }],
    ['an extra key in the lock', { lastLock: { reason: 'idle', at, by: 'x' } }],
    ['a lifetime that is not ISO', { lifetimeDeadline: 5 }],
  ])('should refuse %s', (_what, extra) => {
    expect(checkResult('status', { ...base, ...extra })).toBeNull();
  });
});
