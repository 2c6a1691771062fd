// SPDX-License-Identifier: AGPL-3.0-only
// The checks behind a policy that checks itself (src/shared/policy-checks.ts), without a service.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addTask, emptyPolicy } from '@cora/policy';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import {
  closestName,
  codeRunnersMessage,
  missingSecretsMessage,
  newCodeRunnerTargets,
  runsCallersCode,
  newMissingSecrets,
  targetRisk,
  targetWarnings,
  tasksUsing,
} from '../src/shared/policy-checks.ts';

const temps: TempDir[] = [];
afterAll(async () => {
  for (const dir of temps) await dir.remove();
});

describe('closestName', () => {
  const held = ['GH_TOKEN', 'OPENAI_API_KEY', 'NPM_TOKEN', 'A'];
  it('should suggest a swap of neighbours, one edit, and another case', () => {
    expect(closestName('GH_TOKNE', held)).toBe('GH_TOKEN');
    expect(closestName('GH_TOKE', held)).toBe('GH_TOKEN');
    expect(closestName('openai_api_key', held)).toBe('OPENAI_API_KEY');
    expect(closestName('OPENAI_APY_KEY', held)).toBe('OPENAI_API_KEY');
  });
  it('should suggest nothing far away, or among no names', () => {
    expect(closestName('DATABASE_URL', held)).toBeNull();
    expect(closestName('B', ['XYZ'])).toBeNull();
    expect(closestName('GH_TOKEN', [])).toBeNull();
  });
});

describe('newMissingSecrets / tasksUsing', () => {
  const before = addTask(emptyPolicy(), 'old', { secrets: ['GONE'], targets: [] });
  it('should report only references the change adds, for names the vault does not hold', () => {
    const next = addTask(before, 'web', { secrets: ['GH_TOKEN', 'GH_TOKNE'], targets: [] });
    const missing = newMissingSecrets(before, next, new Set(['GH_TOKEN']));
    expect(missing).toEqual([{ task: 'web', secret: 'GH_TOKNE' }]);
    expect(missingSecretsMessage(missing, ['GH_TOKEN'])).toContain(
      'task web names GH_TOKNE, which the vault does not hold (did you mean GH_TOKEN?)',
    );
    expect(newMissingSecrets(emptyPolicy(), before, new Set())).toEqual([{ task: 'old', secret: 'GONE' }]);
  });
  it('should name the tasks that use a secret, sorted', () => {
    const p = addTask(addTask(before, 'b', { secrets: ['GONE', 'X'], targets: [] }), 'a', {
      secrets: ['X'],
      targets: [],
    });
    expect(tasksUsing(p, 'X')).toEqual(['a', 'b']);
    expect(tasksUsing(p, 'GONE')).toEqual(['b', 'old']);
    expect(tasksUsing(p, 'NONE')).toEqual([]);
  });
});

describe('targetRisk / targetWarnings', () => {
  it('should find a directory others can write on the path, and not a private one', async () => {
    const dir = await makeTempDir('cora-risk-');
    temps.push(dir);
    const open = join(dir.path, 'open', 'bin');
    mkdirSync(open, { recursive: true });
    chmodSync(join(dir.path, 'open'), 0o777);
    const tool = join(open, 'tool');
    writeFileSync(tool, '\x7fELF', { mode: 0o755 });
    expect(targetRisk(tool).writable).toBe(join(dir.path, 'open'));
    chmodSync(join(dir.path, 'open'), 0o755);
    // As a user the file of its own is writable; as root a root-owned private tree is not.
    if (process.getuid?.() === 0) {
      expect(targetRisk(tool, 0).writable).toBeNull();
      // A file of the user's own (an ordinary uid here) is theirs to rewrite.
      chownSync(tool, 4242, 4242);
      expect(targetRisk(tool, 4242).writable).toBe(tool);
    } else {
      expect(targetRisk(tool).writable).toBe(tool);
    }
    expect(targetRisk('/usr/bin/env', 4242).writable).toBeNull();
  });
  it('should name the interpreter of a script, and say what a pin covers', async () => {
    const dir = await makeTempDir('cora-risk-');
    temps.push(dir);
    const script = join(dir.path, 'run');
    writeFileSync(script, '#!/usr/bin/env node\nconsole.log(1)\n', { mode: 0o755 });
    const risk = targetRisk(script, 0);
    expect(risk.interpreter).toBe('/usr/bin/env node');
    const lines = targetWarnings(script, true, risk);
    expect(lines.join('\n')).toContain('what runs is its interpreter (/usr/bin/env node)');
    expect(lines.join('\n')).toContain('a pin covers the script file');
    expect(targetWarnings('/usr/bin/curl', false, { writable: null, interpreter: null })).toEqual([]);
    expect(targetWarnings('/usr/bin/env', false, { writable: null, interpreter: null })).toEqual([
      expect.stringContaining('runs whatever code its caller passes') as string,
    ]);
  });
});

describe('runsCallersCode / newCodeRunnerTargets', () => {
  it('should name shells, interpreters and launchers, by basename, and not ordinary tools', () => {
    for (const path of [
      '/usr/bin/dash',
      '/usr/bin/python3.12',
      '/usr/local/bin/node',
      '/usr/bin/env',
      '/usr/bin/npx',
      '/usr/bin/git',
      '/usr/bin/xargs',
    ]) {
      expect(runsCallersCode(path), path).toBe(true);
    }
    for (const path of ['/usr/bin/curl', '/usr/bin/gh', '/usr/bin/true', '/opt/envoy', '/usr/bin/gitleaks']) {
      expect(runsCallersCode(path), path).toBe(false);
    }
  });

  it('should report only code-running targets a task did not have before', () => {
    const before = addTask(emptyPolicy(), 'old', { secrets: ['A'], targets: ['/usr/bin/dash'] });
    let next = addTask(before, 'web', { secrets: ['A'], targets: ['/usr/bin/curl', '/usr/bin/env'] });
    next = addTask(next, 'moved', { secrets: ['A'], targets: ['/usr/bin/dash'] });
    expect(newCodeRunnerTargets(before, next)).toEqual([
      { task: 'moved', target: '/usr/bin/dash' },
      { task: 'web', target: '/usr/bin/env' },
    ]);
    expect(newCodeRunnerTargets(next, next)).toEqual([]);
    expect(codeRunnersMessage([{ task: 'web', target: '/usr/bin/env' }])).toContain('--allow-interpreter');
  });
});
