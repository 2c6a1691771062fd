// SPDX-License-Identifier: AGPL-3.0-only
import { readFile } from 'node:fs/promises';

/** One line of `/proc/<pid>/maps`. */
export interface MemoryRegion {
  readonly start: bigint;
  readonly end: bigint;
  /** e.g. `rw-p`. */
  readonly perms: string;
  /** Mapped file or pseudo-name (`[heap]`, `[stack]`), empty for anonymous memory. */
  readonly path: string;
}

// start-end perms offset dev inode [path]; the path may contain spaces.
const LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+\S+\s+\S+\s+\S+\s*(.*)$/;

export function parseMaps(text: string): MemoryRegion[] {
  const regions: MemoryRegion[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (m === null) throw new Error(`unexpected /proc/<pid>/maps line: ${line}`);
    const [, start = '0', end = '0', perms = '----', path = ''] = m;
    regions.push({ start: BigInt(`0x${start}`), end: BigInt(`0x${end}`), perms, path });
  }
  return regions;
}

export async function readMaps(pid: number): Promise<MemoryRegion[]> {
  return parseMaps(await readFile(`/proc/${String(pid)}/maps`, 'utf8'));
}
