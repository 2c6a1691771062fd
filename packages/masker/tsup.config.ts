// SPDX-License-Identifier: AGPL-3.0-only
import { packageBuild } from '../../tooling/config/tsup.ts';

export default packageBuild({ index: 'src/index.ts' });
