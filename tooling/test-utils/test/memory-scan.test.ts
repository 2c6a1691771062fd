// SPDX-License-Identifier: AGPL-3.0-only
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { scanProcessMemory, readMemoryRegions, waitForLine, makeCanary } from '../src/index.ts';
import { parseMaps } from '../src/internal/maps.ts';

const fixture = fileURLToPath(new URL('./fixtures/hold-bytes.mjs', import.meta.url));
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Start the fixture, hand it `bytes` through a pipe, wait until it holds them. */
async function holdInChild(bytes: Uint8Array): Promise<number> {
  const child = spawn(process.execPath, [fixture], { stdio: 'pipe' });
  children.push(child);
  child.stdin.end(bytes);
  await waitForLine(child.stdout, (line) => line.startsWith('READY'));
  if (child.pid === undefined) throw new Error('child has no pid');
  return child.pid;
}

describe('scanProcessMemory', () => {
  it('should find a needle held by another process and not one it never saw', async () => {
    const needle = makeCanary();
    const absent = makeCanary();
    const pid = await holdInChild(needle);
    const hits = await scanProcessMemory(pid, [needle, absent]);
    expect(hits.filter((h) => h.needleIndex === 0).length).toBeGreaterThan(0);
    expect(hits.filter((h) => h.needleIndex === 1)).toEqual([]);
    for (const hit of hits) {
      expect(hit.address).toBeGreaterThanOrEqual(hit.region.start);
      expect(hit.address).toBeLessThan(hit.region.end);
    }
  });

  it('should find a needle that straddles a chunk boundary exactly once', async () => {
    const needle = makeCanary(40);
    const pid = await holdInChild(needle);
    const first = await scanProcessMemory(pid, [needle]);
    const hit = first[0];
    if (hit === undefined) throw new Error('needle not found at all');
    // Chunks start at region.start + k·chunkBytes: pick a size that cuts the needle in half.
    const chunkBytes = Number(hit.address - hit.region.start) + Math.floor(needle.length / 2);
    const split = await scanProcessMemory(pid, [needle], { chunkBytes });
    expect(split.map((h) => h.address)).toContain(hit.address);
    expect(split.filter((h) => h.address === hit.address)).toHaveLength(1);
  });

  it('should find needles of different lengths in tiny chunks without duplicates', async () => {
    const long = makeCanary(64);
    const pid = await holdInChild(long);
    const short = long.subarray(0, 20);
    const big = await scanProcessMemory(pid, [long, short]);
    const small = await scanProcessMemory(pid, [long, short], { chunkBytes: 64 * 1024 + 3 });
    const key = (h: { needleIndex: number; address: bigint }): string =>
      `${String(h.needleIndex)}@${h.address.toString(16)}`;
    expect(new Set(small.map(key)).size).toBe(small.length);
    expect(small.map(key).sort()).toEqual(big.map(key).sort());
  });

  it('should cap the hits per needle', async () => {
    const pid = await holdInChild(makeCanary());
    // A zero byte occurs everywhere.
    const hits = await scanProcessMemory(pid, [new Uint8Array([0])], { maxHitsPerNeedle: 5 });
    expect(hits).toHaveLength(5);
  });

  it('should scan a whole node process within a few seconds', async () => {
    const pid = await holdInChild(makeCanary());
    const started = performance.now();
    await scanProcessMemory(pid, [randomBytes(32)]);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('should throw TypeError for an empty needle', async () => {
    await expect(scanProcessMemory(process.pid, [new Uint8Array(0)])).rejects.toThrow(TypeError);
  });

  it('should throw RangeError for a bad pid or chunk size', async () => {
    await expect(scanProcessMemory(0, [new Uint8Array(1)])).rejects.toThrow(RangeError);
    await expect(scanProcessMemory(process.pid, [new Uint8Array(1)], { chunkBytes: 0 })).rejects.toThrow(
      RangeError,
    );
  });

  it('should return nothing for no needles', async () => {
    expect(await scanProcessMemory(process.pid, [])).toEqual([]);
  });
});

describe('readMemoryRegions', () => {
  it('should list the readable heap of this process', async () => {
    const regions = await readMemoryRegions(process.pid);
    expect(regions.some((r) => r.perms.startsWith('r'))).toBe(true);
    expect(regions.every((r) => r.start < r.end)).toBe(true);
  });
});

describe('parseMaps', () => {
  it('should parse anonymous, named and spaced-path lines', () => {
    const text = [
      '55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]',
      '7f0000000000-7f0000001000 r--p 00001000 08:01 1234                       /usr/lib/a b.so',
      '7f0000002000-7f0000003000 ---p 00000000 00:00 0 ',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
      '',
    ].join('\n');
    expect(parseMaps(text)).toEqual([
      { start: 0x55d0c0a00000n, end: 0x55d0c0a21000n, perms: 'rw-p', path: '[heap]' },
      { start: 0x7f0000000000n, end: 0x7f0000001000n, perms: 'r--p', path: '/usr/lib/a b.so' },
      { start: 0x7f0000002000n, end: 0x7f0000003000n, perms: '---p', path: '' },
      { start: 0xffffffffff600000n, end: 0xffffffffff601000n, perms: '--xp', path: '[vsyscall]' },
    ]);
  });

  it('should throw on a line it does not understand', () => {
    expect(() => parseMaps('not a maps line')).toThrow(/unexpected/);
  });
});
