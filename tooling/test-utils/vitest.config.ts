// SPDX-License-Identifier: AGPL-3.0-only
import { packageTests } from '../config/vitest.ts';

export default packageTests('test-utils');
