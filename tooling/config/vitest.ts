// SPDX-License-Identifier: AGPL-3.0-only
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

/** Shared per-package vitest preset; `name` shows up in the root run's report. */
export function packageTests(name: string): UserWorkspaceConfig {
  return defineProject({
    // Workspace packages resolve to their TypeScript sources in tests (see package.json exports).
    resolve: { conditions: ['cora-source'] },
    ssr: { resolve: { conditions: ['cora-source'] } },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      environment: 'node',
      pool: 'forks',
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  });
}
