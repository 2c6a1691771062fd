// SPDX-License-Identifier: AGPL-3.0-only
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addTask, emptyPolicy, isValidTaskName } from '../src/index.ts';

const task = { secrets: ['TOKEN'], targets: ['/usr/bin/curl'] };

/** Whether the schema takes `name` as a task name: the rule clients must agree with. */
function schemaAccepts(name: string): boolean {
  try {
    addTask(emptyPolicy(), name, task);
    return true;
  } catch {
    return false;
  }
}

describe('isValidTaskName', () => {
  it('should accept what cr exec takes unquoted and refuse the rest', () => {
    for (const ok of ['deploy', 'a', '9', 'gh.api', 'web-1', 'A_b.c-d', 'x'.repeat(64)]) {
      expect(isValidTaskName(ok), ok).toBe(true);
    }
    for (const bad of ['', '-rf', '.env', '_x', 'a b', 'a/b', 'é', 'x'.repeat(65), '__proto__', 'a\n']) {
      expect(isValidTaskName(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('should agree with the schema on every name', () => {
    const alphabet = fc.constantFrom(...'aZ09_.- /\n'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 70 })), (name) => {
        expect(isValidTaskName(name)).toBe(schemaAccepts(name));
      }),
      { numRuns: 500 },
    );
  });
});
