// SPDX-License-Identifier: AGPL-3.0-only
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'tooling/test-utils', 'tooling/dist-check', 'tooling/scripts'],
    // Two cores here and in CI: keep heavy KDF suites from starving each other.
    maxWorkers: 2,
  },
});
