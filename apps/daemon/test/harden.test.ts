// SPDX-License-Identifier: AGPL-3.0-only
import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unprivilegedCanRun, waitForLine } from '@cora/test-utils';
import {
  hardeningPlan,
  isDangerousNodeFlag,
  isRuntimeHook,
  serviceEnvironment,
  serviceNodeFlags,
} from '../src/shared/harden.ts';
import { APP_DIR, SOURCE_FLAGS, runNode } from './helpers.ts';

describe('hardeningPlan', () => {
  // The darwin branch cannot run here (ptrace(PT_DENY_ATTACH) and libSystem need macOS):
  // this pins what it does; the Linux steps are run for real below.
  it('should forbid core files first, then attach: PR_SET_DUMPABLE on Linux, PT_DENY_ATTACH on macOS', () => {
    expect(hardeningPlan('linux')).toEqual(['core-limit-zero', 'not-dumpable']);
    expect(hardeningPlan('darwin')).toEqual(['core-limit-zero', 'deny-attach']);
    // Windows: no core limit or dumpable flag exists; SetErrorMode runs under Wine (e2e.win.ts).
    expect(hardeningPlan('win32')).toEqual(['no-error-dialogs']);
  });

  it('should refuse a platform it has no plan for (the service then refuses to start)', () => {
    expect(() => hardeningPlan('freebsd')).toThrow(/not implemented on freebsd/);
  });
});

describe('hardenProcess', () => {
  it('should make a real process undumpable with a zero core limit', async () => {
    const result = await runNode([...SOURCE_FLAGS, 'test/fixtures/harden-child.ts', '0']);
    expect(result.stderr).toBe('');
    const report = JSON.parse(result.stdout) as {
      before: { dumpable: number };
      after: { dumpable: number; coreSoft: string; coreHard: string };
      limits: string;
    };
    expect(report.before.dumpable).toBe(1);
    expect(report.after).toEqual({ dumpable: 0, coreSoft: '0', coreHard: '0' });
    expect(report.limits).toMatch(/^Max core file size\s+0\s+0\s+bytes/);
  });

  // Root owns everything anyway; as root the child runs as nobody (setpriv) so the change shows.
  // That needs a checkout nobody can read; in a root-only directory these tests skip.
  const asRoot = process.getuid?.() === 0;
  const canDrop = unprivilegedCanRun([join(APP_DIR, 'test', 'fixtures', 'harden-child.ts')]);
  const launch = (args: string[]): ReturnType<typeof spawn> =>
    asRoot
      ? spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], {
          cwd: APP_DIR,
          stdio: ['ignore', 'pipe', 'inherit'],
        })
      : spawn(process.execPath, args, { cwd: APP_DIR, stdio: ['ignore', 'pipe', 'inherit'] });

  it.runIf(!asRoot || canDrop)(
    'should make /proc/<pid>/mem and environ owned by root (kernel effect of dumpable 0)',
    async () => {
      const hardened = launch([...SOURCE_FLAGS, 'test/fixtures/harden-child.ts', '10000']);
      const plain = launch([...SOURCE_FLAGS, '-e', 'console.log("{}"); setTimeout(() => {}, 10000)']);
      try {
        await waitForLine(hardened.stdout!, (l) => l.startsWith('{'));
        await waitForLine(plain.stdout!, (l) => l.startsWith('{'));
        const owner = asRoot ? 65534 : process.getuid?.();
        expect(statSync(`/proc/${String(plain.pid)}/mem`).uid).toBe(owner);
        expect(statSync(`/proc/${String(hardened.pid)}/mem`).uid).toBe(0);
        expect(statSync(`/proc/${String(hardened.pid)}/environ`).uid).toBe(0);
      } finally {
        hardened.kill('SIGKILL');
        plain.kill('SIGKILL');
      }
    },
  );

  it.runIf(asRoot && canDrop)('should refuse ptrace attach by the same unprivileged uid', async () => {
    const hardened = launch([...SOURCE_FLAGS, 'test/fixtures/harden-child.ts', '10000']);
    try {
      await waitForLine(hardened.stdout!, (l) => l.startsWith('{'));
      const attach = (pid: number): string[] =>
        spawnSync(
          'setpriv',
          [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            process.execPath,
            ...SOURCE_FLAGS,
            'test/fixtures/ptrace-attach.ts',
            String(pid),
          ],
          { cwd: APP_DIR },
        )
          .stdout.toString()
          .trim()
          .split(' ');
      // Control: the same uid may attach to an ordinary process of its own (Yama scope 0 or 1
      // with root's blessing does not matter here: a refusal would make this test meaningless).
      const plain = launch(['-e', 'console.log("{}"); setTimeout(() => {}, 10000)']);
      try {
        await waitForLine(plain.stdout!, (l) => l.startsWith('{'));
        const control = attach(plain.pid!);
        if (control[0] !== '0') return; // ptrace is restricted here anyway (Yama): nothing to compare
      } finally {
        plain.kill('SIGKILL');
      }
      const [ret, errno] = attach(hardened.pid!);
      expect(ret).toBe('-1');
      expect(errno).toBe('1'); // EPERM
    } finally {
      hardened.kill('SIGKILL');
    }
  });
});

