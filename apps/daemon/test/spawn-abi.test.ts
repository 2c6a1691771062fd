// SPDX-License-Identifier: AGPL-3.0-only
// The spawn ABI table: the Linux numbers run here (spawn.test.ts uses them for real); the macOS
// ones cannot run off a Mac, so this pins them against xnu's headers (sys/fcntl.h, sys/spawn.h).
import { describe, expect, it } from 'vitest';
import { O_CLOEXEC, POSIX_SPAWN_SETSID, spawnAbi } from '../src/service/exec/internal/spawn-libc.ts';

describe('spawnAbi', () => {
  it("should give glibc's numbers on Linux, the ones this process uses", () => {
    expect(spawnAbi('linux')).toEqual({
      library: 'libc.so.6',
      O_CLOEXEC: 0o2000000,
      POSIX_SPAWN_SETSID: 0x80,
      CLOEXEC_DEFAULT: 0,
    });
    expect(O_CLOEXEC).toBe(0o2000000);
    expect(POSIX_SPAWN_SETSID).toBe(0x80);
  });

  it("should give libSystem's numbers on macOS, closing every other fd by the spawn flag", () => {
    expect(spawnAbi('darwin')).toEqual({
      library: '/usr/lib/libSystem.B.dylib',
      O_CLOEXEC: 0x0100_0000,
      POSIX_SPAWN_SETSID: 0x0400,
      CLOEXEC_DEFAULT: 0x4000,
    });
  });
});
