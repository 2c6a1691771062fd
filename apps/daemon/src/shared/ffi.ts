// SPDX-License-Identifier: AGPL-3.0-only
/**
 * koffi (FFI to libc), loaded at first use: the commands agents run most (`cr status`,
 * `cr exec`) never call into libc, and loading the addon is a large share of their start.
 */
import { createRequire } from 'node:module';
import type Koffi from 'koffi';

let loaded: typeof Koffi | undefined;

/** @returns the koffi module, required once */
export function koffi(): typeof Koffi {
  return (loaded ??= createRequire(import.meta.url)('koffi') as typeof Koffi);
}
