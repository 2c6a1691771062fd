// SPDX-License-Identifier: AGPL-3.0-only
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Access,
  FILE_ACCESS,
  MODIFY_ACCESS,
  READ_ACCESS,
  WRITE_ACCESS,
  handledAccess,
  accessAt,
  isWithin,
  planRules,
  type FsView,
  type SandboxSpec,
} from '../src/index.ts';

/** A strict fake file system: directories end with '/', anything else is a file or a link. */
function fakeFs(entries: readonly string[]): FsView {
  const kinds = new Map<string, 'dir' | 'file' | 'symlink'>([['/', 'dir']]);
  for (const entry of entries) {
    if (entry.endsWith('@')) kinds.set(entry.slice(0, -1), 'symlink');
    else if (entry.endsWith('/')) kinds.set(entry.slice(0, -1), 'dir');
    else kinds.set(entry, 'file');
  }
  return {
    kind: (path) => kinds.get(path) ?? 'missing',
    list: (path) => {
      if (kinds.get(path) !== 'dir') throw new Error(`list of a non-directory: ${path}`);
      const prefix = path === '/' ? '/' : `${path}/`;
      return [...kinds.keys()]
        .filter((p) => p !== path && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
        .map((p) => p.slice(prefix.length));
    },
  };
}

const FS = fakeFs([
  '/bin@',
  '/usr/',
  '/usr/bin/',
  '/etc/',
  '/tmp/',
  '/tmp/other',
  '/home/',
  '/home/bob/',
  '/home/me/',
  '/home/me/.cora/',
  '/home/me/.cora/vault.cora',
  '/home/me/.bashrc',
  '/home/me/link@',
  '/home/me/proj/',
  '/home/me/proj/.env',
  '/home/me/proj/src/',
]);

const ALL = handledAccess(7);
const NO_ACCESS = ALL & ~Access.READ_DIR;

describe('planRules', () => {
  it('should emit one rule per grant when nothing is protected', () => {
    const spec: SandboxSpec = { grants: [{ path: '/', access: READ_ACCESS }], protect: [] };
    expect(planRules(spec, 7, FS)).toEqual([{ path: '/', access: READ_ACCESS }]);
  });

  it('should split a grant along the ancestors of a protected path and give every sibling the rest', () => {
    const spec: SandboxSpec = {
      grants: [{ path: '/', access: READ_ACCESS }],
      protect: [{ path: '/home/me/.cora', withhold: NO_ACCESS, hard: true }],
    };
    const rules = planRules(spec, 7, FS);
    // READ_DIR stays on `/` (no protection withholds it); the rest goes to each sibling.
    const rx = Access.EXECUTE | Access.READ_FILE;
    expect(rules).toEqual([
      { path: '/', access: Access.READ_DIR },
      { path: '/etc', access: rx },
      { path: '/home/bob', access: rx },
      { path: '/home/me/.bashrc', access: rx },
      { path: '/home/me/proj', access: rx },
      { path: '/tmp', access: rx },
      { path: '/usr', access: rx },
    ]);
    expect(accessAt(rules, '/home/me/.cora/vault.cora') & Access.READ_FILE).toBe(0);
    expect(accessAt(rules, '/home/me/.cora') & Access.READ_DIR).not.toBe(0);
    // The documented limit: a file created later directly in a split ancestor gets no read.
    expect(accessAt(rules, '/home/me/new-file') & Access.READ_FILE).toBe(0);
  });

  it('should give no rule to a symlink, so a link to the protected path opens nothing', () => {
    const spec: SandboxSpec = {
      grants: [{ path: '/', access: READ_ACCESS }],
      protect: [{ path: '/home/me/.cora', withhold: NO_ACCESS }],
    };
    const paths = planRules(spec, 7, FS).map((r) => r.path);
    expect(paths).not.toContain('/home/me/link');
    expect(paths).not.toContain('/bin');
  });

  it('should give a file only the rights a file can have', () => {
    const spec: SandboxSpec = {
      grants: [{ path: '/home/me/.bashrc', access: WRITE_ACCESS }],
      protect: [],
    };
    expect(planRules(spec, 7, FS)).toEqual([
      { path: '/home/me/.bashrc', access: WRITE_ACCESS & FILE_ACCESS },
    ]);
  });

  it('should take withheld rights off a grant at or beneath the protected path', () => {
    const spec: SandboxSpec = {
      grants: [{ path: '/home/me/.cora', access: WRITE_ACCESS, explicit: true }],
      protect: [{ path: '/home/me', withhold: MODIFY_ACCESS, hard: true }],
    };
    expect(planRules(spec, 7, FS)).toEqual([{ path: '/home/me/.cora', access: READ_ACCESS }]);
  });

  it('should let an explicit grant reopen a soft protection, never a hard one', () => {
    const spec: SandboxSpec = {
      grants: [
        { path: '/home/me/proj/.env', access: READ_ACCESS, explicit: true },
        { path: '/home/me/.cora/vault.cora', access: READ_ACCESS, explicit: true },
      ],
      protect: [
        { path: '/home/me/proj/.env', withhold: NO_ACCESS },
        { path: '/home/me/.cora', withhold: NO_ACCESS, hard: true },
      ],
    };
    expect(planRules(spec, 7, FS)).toEqual([
      { path: '/home/me/proj/.env', access: Access.EXECUTE | Access.READ_FILE },
    ]);
  });

  it('should keep a write-protected file out of a write grant on its directory, even when it does not exist yet', () => {
    const spec: SandboxSpec = {
      grants: [{ path: '/home/me', access: WRITE_ACCESS }],
      protect: [{ path: '/home/me/.curlrc', withhold: MODIFY_ACCESS, hard: true }],
    };
    const rules = planRules(spec, 7, FS);
    expect(accessAt(rules, '/home/me') & Access.MAKE_REG).toBe(0);
    expect(accessAt(rules, '/home/me/.curlrc') & MODIFY_ACCESS).toBe(0);
    expect(accessAt(rules, '/home/me/proj/src/a.ts') & WRITE_ACCESS).toBe(WRITE_ACCESS);
    expect(accessAt(rules, '/home/me') & READ_ACCESS).toBe(READ_ACCESS);
  });

  it('should drop the rights an older ABI does not know', () => {
    const spec: SandboxSpec = { grants: [{ path: '/tmp', access: WRITE_ACCESS }], protect: [] };
    const [rule] = planRules(spec, 1, FS);
    expect(rule?.access).toBe(WRITE_ACCESS & ~(Access.REFER | Access.TRUNCATE | Access.IOCTL_DEV));
  });

  it('should merge rules on one path and skip missing paths', () => {
    const spec: SandboxSpec = {
      grants: [
        { path: '/tmp', access: READ_ACCESS },
        { path: '/tmp', access: Access.WRITE_FILE },
        { path: '/nowhere', access: READ_ACCESS },
      ],
      protect: [],
    };
    expect(planRules(spec, 7, FS)).toEqual([{ path: '/tmp', access: READ_ACCESS | Access.WRITE_FILE }]);
  });

  it('should throw INVALID_SPEC for a relative or unnormalized path', () => {
    for (const path of ['tmp', '/tmp/', '/a/../b', '/a/./b', '/a//b', '/a\0b']) {
      expect(() => planRules({ grants: [{ path, access: 1 }], protect: [] }, 7, FS)).toThrow(
        expect.objectContaining({ code: 'INVALID_SPEC' }),
      );
      expect(() => planRules({ grants: [], protect: [{ path, withhold: 1 }] }, 7, FS)).toThrow(
        expect.objectContaining({ code: 'INVALID_SPEC' }),
      );
    }
  });

  it('should throw RangeError for an ABI under 1', () => {
    expect(() => planRules({ grants: [], protect: [] }, 0, FS)).toThrow(RangeError);
  });

  it('should never give a withheld right at or under a protected path, and keep every other right (property)', () => {
    const all = [
      ...new Set([
        '/',
        ...FS.list('/').map((n) => `/${n}`),
        '/home/me',
        '/home/me/.cora',
        '/home/me/.cora/vault.cora',
        '/home/me/proj',
        '/home/me/proj/.env',
        '/home/me/proj/src',
        '/home/bob',
        '/usr/bin',
      ]),
    ];
    const path = fc.constantFrom(...all.filter((p) => FS.kind(p) !== 'symlink' && FS.kind(p) !== 'missing'));
    fc.assert(
      fc.property(
        fc.array(fc.record({ path, access: fc.constantFrom(READ_ACCESS, WRITE_ACCESS) }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.record({ path, withhold: fc.constantFrom(NO_ACCESS, MODIFY_ACCESS) }), { maxLength: 3 }),
        (grants, protect) => {
          const rules = planRules({ grants, protect }, 7, FS);
          for (const p of protect) {
            for (const probe of all) {
              if (isWithin(probe, p.path)) expect(accessAt(rules, probe) & p.withhold).toBe(0);
            }
          }
          // A path no protection is on the way to (nor above) keeps what its grants give.
          for (const g of grants) {
            for (const probe of all) {
              if (!isWithin(probe, g.path) || FS.kind(probe) !== 'dir') continue;
              const touched = protect.some((p) => isWithin(p.path, probe) || isWithin(probe, p.path));
              if (!touched) expect(accessAt(rules, probe) & g.access).toBe(g.access & ALL);
            }
          }
        },
      ),
    );
  });
});

describe('handledAccess', () => {
  it('should grow with the ABI', () => {
    expect(handledAccess(1)).toBe(0x1fff);
    expect(handledAccess(2)).toBe(0x3fff);
    expect(handledAccess(3)).toBe(0x7fff);
    expect(handledAccess(4)).toBe(0x7fff);
    expect(handledAccess(5)).toBe(0xffff);
    expect(handledAccess(7)).toBe(0xffff);
  });
});
