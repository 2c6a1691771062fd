// SPDX-License-Identifier: AGPL-3.0-only
// A .env file read from disk into secure memory, as `cr secrets import` and the TUI read it.
import { symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { readDotenvFile, wipeDotenv } from '../src/cli/dotenv.ts';
import { isCrError } from '../src/shared/errors.ts';

const dirs: TempDir[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await dir.remove();
});

async function file(name: string, content: string): Promise<string> {
  const dir = await makeTempDir();
  dirs.push(dir);
  const path = join(dir.path, name);
  writeFileSync(path, content, { mode: 0o644 });
  return path;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return isCrError(error) ? error.code : 'not a CrError';
  }
  return 'no error';
}

describe('readDotenvFile', () => {
  it('should parse a readable file (any mode: a .env file is not a passphrase file)', async () => {
    const path = await file('.env', 'A=1\nexport B="two words"\n# comment\n');
    const { entries, problems } = readDotenvFile(path);
    try {
      expect(problems).toEqual([]);
      expect(entries.map((e) => e.name)).toEqual(['A', 'B']);
      expect(entries.map((e) => e.value.use((b) => Buffer.from(b).toString()))).toEqual(['1', 'two words']);
    } finally {
      wipeDotenv(entries);
    }
  });

  it('should report problems by line, with no entries', async () => {
    const path = await file('.env', 'A=1\nnot a line\n');
    const { entries, problems } = readDotenvFile(path);
    expect(entries).toEqual([]);
    expect(problems.map((p) => [p.line, p.kind])).toEqual([[2, 'MISSING_EQUALS']]);
  });

  it('should refuse a missing file, a symlink and a file over 16 MiB', async () => {
    const path = await file('.env', 'A=1\n');
    expect(codeOf(() => readDotenvFile(`${path}.missing`))).toBe('NOT_FOUND');
    const link = `${path}.link`;
    symlinkSync(path, link);
    expect(codeOf(() => readDotenvFile(link))).toBe('UNSAFE_PATH');
    const big = await file('big.env', '');
    truncateSync(big, 16 * 1024 * 1024 + 1);
    expect(codeOf(() => readDotenvFile(big))).toBe('INVALID_INPUT');
  });
});
