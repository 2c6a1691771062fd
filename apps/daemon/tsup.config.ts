// SPDX-License-Identifier: AGPL-3.0-only
import { packageBuild } from '../../tooling/config/tsup.ts';

// Code splitting: `cr exec` (src/cli/main.ts) loads its own chunk without the rest of the CLI.
export default packageBuild(
  {
    cli: 'src/cli/entry.ts',
    'service-main': 'src/service/main.ts',
    // The exec helper of confined tasks (src/service/exec/confine.ts).
    'child-confine': 'src/service/exec/confine-main.ts',
  },
  { splitting: true },
);
