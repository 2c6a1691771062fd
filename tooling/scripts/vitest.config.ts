// SPDX-License-Identifier: AGPL-3.0-only
import { packageTests } from '../config/vitest.ts';

// Tests of the repository's own scripts (test summary, example checker).
export default packageTests('scripts');
