// SPDX-License-Identifier: AGPL-3.0-only
// One owner per vault (SECURITY.md): a client written against @cora/ipc's public socketPath()
// must find the socket the service of that vault listens on (`<home>/run/cora.sock`), in every
// environment a shell may have — with or without XDG_RUNTIME_DIR, CORA_HOME spelled out or not.
import { describe, expect, it } from 'vitest';
import { socketPath } from '@cora/ipc';
import { coraHome, maxSocketPathBytes, serviceSocketPath } from '../src/shared/paths.ts';

describe("@cora/ipc's socketPath and the service's socket", () => {
  it.each([
    ['HOME only', { HOME: '/home/me' }],
    ['a login shell with XDG_RUNTIME_DIR', { HOME: '/home/me', XDG_RUNTIME_DIR: '/run/user/1000' }],
    // macOS: the per-user $TMPDIR is not followed either (launchd agents, sudo and ssh differ).
    ['a macOS shell with TMPDIR', { HOME: '/Users/me', TMPDIR: '/var/folders/xy/z0/T/' }],
    ['CORA_HOME spelled out', { HOME: '/home/me', CORA_HOME: '/home/me/.cora' }],
    ['CORA_HOME empty', { HOME: '/home/me', CORA_HOME: '', XDG_RUNTIME_DIR: '/run/user/1000' }],
    ['a moved home', { HOME: '/home/me', CORA_HOME: '/srv/cora', XDG_RUNTIME_DIR: '/run/user/1000' }],
  ] as const)('should be the same path for %s', (_what, env) => {
    expect(socketPath(env)).toBe(serviceSocketPath(coraHome(env)));
  });
});

describe('maxSocketPathBytes', () => {
  it('should leave room for the NUL of sun_path: 108 bytes on Linux, 104 on macOS', () => {
    expect(maxSocketPathBytes('linux')).toBe(107);
    expect(maxSocketPathBytes('darwin')).toBe(103);
  });
});
