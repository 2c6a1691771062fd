// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/identity entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "IdentityError": "function",
        "IdentityErrorCode": "object",
        "isIdentityError": "function",
        "loadPlatform": "function",
        "peerCredentials": "function",
        "peerIdentity": "function",
        "processIdentity": "function",
        "registerPlatform": "function",
        "scriptEvidence": "function",
        "socketFd": "function",
      }
    `);
  });

  it('should pin the error codes', () => {
    expect(Object.keys(api.IdentityErrorCode)).toMatchInlineSnapshot(`
      [
        "PEER_GONE",
        "PID_REUSED",
        "PEER_CHANGED",
        "EXE_DELETED",
        "NO_PEER_CREDENTIALS",
        "UNSUPPORTED_PLATFORM",
        "PROC_UNREADABLE",
      ]
    `);
  });
});
