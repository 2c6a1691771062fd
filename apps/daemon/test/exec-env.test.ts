// SPDX-License-Identifier: AGPL-3.0-only
// What `cr exec` offers the service of its environment: only what the `exec` message can carry.
import { describe, expect, it } from 'vitest';
import { offeredEnv } from '../src/cli/commands/exec.ts';

describe('offeredEnv', () => {
  it('should offer plain variables as they are', () => {
    expect(offeredEnv({ HOME: '/home/u', FOO: 'bar', EMPTY: '' })).toEqual({
      HOME: '/home/u',
      FOO: 'bar',
      EMPTY: '',
    });
  });

  it('should leave out what the message refuses, rather than fail the whole request', () => {
    const env = {
      OK: 'yes',
      'A=B': 'x',
      'NUL\0NAME': 'x',
      NUL_VALUE: 'a\0b',
      ['N'.repeat(257)]: 'long name',
      ['N'.repeat(256)]: 'name at the limit',
      BIG: 'v'.repeat(128 * 1024 + 1),
      FITS: 'v'.repeat(128 * 1024),
      UNSET: undefined,
    };
    expect(Object.keys(offeredEnv(env)).sort()).toEqual(['FITS', 'N'.repeat(256), 'OK'].sort());
  });

  it('should count a multi-byte value in bytes', () => {
    const value = 'é'.repeat(64 * 1024 + 1); // 128 KiB + 2 bytes
    expect(offeredEnv({ WIDE: value })).toEqual({});
  });

  it('should keep the base names first when there are more than 256', () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 300; i++) env[`AAA_${String(i).padStart(3, '0')}`] = 'x';
    Object.assign(env, { PATH: '/usr/bin', LC_ALL: 'C', TERM: 'xterm', ZZZ: 'last' });
    const offered = offeredEnv(env);
    expect(Object.keys(offered)).toHaveLength(256);
    expect(offered).toMatchObject({ PATH: '/usr/bin', LC_ALL: 'C', TERM: 'xterm' });
    expect(offered).not.toHaveProperty('ZZZ');
    expect(Object.keys(offered).slice(0, 3).sort()).toEqual(['LC_ALL', 'PATH', 'TERM']);
  });
});
