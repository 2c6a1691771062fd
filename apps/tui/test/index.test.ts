// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/tui entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "TUI_EXIT": "object",
        "runTui": "function",
      }
    `);
  });
});
