// SPDX-License-Identifier: AGPL-3.0-only
// The win32 implementation cannot run here; this pins its surface and its fail-closed stub.
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { IdentityError, isIdentityError, type PlatformHost } from '@cora/identity';
import * as api from '../src/index.ts';

const host: PlatformHost = {
  makeError: (code, message, options) => new IdentityError(code, message, options),
  socketFd: () => {
    throw new Error('strict fake: socketFd not expected');
  },
};

describe('@cora/identity-win32 entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "createIdentityPlatform": "function",
      }
    `);
  });

  it('should refuse every call with UNSUPPORTED_PLATFORM (interface only for now)', async () => {
    const platform = api.createIdentityPlatform(host);
    expect(platform.platform).toBe('win32');
    const socket = new Socket();
    expect(() => platform.peerCredentials(socket)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' }),
    );
    const error: unknown = await platform.peerIdentity(socket, {}).catch((e: unknown) => e);
    expect(isIdentityError(error, 'UNSUPPORTED_PLATFORM')).toBe(true);
    const byPid: unknown = await platform.processIdentity(1, {}).catch((e: unknown) => e);
    expect(isIdentityError(byPid, 'UNSUPPORTED_PLATFORM')).toBe(true);
  });
});
