// SPDX-License-Identifier: AGPL-3.0-only
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir, withTempHome } from '../src/index.ts';

describe('makeTempDir', () => {
  it('should create a 0700 directory and remove it', async () => {
    const dir = await makeTempDir('cora-t-');
    expect(statSync(dir.path).mode & 0o777).toBe(0o700);
    writeFileSync(join(dir.path, 'x'), 'y');
    await dir.remove();
    expect(existsSync(dir.path)).toBe(false);
  });
});

describe('withTempHome', () => {
  it('should hand over a private HOME and remove it afterwards, also on throw', async () => {
    let seen = '';
    await expect(
      withTempHome((home) => {
        seen = home.path;
        expect(home.env['HOME']).toBe(home.path);
        expect(statSync(home.path).mode & 0o777).toBe(0o700);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(seen).not.toBe('');
    expect(existsSync(seen)).toBe(false);
    expect(await withTempHome(() => 42)).toBe(42);
  });
});
