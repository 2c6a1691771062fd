// SPDX-License-Identifier: AGPL-3.0-only
// EXEC_LIMITS and isCarriableEnvVar are the one statement of what an exec request may carry:
// the CLI filters the caller's environment with them, so they must agree with what the
// server's schema really accepts, at every boundary.
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, EXEC_LIMITS, isCarriableEnvVar } from '../src/index.ts';
import { HELLO, nextFrames, rawConnect, startServer, type Fixture } from './helpers.ts';

let fx: Fixture | undefined;
let socket: Socket | undefined;
afterEach(async () => {
  socket?.destroy();
  await fx?.close();
  fx = undefined;
});

/** The server's verdict on one exec request: its error code, or 'accepted'. */
async function verdict(params: { argv?: string[]; env?: Record<string, string> }): Promise<string> {
  fx ??= await startServer({ limits: { maxFrameBytes: 4 * 1024 * 1024 } });
  socket = await rawConnect(fx.path);
  socket.write(HELLO);
  await nextFrames(socket, 1);
  const header = { id: 2, type: 'exec', task: 't', argv: ['/bin/true'], cwd: '/tmp', env: {}, ...params };
  socket.write(encodeFrame(header, null, 4 * 1024 * 1024));
  const [reply] = (await nextFrames(socket, 1)) as [{ ok: boolean; error?: { code: string } }];
  socket.destroy();
  return reply.ok ? 'accepted' : (reply.error?.code ?? 'none');
}

const n = (bytes: number): string => 'N'.repeat(bytes);
const PAIRS: readonly [string, string][] = [
  [n(EXEC_LIMITS.maxEnvNameBytes), 'v'],
  [n(EXEC_LIMITS.maxEnvNameBytes + 1), 'v'],
  // Multi-byte: the limit is in UTF-8 bytes, not characters.
  ['é'.repeat(EXEC_LIMITS.maxEnvNameBytes / 2 + 1), 'v'],
  ['A', 'v'.repeat(EXEC_LIMITS.maxEnvValueBytes)],
  ['A', 'v'.repeat(EXEC_LIMITS.maxEnvValueBytes + 1)],
  ['A=B', 'v'],
  ['A\0', 'v'],
  ['A', 'v\0w'],
  ['', 'v'],
  ['A', ''],
];

describe('exec request limits', () => {
  it.each(PAIRS.map(([name, value]) => [name.slice(0, 12), name, value]))(
    'should refuse exactly the variables isCarriableEnvVar refuses (%s…)',
    async (_label, name, value) => {
      const carriable = isCarriableEnvVar(name, value);
      const code = await verdict({ env: { [name]: value } });
      expect(code === 'BAD_REQUEST').toBe(!carriable);
    },
  );

  it('should pin the boundaries themselves', () => {
    expect(isCarriableEnvVar(n(EXEC_LIMITS.maxEnvNameBytes), 'v')).toBe(true);
    expect(isCarriableEnvVar(n(EXEC_LIMITS.maxEnvNameBytes + 1), 'v')).toBe(false);
    expect(isCarriableEnvVar('A', 'v'.repeat(EXEC_LIMITS.maxEnvValueBytes))).toBe(true);
    expect(isCarriableEnvVar('A', 'v'.repeat(EXEC_LIMITS.maxEnvValueBytes + 1))).toBe(false);
  });

  it('should accept maxEnvVars variables and refuse one more', async () => {
    const env = (count: number): Record<string, string> =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`V${String(i)}`, 'x']));
    expect(await verdict({ env: env(EXEC_LIMITS.maxEnvVars) })).not.toBe('BAD_REQUEST');
    expect(await verdict({ env: env(EXEC_LIMITS.maxEnvVars + 1) })).toBe('BAD_REQUEST');
  });

  it('should accept maxArgs items of maxArgBytes and refuse one more of either', async () => {
    const argv = (count: number, bytes: number): string[] => [
      '/bin/true',
      ...Array.from({ length: count - 1 }, () => 'a'.repeat(bytes)),
    ];
    expect(await verdict({ argv: argv(EXEC_LIMITS.maxArgs, EXEC_LIMITS.maxArgBytes) })).not.toBe(
      'BAD_REQUEST',
    );
    expect(await verdict({ argv: argv(EXEC_LIMITS.maxArgs + 1, 1) })).toBe('BAD_REQUEST');
    expect(await verdict({ argv: argv(2, EXEC_LIMITS.maxArgBytes + 1) })).toBe('BAD_REQUEST');
  });
});
