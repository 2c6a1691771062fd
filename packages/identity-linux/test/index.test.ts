// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import { IdentityError, scriptEvidence, type PlatformHost } from '@cora/identity';
import * as api from '../src/index.ts';

describe('@cora/identity-linux entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "createIdentityPlatform": "function",
      }
    `);
  });

  it('should build a frozen linux platform bound to the host', () => {
    const host: PlatformHost = {
      makeError: (code, message, options) => new IdentityError(code, message, options),
      scriptEvidence,
      socketFd: () => {
        throw new Error('strict fake: socketFd not expected');
      },
    };
    const platform = api.createIdentityPlatform(host);
    expect(platform.platform).toBe('linux');
    expect(Object.isFrozen(platform)).toBe(true);
  });
});
