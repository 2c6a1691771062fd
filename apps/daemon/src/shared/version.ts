// SPDX-License-Identifier: AGPL-3.0-only
import { readFileSync } from 'node:fs';

/** This app's version, from its package.json (one directory above src/ and dist/). */
export const VERSION: string = (
  JSON.parse(
    readFileSync(
      new URL(import.meta.url.endsWith('.ts') ? '../../package.json' : '../package.json', import.meta.url),
      'utf8',
    ),
  ) as { version: string }
).version;
