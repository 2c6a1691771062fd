// SPDX-License-Identifier: AGPL-3.0-only
// test-summary.ts against real vitest JSON reports: a child vitest runs fixture test files in a
// temp dir (one that passes, one that throws at import, one whose import does not resolve) and
// the summary must count each file that failed to load as failed, name it, and exit 1.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SUMMARY = fileURLToPath(new URL('../test-summary.ts', import.meta.url));
const VITEST = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

const FILES: Readonly<Record<string, string>> = {
  'ok.test.ts': [
    "import { expect, it } from 'vitest';",
    "it('adds', () => { expect(1 + 1).toBe(2); });",
    "it('compares', () => { expect('a' < 'b').toBe(true); });",
    "it.skip('is skipped', () => {});",
  ].join('\n'),
  'throws.test.ts': [
    "import { it } from 'vitest';",
    "throw new Error('fixture missing: vectors/nope.json\\nsecond line of the message');",
    "it('never runs', () => {});",
  ].join('\n'),
  'missing-import.test.ts': [
    "import { it } from 'vitest';",
    "import { nothing } from './not-here.ts';",
    "it('never runs', () => { nothing(); });",
  ].join('\n'),
};

let dir = '';

/** The child must not think it runs inside this vitest (worker ids, pool state). */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('VITEST') && key !== 'TEST' && key !== 'NODE_ENV') env[key] = value;
  }
  return env;
}

/** Run vitest in `dir` on the files matching `filter`, writing a JSON report; returns its path. */
function vitestReport(name: string, filter: readonly string[]): string {
  const out = join(dir, name);
  const run = spawnSync(
    process.execPath,
    [VITEST, 'run', '--reporter=json', `--outputFile.json=${out}`, ...filter],
    { cwd: dir, env: childEnv(), encoding: 'utf8', timeout: 60_000 },
  );
  expect(run.error).toBeUndefined();
  return out;
}

function summarise(report: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [SUMMARY, report], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
}

function lines(text: string): string[] {
  return text.trimEnd().split('\n');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cora-summary-'));
  // An empty config keeps the child from looking further up for one.
  writeFileSync(join(dir, 'vitest.config.mjs'), 'export default {};\n');
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('test-summary', () => {
  it('should count each file that failed to load as one failed test, and exit 1', () => {
    const result = summarise(vitestReport('all.json', []));
    const out = lines(result.stdout);
    expect(out.at(-1)).toBe('2 passed, 2 failed, 1 skipped');
    expect(out).toContain('FAIL throws.test.ts failed to load: fixture missing: vectors/nope.json');
    expect(
      out.some(
        (l) => l.startsWith('FAIL missing-import.test.ts failed to load: ') && l.includes('not-here.ts'),
      ),
    ).toBe(true);
    // Only the error's first line: the rest of a stack or message stays in vitest's own output.
    expect(result.stdout).not.toContain('second line');
    expect(result.status).toBe(1);
  });

  it('should report a clean run as such and exit 0', () => {
    const result = summarise(vitestReport('ok.json', ['ok.test.ts']));
    expect(lines(result.stdout)).toEqual(['2 passed, 0 failed, 1 skipped']);
    expect(result.status).toBe(0);
  });

  it('should fail a run that ran no test at all', () => {
    const empty = join(dir, 'empty.json');
    writeFileSync(
      empty,
      JSON.stringify({
        numPassedTests: 0,
        numFailedTests: 0,
        numPendingTests: 0,
        numTodoTests: 0,
        numTotalTests: 0,
        success: true,
        testResults: [],
      }),
    );
    const result = summarise(empty);
    expect(lines(result.stdout)).toEqual(['0 passed, 0 failed, 0 skipped']);
    expect(result.status).toBe(1);
  });
});
