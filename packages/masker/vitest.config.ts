// SPDX-License-Identifier: AGPL-3.0-only
import { packageTests } from '../../tooling/config/vitest.ts';

export default packageTests('masker');
