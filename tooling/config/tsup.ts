// SPDX-License-Identifier: AGPL-3.0-only
import { defineConfig, type Options } from 'tsup';

/** The one build preset: ESM + .d.ts, no bundling of dependencies, no minify (auditable output). */
export function packageBuild(
  entry: Record<string, string>,
  overrides: Pick<Options, 'splitting'> = {},
): Options | Options[] {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node24',
    platform: 'node',
    dts: true,
    sourcemap: true,
    // CORA_KEEP_DIST=1 (parallel local work) keeps old chunks so a rebuild does not pull
    // them from under tests that are running; CI and packing always start clean.
    clean: process.env['CORA_KEEP_DIST'] !== '1',
    splitting: false,
    treeshake: false,
    minify: false,
    ...overrides,
  }) as Options;
}
