// SPDX-License-Identifier: AGPL-3.0-only
// `cr doctor` end to end through the real bin/cr, on real homes: fresh, unlocked, with a log
// someone edited, and a home others can read. Machine facts (Yama, core pattern, limits) are
// whatever this machine has; their judgements are tested in doctor-checks.test.ts.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { useCoraHomes, type CoraHome } from './e2e-helpers.ts';

const PASS = 'doctor passphrase, long enough';
const newHome = useCoraHomes(PASS);
vi.setConfig({ testTimeout: 120_000 });

interface Line {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix: string | null;
}

const CHECKS = [
  'node',
  'memlock',
  'core-dumps',
  'ptrace',
  'pidfd',
  'landlock',
  'home',
  'socket-dir',
  'service',
  'audit',
];

async function doctor(home: CoraHome): Promise<{ code: number | null; lines: Line[]; stderr: string }> {
  const run = await home.cr(['doctor', '--json']);
  const lines = JSON.parse(run.stdout) as Line[];
  return { code: run.code, lines, stderr: run.stderr };
}

function line(lines: readonly Line[], check: string): Line {
  const found = lines.find((l) => l.check === check);
  if (found === undefined) throw new Error(`no ${check} check in ${JSON.stringify(lines)}`);
  return found;
}

async function unlockedHome(): Promise<CoraHome> {
  const home = await newHome();
  expect((await home.cr(['init', '--passphrase-file', home.passFile])).code).toBe(0);
  expect((await home.cr(['unlock', '--passphrase-file', home.passFile])).code).toBe(0);
  return home;
}

describe('cr doctor', () => {
  it('should say on a fresh home that there is no vault yet and suggest cr init, exit 0', async () => {
    const home = await newHome();
    const { code, lines, stderr } = await doctor(home);
    expect(stderr).toBe('');
    expect(lines.map((l) => l.check)).toEqual(CHECKS);
    for (const l of lines) {
      expect(Object.keys(l).sort()).toEqual(['check', 'detail', 'fix', 'status']);
      expect(['ok', 'warn', 'fail']).toContain(l.status);
      // A fix is given exactly when there is something to do.
      expect(l.fix === null).toBe(l.status === 'ok');
      expect(l.detail).not.toMatch(/\n|^\s+at /);
    }
    expect(lines.filter((l) => l.status === 'fail')).toEqual([]);
    expect(code).toBe(0);
    for (const check of ['home', 'service', 'audit']) {
      expect(line(lines, check).status).toBe('warn');
      expect(line(lines, check).fix).toContain('cr init');
    }
    // Kernel facts measured through the calls the service makes (this machine: Linux 6.18).
    expect(line(lines, 'pidfd').status).toBe('ok');
    expect(line(lines, 'node').detail).toContain(process.versions.node);
  });

  it('should find the running, unlocked service and a log whose chain and MACs check', async () => {
    const home = await unlockedHome();
    const { code, lines } = await doctor(home);
    expect(code).toBe(0);
    const service = line(lines, 'service');
    expect(service.status).toBe('ok');
    expect(service.detail).toContain('unlocked');
    expect(service.detail).toContain("this installation's service");
    expect(line(lines, 'audit').status).toBe('ok');
    expect(line(lines, 'audit').detail).toContain('MACs');
    expect(line(lines, 'home').status).toBe('ok');
    expect(line(lines, 'socket-dir').status).toBe('ok');
    // The service's own limits are read, and its core limit is 0 (set before any secret).
    expect(line(lines, 'memlock').detail).toMatch(/^the service: /);
    expect(line(lines, 'core-dumps').detail).toContain('core limit 0');
  });

  it('should fail and exit 1 when a line of the audit log was edited', async () => {
    const home = await unlockedHome();
    const log = join(home.env['CORA_HOME']!, 'audit.jsonl');
    const lines = readFileSync(log, 'utf8').split('\n');
    expect(lines.length).toBeGreaterThan(3);
    const edited = (lines[1] ?? '').replace('"time":"20', '"time":"19');
    expect(edited).not.toBe(lines[1]);
    lines[1] = edited;
    writeFileSync(log, lines.join('\n'));
    const { code, lines: out } = await doctor(home);
    expect(code).toBe(1);
    const audit = line(out, 'audit');
    expect(audit.status).toBe('fail');
    expect(audit.detail).toContain('audit.jsonl:');
    expect(audit.fix).toContain('cr audit verify');
    // The other checks still ran.
    expect(out.map((l) => l.check)).toEqual(CHECKS);

    const text = await home.cr(['doctor']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^fail {2}audit {7}/m);
    expect(text.stdout).toMatch(/^ {18}fix: cr audit verify/m);
  });

  it('should fail with the chmod fix when the Cora home is open to others', async () => {
    const home = await unlockedHome();
    const dir = home.env['CORA_HOME']!;
    chmodSync(dir, 0o755);
    const { code, lines } = await doctor(home);
    expect(code).toBe(1);
    const check = line(lines, 'home');
    expect(check.status).toBe('fail');
    expect(check.detail).toContain('755');
    expect(check.fix).toContain(`chmod 700 ${dir}`);
  });

  it('should fail with the chmod fix when the socket directory is open to others', async () => {
    const home = await unlockedHome();
    const run = join(home.env['CORA_HOME']!, 'run');
    chmodSync(run, 0o755);
    try {
      const { code, lines } = await doctor(home);
      expect(code).toBe(1);
      expect(line(lines, 'socket-dir').status).toBe('fail');
      expect(line(lines, 'socket-dir').fix).toContain(`chmod 700 ${run}`);
      // Without a service it can trust, the log's chain is still checked, here.
      expect(line(lines, 'audit').status).toBe('ok');
    } finally {
      chmodSync(run, 0o700);
    }
  });
});
