// SPDX-License-Identifier: AGPL-3.0-only
// The entry point's surface, and that off macOS (no libSystem) every call fails closed.
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { IdentityError, scriptEvidence, isIdentityError, type PlatformHost } from '@cora/identity';
import * as api from '../src/index.ts';

const host: PlatformHost = {
  makeError: (code, message, options) => new IdentityError(code, message, options),
  scriptEvidence,
  // Strict fake: a plausible fd, so the call reaches the libSystem loader.
  socketFd: () => 0,
};

describe('@cora/identity-darwin entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "createIdentityPlatform": "function",
      }
    `);
  });

  it('should build a darwin platform without loading koffi (lazy)', () => {
    const platform = api.createIdentityPlatform(host);
    expect(platform.platform).toBe('darwin');
    expect(Object.isFrozen(platform)).toBe(true);
  });

  it.skipIf(process.platform === 'darwin')(
    'should fail closed where libSystem cannot load (skipped on macOS, where it loads)',
    async () => {
      const platform = api.createIdentityPlatform(host);
      const socket = new Socket();
      expect(() => platform.peerCredentials(socket)).toThrow(
        expect.objectContaining({ code: 'NO_PEER_CREDENTIALS' }),
      );
      const error: unknown = await platform.peerIdentity(socket, {}).catch((e: unknown) => e);
      expect(isIdentityError(error, 'NO_PEER_CREDENTIALS')).toBe(true);
      const byPid: unknown = await platform.processIdentity(process.pid, {}).catch((e: unknown) => e);
      expect(isIdentityError(byPid, 'PROC_UNREADABLE')).toBe(true);
    },
  );
});
