// SPDX-License-Identifier: AGPL-3.0-only
// The judgements of `cr doctor` with the values a machine may show but a test cannot set here
// (Yama, the core pattern, limits, old kernels), and the printed format.
import { describe, expect, it } from 'vitest';
import {
  classifyCorePattern,
  classifyLandlock,
  classifyMemlock,
  classifyNode,
  classifyYama,
  formatDoctor,
  memlockNeeded,
  parseLimit,
  type DoctorResult,
} from '../src/cli/doctor-checks.ts';

const MIB = 1024 * 1024;
const BUDGET = 64 * MIB;

describe('formatDoctor', () => {
  it('should print one aligned line per check and the fix under each one that is not ok', () => {
    const results: DoctorResult[] = [
      { check: 'node', status: 'ok', detail: 'v24.21.0 at /usr/bin/node', fix: null },
      { check: 'home', status: 'fail', detail: '/h is accessible by others', fix: 'chmod 700 /h' },
      { check: 'ptrace', status: 'warn', detail: 'ptrace_scope 0', fix: 'sysctl' },
      { check: 'audit', status: 'ok', detail: 'fine', fix: 'never shown for ok' },
    ];
    expect(formatDoctor(results)).toEqual([
      'ok    node    v24.21.0 at /usr/bin/node',
      'fail  home    /h is accessible by others',
      '              fix: chmod 700 /h',
      'warn  ptrace  ptrace_scope 0',
      '              fix: sysctl',
      'ok    audit   fine',
    ]);
  });

  it('should print nothing for no checks', () => {
    expect(formatDoctor([])).toEqual([]);
  });
});

describe('classifyYama', () => {
  it.each([
    [null, 'warn'],
    ['0', 'warn'],
    ['1', 'ok'],
    ['2', 'ok'],
    ['3', 'ok'],
    ['7', 'warn'],
  ] as const)('should classify ptrace_scope %s as %s', (scope, status) => {
    const finding = classifyYama(scope);
    expect(finding.status).toBe(status);
    expect(finding.fix === null).toBe(status === 'ok');
  });

  it('should say what an agent can do with scope 0 and what cr agent does about it', () => {
    const { detail, fix } = classifyYama('0');
    expect(detail).toContain('read its memory');
    expect(detail).toContain('cr agent');
    expect(fix).toContain('kernel.yama.ptrace_scope=1');
  });
});

describe('classifyCorePattern', () => {
  it('should accept a systemd-coredump or apport pipe when the core limit is 0 (they store nothing then)', () => {
    expect(classifyCorePattern('|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h', 0n).status).toBe(
      'ok',
    );
    expect(classifyCorePattern('|/usr/share/apport/apport -p%p -s%s -c%c', 0n).status).toBe('ok');
  });

  it('should warn about a pipe that keeps cores of cr, and about an unknown collector whatever the limit', () => {
    const piped = classifyCorePattern('|/usr/lib/systemd/systemd-coredump %P', null);
    expect(piped.status).toBe('warn');
    expect(piped.detail).toContain('systemd-coredump');
    expect(piped.fix).toContain('ulimit -c 0');
    expect(classifyCorePattern('|/opt/collector %p', 0n).status).toBe('warn');
  });

  it('should accept core files when the limit is 0 and warn when cr could write one', () => {
    expect(classifyCorePattern('core', 0n).status).toBe('ok');
    const file = classifyCorePattern('/var/crash/core.%e.%p', null);
    expect(file.status).toBe('warn');
    expect(file.detail).toContain('/var/crash/core.%e.%p');
    expect(file.detail).toContain('unlimited');
  });
});

describe('parseLimit', () => {
  const limits = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max core file size        0                    unlimited            bytes     ',
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n');

  it('should read a row of /proc/<pid>/limits, unlimited as null', () => {
    expect(parseLimit(limits, 'Max locked memory')).toEqual({ soft: 8_388_608n, hard: 8_388_608n });
    expect(parseLimit(limits, 'Max core file size')).toEqual({ soft: 0n, hard: null });
  });

  it('should return null for a missing or garbled row', () => {
    expect(parseLimit(limits, 'Max open files')).toBeNull();
    expect(parseLimit('Max locked memory         lots   8388608  bytes', 'Max locked memory')).toBeNull();
  });
});

describe('classifyMemlock', () => {
  it('should accept unlimited and a limit that covers a full vault', () => {
    expect(classifyMemlock(null, 1000, BUDGET, true).status).toBe('ok');
    expect(classifyMemlock(BigInt(memlockNeeded(BUDGET)), 1000, BUDGET, true).status).toBe('ok');
  });

  it('should accept a limit that covers this vault and say it does not cover a full one', () => {
    const finding = classifyMemlock(8n * BigInt(MIB), MIB, BUDGET, true);
    expect(finding.status).toBe('ok');
    expect(finding.detail).toContain('not for a full one');
  });

  it('should warn when the vault needs more than the limit and swap is active', () => {
    const finding = classifyMemlock(8n * BigInt(MIB), 10 * MIB, BUDGET, true);
    expect(finding.status).toBe('warn');
    expect(finding.detail).toContain('swap');
    expect(finding.fix).toContain('LimitMEMLOCK');
  });

  it('should accept the same shortfall without swap: unlocked pages cannot be written out', () => {
    expect(classifyMemlock(8n * BigInt(MIB), 10 * MIB, BUDGET, false).status).toBe('ok');
  });
});

describe('classifyLandlock', () => {
  it.each([
    [7, 'ok'],
    [6, 'ok'],
    [5, 'warn'],
    [4, 'warn'],
    [3, 'warn'],
    [0, 'warn'],
  ] as const)('should classify ABI %i as %s (cr agent needs 6, connect rules 4)', (abi, status) => {
    expect(classifyLandlock(abi, 6, 4).status).toBe(status);
  });

  it('should say which feature an old ABI loses', () => {
    expect(classifyLandlock(4, 6, 4).detail).toContain('cr agent refuses');
    expect(classifyLandlock(4, 6, 4).detail).toContain('tasks can confine');
    expect(classifyLandlock(0, 6, 4).detail).toContain('no Landlock');
  });
});

describe('classifyNode', () => {
  it('should accept 24.7 and later, and fail older Node naming the path', () => {
    expect(classifyNode('24.7.0', '/n').status).toBe('ok');
    expect(classifyNode('25.0.1', '/n').status).toBe('ok');
    const old = classifyNode('24.6.9', '/usr/bin/node');
    expect(old.status).toBe('fail');
    expect(old.detail).toContain('/usr/bin/node');
    expect(classifyNode('22.11.0', '/n').status).toBe('fail');
  });
});
