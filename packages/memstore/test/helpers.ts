// SPDX-License-Identifier: AGPL-3.0-only
import {
  spawn,
  spawnSync,
  type ChildProcessWithoutNullStreams,
  type SpawnSyncReturns,
} from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemstoreError, type MemstoreErrorCode } from '../src/index.ts';

/** Absolute path of a fixture script under test/fixtures/. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/**
 * Run a fixture to completion under Node with the `cora-source` condition, with core dumps
 * off (some fixtures crash on purpose). `input` arrives on the child's stdin through a pipe.
 */
export function runFixture(
  name: string,
  args: readonly string[],
  input?: Uint8Array,
): SpawnSyncReturns<Buffer> {
  return spawnSync(
    '/bin/sh',
    [
      '-c',
      'ulimit -c 0; exec "$0" "$@"',
      process.execPath,
      '--conditions=cora-source',
      fixture(name),
      ...args,
    ],
    { input: input ?? new Uint8Array(0), timeout: 20_000 },
  );
}

/** Start a long-running fixture; the caller kills it. */
export function startFixture(name: string, args: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--conditions=cora-source', fixture(name), ...args], { stdio: 'pipe' });
}

/** The MemstoreError code `fn` throws (fails the test when it throws something else). */
export function codeOf(fn: () => unknown): MemstoreErrorCode {
  try {
    fn();
  } catch (error) {
    if (error instanceof MemstoreError) return error.code;
    throw error;
  }
  throw new Error('expected a MemstoreError, nothing was thrown');
}
