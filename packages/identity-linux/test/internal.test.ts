// SPDX-License-Identifier: AGPL-3.0-only
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, waitForLine } from '@cora/test-utils';
import { parseStat, readStat } from '../src/internal/proc.ts';
import { Children, PYTHON } from './helpers.ts';

const children = new Children();
afterEach(() => children.killAll());

describe('parseStat', () => {
  it('should find the fields after the last ")" when comm holds spaces and parentheses', () => {
    const line = '4242 (a) b (c) R 17 4242 4242 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100\n';
    expect(parseStat(line)).toEqual({ state: 'R', ppid: 17, startTime: 987654n });
  });

  it('should reject a line without ")" or with a short or non-numeric start time', () => {
    expect(parseStat('4242 a R 1')).toBeNull();
    expect(parseStat('4242 (a) R 1 2 3')).toBeNull();
    expect(parseStat('4242 (a) R 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 x')).toBeNull();
  });

  it('should read a real process whose name is "a) S 1 (b"', async () => {
    // A hostile name that would shift every field for a parser that splits on spaces.
    await using dir = await makeTempDir('cora-comm-');
    const link = join(dir.path, 'a) S 1 (b');
    symlinkSync(PYTHON, link);
    const child = children.spawn(link, ['-c', 'import sys; print("up", flush=True); sys.stdin.read()']);
    await waitForLine(child.stdout!, (line) => line === 'up');
    expect(readFileSync(`/proc/${child.pid}/comm`, 'latin1')).toBe('a) S 1 (b\n');
    const stat = readStat(child.pid!);
    expect(stat?.ppid).toBe(process.pid);
    expect(['R', 'S']).toContain(stat?.state);
  });
});
