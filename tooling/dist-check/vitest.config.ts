// SPDX-License-Identifier: AGPL-3.0-only
import { defineProject } from 'vitest/config';

// Deliberately not the shared preset: no `cora-source` condition, so `@cora/*` resolves to dist/.
export default defineProject({
  test: {
    name: 'dist-check',
    include: ['test/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 60_000,
  },
});
