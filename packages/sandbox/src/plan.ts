// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Rule planning (architecture §13): Landlock has only allow rules, and a rule on a directory
 * covers everything beneath it. To keep a path out of a grant, the grant is split along the
 * path's ancestors: each ancestor keeps only the rights no protection withholds, and every
 * sibling entry off the way to the protected path gets the rest. Pure: the file system is
 * read through a {@link FsView}.
 */
import { FILE_ACCESS, handledAccess } from './access.ts';
import { SandboxError } from './errors.ts';

/** A path and the rights granted beneath it. */
export interface SandboxGrant {
  /** Absolute, normalized (no `.`, `..`, trailing `/`), with symlinks resolved. */
  readonly path: string;
  /** {@link Access} bits. */
  readonly access: number;
  /**
   * An explicit exception the user asked for (`--allow-read`): only `hard` protections apply
   * to it, so it can reopen a path inside a soft one.
   */
  readonly explicit?: boolean;
}

/** A path whose rights no grant may give, however wide. */
export interface SandboxProtection {
  /** Absolute, normalized, symlinks resolved (the path need not exist). */
  readonly path: string;
  /** {@link Access} bits withheld at this path and beneath it. */
  readonly withhold: number;
  /** A hard protection holds against explicit grants too (the Cora home). */
  readonly hard?: boolean;
}

/** What a sandbox allows: grants minus protections, and (when given) TCP ports. */
export interface SandboxSpec {
  readonly grants: readonly SandboxGrant[];
  readonly protect: readonly SandboxProtection[];
  /**
   * When present, TCP is confined (Landlock ABI ≥ 4): `connect()` only to these ports (1 to
   * 65535), and no `bind()` to any port. Absent: TCP is not restricted.
   */
  readonly connectTcp?: readonly number[];
}

/** One Landlock path-beneath rule. */
export interface SandboxRule {
  readonly path: string;
  readonly access: number;
}

/** The kind of a path, seen without following a final symlink. */
export type PathKind = 'dir' | 'file' | 'symlink' | 'missing';

/** How the planner sees the file system. */
export interface FsView {
  /** The kind of `path` (lstat). */
  kind(path: string): PathKind;
  /** The names in directory `path` (no `.` or `..`); empty when it cannot be read. */
  list(path: string): readonly string[];
}

/** Whether `path` equals `root` or lies beneath it (both normalized and absolute). */
export function isWithin(path: string, root: string): boolean {
  if (root === '/') return path.startsWith('/');
  return path === root || path.startsWith(`${root}/`);
}

/**
 * The rights `rules` give at `path`: the union of the rules on it and on its ancestors, which
 * is how Landlock decides within one ruleset.
 * @param rules - rules from {@link planRules}
 * @param path - an absolute normalized path
 * @returns {@link Access} bits
 * @example
 * ```ts
 * const spec: SandboxSpec = { grants: [{ path: '/', access: READ_ACCESS }], protect: [] };
 * const canRead = (accessAt(planRules(spec, 7, realFsView), '/etc/hosts') & Access.READ_FILE) !== 0;
 * ```
 */
export function accessAt(rules: readonly SandboxRule[], path: string): number {
  let rights = 0;
  for (const rule of rules) if (isWithin(path, rule.path)) rights |= rule.access;
  return rights;
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function checkPath(path: string, what: string): void {
  if (typeof path !== 'string') throw new TypeError(`${what} must be a string`);
  const normalized =
    path.startsWith('/') &&
    !path.includes('\0') &&
    !path.includes('//') &&
    (path === '/' || !path.endsWith('/')) &&
    !path.split('/').some((part) => part === '.' || part === '..');
  if (!normalized) {
    throw new SandboxError(
      'INVALID_SPEC',
      `${what} must be an absolute normalized path, got ${JSON.stringify(path)}`,
    );
  }
}

/**
 * The Landlock rules that give every grant of `spec` except what its protections withhold.
 *
 * For a grant on `G` and a protection on `P`: when `P` is `G` or above it, the withheld rights
 * are taken off the grant; when `P` is beneath `G`, `G` keeps only the rights the protection
 * does not withhold, and each entry of `G`, of the next directory towards `P` and so on gets
 * the grant whole, except the entry that leads to `P`. Limits that follow (document them):
 * a directory on the way to a protected path does not get the withheld rights for itself
 * (creating an entry in it, or reading a file created in it later, is refused), and entries
 * are those present now. Symlinks get no rule (what they point to is judged by its own path).
 *
 * @param spec - grants and protections (absolute normalized real paths)
 * @param abi - the Landlock ABI: rights it does not know are dropped
 * @param view - the file system (real, or a fake in tests)
 * @returns rules, one per path, in a stable order
 * @throws SandboxError `INVALID_SPEC` for a relative or unnormalized path; RangeError for a bad `abi`
 * @example
 * ```ts
 * planRules({ grants: [{ path: '/', access: READ_ACCESS }], protect: [{ path: '/home/me/.cora', withhold: READ_ACCESS }] }, 7, realFsView);
 * ```
 */
export function planRules(spec: SandboxSpec, abi: number, view: FsView): SandboxRule[] {
  const handled = handledAccess(abi);
  for (const grant of spec.grants) checkPath(grant.path, 'grant path');
  for (const protection of spec.protect) checkPath(protection.path, 'protected path');
  const rules = new Map<string, number>();
  const emit = (path: string, access: number): void => {
    if (access !== 0) rules.set(path, (rules.get(path) ?? 0) | access);
  };

  const visit = (path: string, access: number, protections: readonly SandboxProtection[]): void => {
    const kind = view.kind(path);
    if (kind === 'missing' || kind === 'symlink') return;
    let rights = access & handled;
    if (kind === 'file') rights &= FILE_ACCESS;
    for (const p of protections) if (isWithin(path, p.path)) rights &= ~p.withhold;
    if (rights === 0) return;
    const below = protections.filter(
      (p) => p.path !== path && isWithin(p.path, path) && (p.withhold & rights) !== 0,
    );
    if (kind === 'file' || below.length === 0) {
      emit(path, rights);
      return;
    }
    let split = 0;
    for (const p of below) split |= p.withhold & rights;
    emit(path, rights & ~split);
    for (const name of [...view.list(path)].sort()) visit(join(path, name), split, below);
  };

  for (const grant of spec.grants) {
    const applies = spec.protect.filter((p) => grant.explicit !== true || p.hard === true);
    visit(grant.path, grant.access, applies);
  }
  return [...rules.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, access]) => ({ path, access }));
}
