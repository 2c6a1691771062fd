// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The `cr` entry file (`dist/cli.js`), run by `bin/cr` with `--disable-sigusr1`. It checks the
 * Node version before anything else loads (so `bin/cr` need not start Node a second time to
 * ask), keeps a compile cache beside the installed code, then runs the CLI (main.ts). Kept to
 * syntax any Node can parse: on an old one this file must get as far as saying so. The service
 * recognises this file as the `cr` CLI (service/authorize.ts).
 */
// A default import: a named one would fail to link on a Node that lacks it, before the check.
import nodeModule from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 7)) {
  process.stderr.write(
    `cr: needs Node.js >= 24.7, but ${process.execPath} is ${process.version}.\n` +
      "cr: install Node.js 24.7 or later (https://nodejs.org) or set CORA_NODE to one; in a Cora checkout, 'bash tooling/setup.sh' installs it.\n",
  );
  process.exit(69);
}
// Beside the code it caches, so it has the code's own trust: whoever can write it can write
// the code. Where the installation is read-only (a root-owned prefix, inside `cr agent`)
// Node skips the cache and compiles as before.
nodeModule.enableCompileCache(join(dirname(dirname(fileURLToPath(import.meta.url))), '.compile-cache'));
await import('./main.ts');
