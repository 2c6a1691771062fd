// SPDX-License-Identifier: AGPL-3.0-only
// check-examples.ts on fixture workspaces in a temp dir: a wrong argument type, an import of a
// name the package does not export and a `...` elision must each be reported at the source
// file's line and column with the TypeScript diagnostic, and fail the run; correct examples
// (placeholders, an internal module's own exports, top-level await) must pass.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../check-examples.ts', import.meta.url));

const MANIFEST = JSON.stringify({
  name: '@fixture/demo',
  type: 'module',
  exports: { '.': './src/index.ts' },
});

const GOOD_INDEX = [
  '/**',
  ' * Add two numbers.',
  ' * @example',
  ' * ```ts',
  ' * const sum: number = add(1, 2);',
  ' * ```',
  ' */',
  'export function add(a: number, b: number): number {',
  '  return a + b;',
  '}',
  '',
  '/**',
  ' * Read a text file (placeholder `path`, top-level await).',
  ' * @example',
  ' * ```ts',
  ' * const text: string = await readText(path);',
  ' * ```',
  ' */',
  'export async function readText(file: string): Promise<string> {',
  '  return file;',
  '}',
  '',
].join('\n');

const INTERNAL = [
  '/**',
  ' * Not exported by the package; its own examples may still use it.',
  ' * @example',
  ' * ```ts',
  ' * const n: number = twice(add(1, 2));',
  ' * ```',
  ' */',
  'export function twice(n: number): number {',
  '  return 2 * n;',
  '}',
  '',
].join('\n');

const BAD_INDEX = [
  GOOD_INDEX,
  '/**',
  ' * Greet someone.',
  ' * @example',
  ' * ```ts',
  ' * greet(42);',
  ' * ```',
  ' */',
  'export function greet(name: string): string {',
  '  return `hi ${name}`;',
  '}',
  '',
  '/**',
  ' * Configure, with a name the package does not export and an elision marker.',
  ' * @example',
  ' * ```ts',
  " * import { configurate } from '@fixture/demo';",
  " * configure({ name: 'x', ... });",
  ' * ```',
  ' */',
  'export function configure(options: { name: string; level?: number }): void {',
  '  void options;',
  '}',
  '',
].join('\n');

let base = '';

function workspace(name: string, files: Readonly<Record<string, string>>): string {
  const root = join(base, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function check(root: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [SCRIPT, root], { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

/** 1-based line of `text` in `source`. */
function lineOf(source: string, text: string): number {
  return source.split('\n').findIndex((l) => l.includes(text)) + 1;
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'cora-examples-'));
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('check-examples', () => {
  it('should report each wrong example at its source line with the TS diagnostic, and exit 1', () => {
    const root = workspace('bad', {
      'packages/demo/package.json': MANIFEST,
      'packages/demo/src/index.ts': BAD_INDEX,
    });
    const result = check(root);
    const out = result.stdout;
    const file = 'packages/demo/src/index.ts';
    // `42` sits after " * greet(": column 10.
    expect(out).toContain(
      `${file}:${lineOf(BAD_INDEX, 'greet(42)')}:10 - TS2345: Argument of type 'number' is not assignable to parameter of type 'string'.`,
    );
    expect(out).toMatch(
      new RegExp(
        `${file}:${lineOf(BAD_INDEX, 'import { configurate }')}:\\d+ - TS(2305|2724): .*'configurate'`,
      ),
    );
    expect(out).toMatch(
      new RegExp(
        `${file}:${lineOf(BAD_INDEX, "configure({ name: 'x', ... })")}:\\d+ - TS1109: Expression expected`,
      ),
    );
    // The correct examples of the same file are not reported.
    expect(out).not.toContain(`${file}:${lineOf(BAD_INDEX, 'add(1, 2)')}:`);
    expect(out).not.toContain(`${file}:${lineOf(BAD_INDEX, 'readText(path)')}:`);
    expect(out.trimEnd().split('\n').at(-1)).toBe('check-examples: 4 examples in 1 files, 2 failed');
    expect(result.status).toBe(1);
  });

  it('should pass correct examples, with placeholders and an internal module, and exit 0', () => {
    const root = workspace('good', {
      'packages/demo/package.json': MANIFEST,
      'packages/demo/src/index.ts': GOOD_INDEX,
      'packages/demo/src/internal/twice.ts': INTERNAL,
    });
    const result = check(root);
    expect(result.stdout.trimEnd().split('\n')).toEqual(['check-examples: 3 examples in 2 files, 0 failed']);
    expect(result.status).toBe(0);
  });

  it('should fail when it finds no example at all', () => {
    const root = workspace('empty', {
      'packages/demo/package.json': MANIFEST,
      'packages/demo/src/index.ts': 'export const one = 1;\n',
    });
    const result = check(root);
    expect(result.stderr).toContain('no ```ts example found');
    expect(result.status).toBe(1);
  });
});