describe('serviceEnvironment', () => {
  it('should keep only what the service needs, dropping hooks under any name', () => {
    const env = serviceEnvironment({
      HOME: '/h',
      PATH: '/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      CORA_HOME: '/c',
      NODE_OPTIONS: '--require /tmp/evil.js',
      NODE_PATH: '/x',
      LD_PRELOAD: '/tmp/evil.so',
      LD_LIBRARY_PATH: '/tmp',
      MALLOC_CHECK_: '3',
      GLIBC_TUNABLES: 'glibc.malloc.check=3',
      BASH_ENV: '/tmp/x',
      SOME_PRELOAD: '/tmp/y',
      TMPDIR: 'a\0b',
      UNDEFINED: undefined,
    });
    expect(env).toEqual({ HOME: '/h', PATH: '/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' });
  });

  it("should keep Windows's own variables in any case on win32, and still no hook", () => {
    const env = serviceEnvironment(
      {
        SystemRoot: 'C:\\Windows',
        Path: 'C:\\Windows\\system32',
        PATHEXT: '.COM;.EXE',
        LOCALAPPDATA: 'C:\\Users\\me\\AppData\\Local',
        TEMP: 'C:\\Temp',
        HOME: '/h',
        CORA_HOME: 'D:\\v',
        NODE_OPTIONS: '--require C:\\evil.js',
        NODE_PATH: 'C:\\x',
        ComSpec: 'C:\\Windows\\system32\\cmd.exe',
        windir: 'C:\\Windows\0',
      },
      'win32',
    );
    expect(env).toEqual({
      SystemRoot: 'C:\\Windows',
      Path: 'C:\\Windows\\system32',
      PATHEXT: '.COM;.EXE',
      LOCALAPPDATA: 'C:\\Users\\me\\AppData\\Local',
      TEMP: 'C:\\Temp',
      ComSpec: 'C:\\Windows\\system32\\cmd.exe',
    });
  });
});

describe('isRuntimeHook', () => {
  it('should name loader, Node and allocator hooks and nothing ordinary', () => {
    for (const name of [
      'NODE_OPTIONS',
      'NODE_PATH',
      'LD_PRELOAD',
      'LD_AUDIT',
      'MALLOC_CHECK_',
      'GLIBC_TUNABLES',
      'DYLD_INSERT_LIBRARIES',
      'JEMALLOC_PRELOAD',
    ])
      expect(isRuntimeHook(name), name).toBe(true);
    for (const name of [
      'PATH',
      'HOME',
      'LANG',
      'LC_ALL',
      'NODEX',
      'OLD_PATH',
      'TERM',
      'UV_THREADPOOL_SIZE',
      'NODE_ENV',
      'NODE_EXTRA_CA_CERTS',
    ])
      expect(isRuntimeHook(name), name).toBe(false);
  });
});

describe('serviceNodeFlags', () => {
  it('should always add --disable-sigusr1 and drop code-loading and debugger flags with their arguments', () => {
    expect(
      serviceNodeFlags([
        '--inspect',
        '--inspect-brk=9229',
        '--require',
        './evil.cjs',
        '-r',
        'x',
        '--import=./evil.mjs',
        '--loader',
        './l.mjs',
        '--conditions=cora-source',
        '--no-warnings',
        '--disable-sigusr1',
        '--enable-source-maps',
      ]),
    ).toEqual(['--disable-sigusr1', '--conditions=cora-source', '--no-warnings']);
  });

  it('should classify flags', () => {
    for (const f of [
      '--inspect',
      '--inspect-port=1',
      '--debug-port',
      '--require',
      '-r',
      '--import',
      '--loader',
      '-e',
    ]) {
      expect(isDangerousNodeFlag(f)).toBe(true);
    }
    for (const f of ['--conditions=x', '--no-warnings', '--disable-sigusr1']) {
      expect(isDangerousNodeFlag(f)).toBe(false);
    }
  });
});
