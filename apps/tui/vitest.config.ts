// SPDX-License-Identifier: AGPL-3.0-only
import { defineProject, mergeConfig } from 'vitest/config';
import { packageTests } from '../../tooling/config/vitest.ts';

// The shared preset, plus .tsx tests (ink-testing-library renders components).
export default mergeConfig(packageTests('tui'), defineProject({ test: { include: ['test/**/*.test.tsx'] } }));
