// SPDX-License-Identifier: AGPL-3.0-only
// Issue 13, item 3: the service checks what it was really started with. Code preloaded through
// NODE_OPTIONS that deletes its own variable, and an LD_PRELOAD library, are both refused
// although process.env no longer shows them. Real service processes, real preloads.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '@cora/test-utils';
import { describe, expect, it } from 'vitest';
import { foreignLibraries, hooksInEnviron } from '../src/service/start-check.ts';
import { APP_DIR } from './helpers.ts';

const SERVICE_MAIN = join(APP_DIR, 'dist', 'service-main.js');

/** Start the service in the foreground with `env` and return how it ended. */
async function startWith(env: NodeJS.ProcessEnv): Promise<{ code: number | null; log: string }> {
  const dir = await makeTempDir('cora-start-');
  try {
    const home = join(dir.path, 'home');
    mkdirSync(home, { mode: 0o700 });
    const run = spawnSync(
      process.execPath,
      ['--disable-sigusr1', SERVICE_MAIN, '--home', home, '--idle-timeout-ms', '0', '--lifetime-ms', '0'],
      { env: { PATH: process.env['PATH'], HOME: dir.path, ...env }, encoding: 'utf8', timeout: 20_000 },
    );
    return { code: run.status, log: run.stderr };
  } finally {
    await dir.remove();
  }
}

describe('hooksInEnviron', () => {
  it('should name hook variables by name only, whatever their values', () => {
    const environ = Buffer.from(
      'PATH=/bin\0NODE_OPTIONS=--require x\0A=LD_PRELOAD=y\0LD_AUDIT=z\0X\0\0',
      'latin1',
    );
    expect(hooksInEnviron(environ)).toEqual(['NODE_OPTIONS', 'LD_AUDIT']);
    expect(hooksInEnviron(Buffer.alloc(0))).toEqual([]);
  });
});

describe('foreignLibraries', () => {
  it('should accept system libraries and Cora’s own native modules, and name anything else', () => {
    const maps = [
      '7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7f00-7f01 r-xp 00000000 08:01 13 /opt/cora/node_modules/.pnpm/sodium-native@5/node_modules/sodium-native/prebuilds/linux-x64/sodium-native.node',
      '7f00-7f01 r-xp 00000000 08:01 14 /opt/cora/node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node',
      '7f00-7f01 r-xp 00000000 08:01 15 /tmp/evil.so',
      '7f00-7f01 r-xp 00000000 08:01 15 /tmp/evil.so',
      '7f00-7f01 r-xp 00000000 08:01 16 /home/me/.x/libhook.so.1 (deleted)',
      '7f00-7f01 r-xp 00000000 08:01 17 /usr/lib/../../tmp/sneaky.so',
      '7f00-7f01 r-xp 00000000 00:00 0 [vdso]',
      '7f00-7f01 r--p 00000000 08:01 18 /usr/lib/locale/locale-archive',
    ].join('\n');
    expect(foreignLibraries(maps)).toEqual([
      '/tmp/evil.so',
      '/home/me/.x/libhook.so.1',
      '/usr/lib/../../tmp/sneaky.so',
    ]);
  });

  it('should find nothing foreign in this test process', () => {
    expect(foreignLibraries(readFileSync('/proc/self/maps', 'latin1'))).toEqual([]);
  });
});

describe('the service refuses a start it cannot trust', () => {
  it('should refuse code preloaded through NODE_OPTIONS that deleted its own variable', async () => {
    const dir = await makeTempDir('cora-preload-');
    try {
      const preload = join(dir.path, 'preload.cjs');
      writeFileSync(preload, 'delete process.env.NODE_OPTIONS;\n');
      const { code, log } = await startWith({ NODE_OPTIONS: `--require=${preload}` });
      expect(code).toBe(78);
      expect(log).toContain('NODE_OPTIONS');
      expect(log).toContain('refusing to start');
    } finally {
      await dir.remove();
    }
  });

  it('should refuse a library preloaded from outside the system directories', async () => {
    const dir = await makeTempDir('cora-ldpreload-');
    try {
      // A harmless real library, copied where a same-user process could have written it.
      const lib = join(dir.path, 'libhook.so.1');
      const libc = readFileSync('/proc/self/maps', 'latin1').match(/\/\S*\/libc\.so\.6$/m)?.[0];
      copyFileSync(libc ?? '/lib/x86_64-linux-gnu/libc.so.6', lib);
      const { code, log } = await startWith({ LD_PRELOAD: lib });
      expect(code).toBe(78);
      expect(log).toMatch(/LD_PRELOAD|libhook\.so\.1/);
    } finally {
      await dir.remove();
    }
  });
});
