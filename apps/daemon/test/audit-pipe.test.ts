// SPDX-License-Identifier: AGPL-3.0-only
// Issue 10: `cr audit tail | head -1` printed a Node stack trace (EPIPE) and exited 1. A reader
// that goes away must end the command quietly with 0, as `cat` does. The real `cr` writes into
// a real pipe whose reader closes after the first line.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '@cora/audit';
import { CR, useCoraHomes, type CoraHome } from './e2e-helpers.ts';

const newHome = useCoraHomes('audit pipe passphrase, long enough');

/** A home whose log holds `count` records (far more than a pipe buffer holds once printed). */
async function homeWithLog(count: number): Promise<{ home: CoraHome; log: string }> {
  const home = await newHome();
  const log = home.env['CORA_HOME'] ?? '';
  mkdirSync(log, { mode: 0o700 });
  const audit = await AuditLog.open({ dir: log, fsync: false });
  try {
    for (let i = 0; i < count; i++)
      await audit.append({ type: 'protocol-error', pid: i + 1, code: 'BAD_FRAME' });
  } finally {
    await audit.close();
  }
  return { home, log };
}

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly first: string;
  readonly stderr: string;
}

/**
 * Run `cr args` with stdout into a pipe we read until the first line, then close our end.
 * `afterClose` runs once the reader is gone (to make a follower write again).
 */
function firstLineThenClose(
  home: CoraHome,
  args: readonly string[],
  afterClose: () => Promise<void> = () => Promise.resolve(),
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(CR, [...args], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    let first: string | null = null;
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cr ${args.join(' ')} did not end after its reader went away; stderr: ${stderr}`));
    }, 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      if (first !== null) return;
      pending += chunk.toString('utf8');
      const nl = pending.indexOf('\n');
      if (nl < 0) return;
      first = pending.slice(0, nl);
      // The reader goes away, as `head -1` does after its line.
      child.stdout.destroy();
      void afterClose();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, first: first ?? '', stderr });
    });
  });
}

describe('cr audit with a reader that goes away (e2e)', () => {
  it.each([
    ['show', ['audit', 'show']],
    ['tail', ['audit', 'tail', '-n', '5000']],
    ['tail --json', ['audit', 'tail', '-n', '5000', '--json']],
  ])('should end %s quietly with 0 when stdout is closed after the first line', async (_name, args) => {
    const { home } = await homeWithLog(5000);
    const run = await firstLineThenClose(home, args);
    expect(run.first).toMatch(/#1 protocol-error|"seq":1,/);
    expect(run.stderr).toBe('');
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  });

  it('should end tail --follow quietly with 0 at the first record written after the reader left', async () => {
    const { home, log } = await homeWithLog(3);
    const run = await firstLineThenClose(home, ['audit', 'tail', '-n', '1', '--follow'], async () => {
      // Give the follower a moment to be polling, then append: its next write finds no reader.
      await new Promise((r) => setTimeout(r, 300));
      const audit = await AuditLog.open({ dir: log, fsync: false });
      try {
        await audit.append({ type: 'protocol-error', pid: 99, code: 'BAD_JSON' });
      } finally {
        await audit.close();
      }
    });
    expect(run.first).toMatch(/#3 protocol-error/);
    expect(run.stderr).toBe('');
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
  });

  it('should exit 0 in a shell pipeline into head -1', async () => {
    const { home } = await homeWithLog(5000);
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-c', '"$CR" audit show | head -1; echo "cr exited ${PIPESTATUS[0]}"'], {
        env: { ...home.env, CR },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n').slice(1)).toEqual(['cr exited 0', '']);
  });
});
