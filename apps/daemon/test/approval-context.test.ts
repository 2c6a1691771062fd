// SPDX-License-Identifier: AGPL-3.0-only
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APPROVAL_LIMITS } from '@cora/ipc';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import {
  CWD_STEERING_FILES,
  HOME_STEERING_FILES,
  passedEnvironment,
  steeringFiles,
} from '../src/service/approval-context.ts';

const dirs: TempDir[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await dir.remove();
});

describe('passedEnvironment', () => {
  it('should list what the child gets from the caller: base names, LC_*, env_pass; no hook, no secret name', () => {
    const { env, omitted } = passedEnvironment(
      {
        HOME: '/home/u',
        PATH: '/usr/bin',
        LC_ALL: 'C',
        AWS_REGION: 'eu-west-1',
        TOKEN: 'the caller’s own TOKEN, replaced by the secret',
        LD_PRELOAD: '/tmp/evil.so',
        NOT_PASSED: 'x',
      },
      { env_pass: ['AWS_REGION', 'TOKEN', 'LD_PRELOAD'], secrets: ['TOKEN'] },
    );
    expect(env).toEqual([
      { name: 'AWS_REGION', value: 'eu-west-1', more: 0 },
      { name: 'HOME', value: '/home/u', more: 0 },
      { name: 'LC_ALL', value: 'C', more: 0 },
      { name: 'PATH', value: '/usr/bin', more: 0 },
    ]);
    expect(omitted).toBe(0);
  });

  it('should cut long values on a character boundary and count the rest, and bound the count', () => {
    const long = '日'.repeat(APPROVAL_LIMITS.maxEnvValueBytes); // 3 bytes each: no cut falls on a boundary
    const letters = (i: number): string => String.fromCharCode(65 + Math.floor(i / 26), 65 + (i % 26));
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`LC_${letters(i)}`, 'v']));
    const { env, omitted } = passedEnvironment({ ...many, HOME: long }, { secrets: [] });
    const home = env.find((v) => v.name === 'HOME');
    expect(home).toBeDefined();
    expect(Buffer.byteLength(home?.value ?? '')).toBeLessThanOrEqual(APPROVAL_LIMITS.maxEnvValueBytes);
    expect(home?.value).not.toContain('\ufffd');
    expect(Buffer.byteLength(home?.value ?? '') + (home?.more ?? 0)).toBe(Buffer.byteLength(long));
    expect(env).toHaveLength(APPROVAL_LIMITS.maxEnv);
    expect(omitted).toBe(101 - APPROVAL_LIMITS.maxEnv);
  });
});

describe('steeringFiles', () => {
  it('should find the files that steer common targets in HOME and cwd, with their times', async () => {
    const home = await makeTempDir('cora-steer-home-');
    const cwd = await makeTempDir('cora-steer-cwd-');
    dirs.push(home, cwd);
    writeFileSync(join(home.path, '.curlrc'), 'output = /tmp/x\n');
    utimesSync(
      join(home.path, '.curlrc'),
      new Date('2026-01-02T03:04:05Z'),
      new Date('2026-01-02T03:04:05Z'),
    );
    mkdirSync(join(home.path, '.ssh'));
    writeFileSync(join(home.path, '.ssh', 'config'), 'Host *\n  ProxyCommand sh -c evil\n');
    writeFileSync(join(cwd.path, '.npmrc'), 'registry=http://evil\n');
    // A symlink counts (the target follows it); a directory or a FIFO under a known name does not.
    symlinkSync(join(cwd.path, '.npmrc'), join(home.path, '.npmrc'));
    mkdirSync(join(home.path, '.netrc'));
    execFileSync('mkfifo', [join(home.path, '.wgetrc')]);

    const files = await steeringFiles({ HOME: home.path }, cwd.path);
    expect(files.map((f) => `${f.where}:${f.path}`)).toEqual([
      'home:.curlrc',
      'home:.npmrc',
      'home:.ssh/config',
      'cwd:.npmrc',
    ]);
    expect(files[0]?.modified).toBe('2026-01-02T03:04:05.000Z');
  });

  it('should find nothing in clean directories, and keep its lists short and relative', async () => {
    const empty = await makeTempDir('cora-steer-empty-');
    dirs.push(empty);
    expect(await steeringFiles({ HOME: empty.path }, empty.path)).toEqual([]);
    for (const path of [...HOME_STEERING_FILES, ...CWD_STEERING_FILES]) {
      expect(path.startsWith('/') || path.includes('..')).toBe(false);
    }
    expect(HOME_STEERING_FILES.length + CWD_STEERING_FILES.length).toBeLessThanOrEqual(
      APPROVAL_LIMITS.maxFiles,
    );
  });
});
