// SPDX-License-Identifier: AGPL-3.0-only
// Turns vitest's JSON report into the closing line CI reads: "N passed, N failed, N skipped".
// vitest counts only tests that ran: a file that failed to load (import error, missing fixture,
// syntax error, top-level throw) has no tests, so it would not show in numFailedTests. Each
// such file counts here as one failed, and is named above the closing line.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface VitestAssertion {
  readonly status: string;
}

interface VitestFileResult {
  readonly name: string;
  readonly status: string;
  readonly message?: string;
  readonly assertionResults: readonly VitestAssertion[];
}

interface VitestJsonReport {
  readonly numPassedTests: number;
  readonly numFailedTests: number;
  readonly numPendingTests: number;
  readonly numTodoTests: number;
  readonly numTotalTests: number;
  readonly success: boolean;
  readonly testResults?: readonly VitestFileResult[];
}

/** The first non-blank line of an error message, without terminal colours. */
function firstLine(message: string | undefined): string {
  // eslint-disable-next-line no-control-regex -- ANSI colour codes are control characters
  const plain = (message ?? '').replace(/\x1b\[[0-9;]*m/g, '');
  const line = plain.split('\n').find((l) => l.trim() !== '');
  return line === undefined ? '(no message)' : line.trim();
}

const path = process.argv[2];
if (path === undefined) {
  console.error('usage: test-summary REPORT.json');
  process.exit(2);
}
const report = JSON.parse(readFileSync(path, 'utf8')) as VitestJsonReport;

let failed = report.numFailedTests;
for (const file of report.testResults ?? []) {
  if (file.status !== 'failed') continue;
  // A failed test already counts; a failed file without one failed before or around its tests.
  if (file.assertionResults.some((a) => a.status === 'failed')) continue;
  failed += 1;
  const what = file.assertionResults.length === 0 ? 'failed to load' : 'failed outside its tests (a hook)';
  console.log(`FAIL ${relative(process.cwd(), file.name)} ${what}: ${firstLine(file.message)}`);
}
if (!report.success && failed === 0 && report.numTotalTests > 0) {
  // e.g. an unhandled error after a test passed: vitest fails the run, so must the count.
  failed = 1;
  console.log('FAIL vitest reported an error outside any test (see its output above)');
}

const skipped = report.numPendingTests + report.numTodoTests;
console.log(`${report.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
// No test at all is a failure too: a run that checked nothing must not look green.
process.exit(failed === 0 && report.numTotalTests > 0 && report.success ? 0 : 1);
