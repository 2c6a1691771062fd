// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import { Access, accessAt, planRules, type FsView } from '@cora/sandbox';
import { agentSpec, STEERING_FILES, type AgentSpecInput } from '../src/cli/agent-spec.ts';

/** A fake file system where every listed path is a directory and the rest a file. */
function view(paths: readonly string[]): FsView {
  const set = new Set(['/', ...paths]);
  return {
    kind: (path) =>
      set.has(path) ? (path.includes('.') && !path.endsWith('.cora') ? 'file' : 'dir') : 'missing',
    list: (dir) =>
      [...set]
        .filter((p) => p !== dir && p.startsWith(dir === '/' ? '/' : `${dir}/`))
        .map((p) => p.slice(dir === '/' ? 1 : dir.length + 1))
        .filter((rest) => !rest.includes('/')),
  };
}

const FSPATHS = [
  '/usr',
  '/tmp',
  '/dev',
  '/dev/null',
  '/home',
  '/home/me',
  '/home/me/.cora',
  '/home/me/.cora/vault.cora',
  '/home/me/.cora/run',
  '/home/me/.curlrc',
  '/home/me/.claude',
  '/home/me/proj',
  '/home/me/proj/.env',
  '/opt',
  '/opt/cora',
  '/opt/other',
];
const FS = view(FSPATHS);

const INPUT: AgentSpecInput = {
  home: '/home/me',
  coraHome: '/home/me/.cora',
  cwd: '/home/me/proj',
  tmp: ['/tmp'],
  profile: 'claude',
  allowRead: [],
  allowWrite: [],
  protect: ['/home/me/proj/.env'],
  installation: ['/opt/cora'],
  targets: [],
};

describe('agentSpec', () => {
  it('should keep the Cora home unreadable and unwritable, even against --allow-read and --allow-write', () => {
    const rules = planRules(
      agentSpec({ ...INPUT, allowRead: ['/home/me/.cora'], allowWrite: ['/home/me/.cora/run', '/home/me'] }),
      7,
      FS,
    );
    for (const path of [
      '/home/me/.cora/vault.cora',
      '/home/me/.cora/run/cora.sock',
      '/home/me/.cora/audit.jsonl',
    ]) {
      expect(accessAt(rules, path) & ~Access.READ_DIR).toBe(0);
    }
    expect(accessAt(rules, '/home/me/.cora/run') & (Access.MAKE_SOCK | Access.REMOVE_FILE)).toBe(0);
  });

  it('should never make a steering file writable, even when HOME is the project', () => {
    const rules = planRules(agentSpec({ ...INPUT, cwd: '/home/me', allowWrite: ['/home/me'] }), 7, FS);
    for (const file of STEERING_FILES) {
      expect(accessAt(rules, `/home/me/${file}`) & (Access.WRITE_FILE | Access.MAKE_REG)).toBe(0);
    }
    expect(accessAt(rules, '/home/me/proj/src.ts') & Access.WRITE_FILE).not.toBe(0);
  });

  it('should let the agent read and write its project and profile, read the rest, and not write the installation', () => {
    const rules = planRules(agentSpec({ ...INPUT, cwd: '/opt' }), 7, FS);
    expect(accessAt(rules, '/usr/bin/env') & Access.EXECUTE).not.toBe(0);
    expect(accessAt(rules, '/home/me/.claude/settings.json') & Access.WRITE_FILE).not.toBe(0);
    expect(accessAt(rules, '/opt/cora/dist/cli.js') & Access.WRITE_FILE).toBe(0);
    expect(accessAt(rules, '/opt/cora/dist/cli.js') & Access.READ_FILE).not.toBe(0);
    expect(accessAt(rules, '/opt/other') & Access.MAKE_REG).not.toBe(0);
  });

  it('should keep a --protect file out of reach unless --allow-read names it', () => {
    const closed = planRules(agentSpec(INPUT), 7, FS);
    expect(accessAt(closed, '/home/me/proj/.env') & (Access.READ_FILE | Access.WRITE_FILE)).toBe(0);
    const opened = planRules(agentSpec({ ...INPUT, allowRead: ['/home/me/proj/.env'] }), 7, FS);
    expect(accessAt(opened, '/home/me/proj/.env') & Access.READ_FILE).not.toBe(0);
  });

  it('should keep a task target unwritable and unreplaceable, even inside the project and --allow-write', () => {
    const target = '/home/me/proj/bin/deploy';
    const fs = view([...FSPATHS, '/home/me/proj/bin', target, '/home/me/proj/bin/other']);
    const rules = planRules(
      agentSpec({ ...INPUT, allowWrite: ['/home/me/proj/bin'], targets: [target] }),
      7,
      fs,
    );
    const modify = Access.WRITE_FILE | Access.TRUNCATE | Access.REMOVE_FILE | Access.MAKE_REG | Access.REFER;
    expect(accessAt(rules, target) & modify).toBe(0);
    expect(accessAt(rules, target) & Access.EXECUTE).not.toBe(0);
    // Renaming the directory that holds it away would swap the target too.
    expect(accessAt(rules, '/home/me/proj') & (Access.REMOVE_DIR | Access.REFER)).toBe(0);
    expect(accessAt(rules, '/home/me/proj/bin/other') & Access.WRITE_FILE).not.toBe(0);
    expect(accessAt(planRules(agentSpec(INPUT), 7, fs), target) & Access.WRITE_FILE).not.toBe(0);
  });

  it('should throw RangeError for an unknown profile', () => {
    expect(() => agentSpec({ ...INPUT, profile: 'toString' })).toThrow(RangeError);
  });
});
