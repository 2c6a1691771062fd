// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/test-utils`: shared fixtures for Cora's tests (private; never published).
 * @packageDocumentation
 */
export { scanProcessMemory, readMemoryRegions } from './memory-scan.ts';
export type { MemoryHit, MemoryRegion, ScanOptions } from './memory-scan.ts';
export { makeCanary, canaryForms, CANARY_PREFIX, CANARY_FORM_LABELS } from './canary.ts';
export { makeTempDir, withTempHome } from './temp.ts';
export type { TempDir, TempHome } from './temp.ts';
export { waitForLine } from './lines.ts';
export { unprivilegedCanRun, NOBODY_UID } from './unprivileged.ts';
