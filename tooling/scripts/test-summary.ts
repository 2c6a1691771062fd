// SPDX-License-Identifier: AGPL-3.0-only
// Turns vitest's JSON report into the closing line CI reads: "N passed, N failed, N skipped".
import { readFileSync } from 'node:fs';

interface VitestJsonReport {
  readonly numPassedTests: number;
  readonly numFailedTests: number;
  readonly numPendingTests: number;
  readonly numTodoTests: number;
  readonly numTotalTests: number;
  readonly success: boolean;
}

const path = process.argv[2];
if (path === undefined) {
  console.error('usage: test-summary REPORT.json');
  process.exit(2);
}
const report = JSON.parse(readFileSync(path, 'utf8')) as VitestJsonReport;
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
// No test at all is a failure too: a run that checked nothing must not look green.
process.exit(report.numFailedTests === 0 && report.numTotalTests > 0 && report.success ? 0 : 1);
