// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Builds the `cr` CLI and the service for Windows node.exe under Wine (tooling/test-windows.sh):
 * the same sources and build settings as apps/daemon's dist, in one bundle with every JavaScript
 * dependency inside. Windows Node does not follow pnpm's symlinks under Wine, so the packages it
 * loads at run time (koffi, sodium-native, and @cora/identity-win32, which @cora/identity
 * imports by a computed name) are installed by the script as plain folders beside the bundle.
 *
 * Usage: node tooling/scripts/wine-bundle.ts <out-dir>   (writes <out-dir>/dist and package.json)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'tsup';

const out = process.argv[2];
if (out === undefined) {
  process.stderr.write('usage: wine-bundle.ts <out-dir>\n');
  process.exit(2);
}
const root = resolve(import.meta.dirname, '..', '..');
const daemon = join(root, 'apps', 'daemon');
const outDir = resolve(out, 'dist');
mkdirSync(outDir, { recursive: true });
// The CLI and service read their version from the package.json above dist/ (shared/version.ts).
const { version } = JSON.parse(readFileSync(join(daemon, 'package.json'), 'utf8')) as { version: string };
writeFileSync(
  join(resolve(out), 'package.json'),
  `${JSON.stringify({ type: 'module', private: true, version })}\n`,
);
process.chdir(daemon);
await build({
  entry: {
    cli: join(daemon, 'src/cli/entry.ts'),
    'service-main': join(daemon, 'src/service/main.ts'),
  },
  format: ['esm'],
  target: 'node24',
  platform: 'node',
  outDir,
  splitting: true,
  clean: true,
  dts: false,
  sourcemap: false,
  silent: true,
  treeshake: false,
  minify: false,
  // Everything but the packages with native code (and the platform package loaded by name).
  noExternal: [/^(?!koffi$|sodium-native$|@cora\/identity-win32$|@cora\/tui$).*/],
  external: ['koffi', 'sodium-native', '@cora/identity-win32', '@cora/tui'],
  // CommonJS dependencies inside an ES module bundle call require(): give them one.
  banner: {
    js: "import { createRequire as __coraRequire } from 'node:module'; const require = __coraRequire(import.meta.url);",
  },
});
