// SPDX-License-Identifier: AGPL-3.0-only
// architecture §1 G3: after a secret went through MemStore and the secrets-block codec and was
// wiped, no copy of it (raw, hex, base64) is left anywhere in the process's readable memory.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import sodium from 'sodium-native';
import {
  CANARY_FORM_LABELS,
  canaryForms,
  makeCanary,
  scanProcessMemory,
  waitForLine,
} from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { startFixture } from './helpers.ts';

const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Run the child in `mode` with a fresh canary; once it is idle, scan it. */
async function scanAfterRoundTrip(
  mode: 'wipe' | 'leak' | 'keep-secure',
): Promise<{ labels: string[]; digestOk: boolean }> {
  const canary = makeCanary(32);
  const child = startFixture('residue-child.ts', [mode]);
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // The canary reaches the child only through this pipe: not argv, not env.
  child.stdin.end(canary);
  const line = await waitForLine(child.stdout, (l) => l.startsWith('READY ')).catch((error: unknown) => {
    throw new Error(`child failed: ${stderr}`, { cause: error });
  });
  const expected = Buffer.alloc(32);
  sodium.crypto_generichash(expected, canary);
  if (child.pid === undefined) throw new Error('child has no pid');
  const hits = await scanProcessMemory(child.pid, canaryForms(canary));
  const labels = [...new Set(hits.map((h) => CANARY_FORM_LABELS[h.needleIndex] ?? '?'))];
  return { labels, digestOk: line === `READY ${expected.toString('hex')}` };
}

describe('secret residue in process memory', () => {
  it('should leave no copy of a wiped secret in any readable region', async () => {
    const { labels, digestOk } = await scanAfterRoundTrip('wipe');
    expect(digestOk).toBe(true);
    expect(labels).toEqual([]);
  });

  it('should find the secret when the child keeps a plain copy (positive control)', async () => {
    const { labels, digestOk } = await scanAfterRoundTrip('leak');
    expect(digestOk).toBe(true);
    expect(labels).toContain('raw');
    expect(labels).toContain('hex');
  });

  it('should find a secret left unwiped in protected secure memory (positive control)', async () => {
    const { labels, digestOk } = await scanAfterRoundTrip('keep-secure');
    expect(digestOk).toBe(true);
    expect(labels).toEqual(['raw']);
  });
});
