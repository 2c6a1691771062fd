// SPDX-License-Identifier: AGPL-3.0-only
import { open } from 'node:fs/promises';
import { readMaps, type MemoryRegion } from './internal/maps.ts';

export type { MemoryRegion };

/** Where a needle was found in another process's memory. */
export interface MemoryHit {
  /** Index into the `needles` argument. */
  readonly needleIndex: number;
  /** Virtual address of the first byte of the match. */
  readonly address: bigint;
  readonly region: MemoryRegion;
}

/** Tuning for {@link scanProcessMemory}. */
export interface ScanOptions {
  /** Bytes read per `pread` of `/proc/<pid>/mem`. Default 4 MiB. */
  readonly chunkBytes?: number;
  /** Stop collecting a needle's hits after this many. Default 16. */
  readonly maxHitsPerNeedle?: number;
  /**
   * Also read no-access (`---p`) regions up to this size. /proc/<pid>/mem reads them anyway
   * (the kernel uses FOLL_FORCE), which is how a secret left in `mprotect`ed libsodium
   * memory is found. Large reservations (V8's address-space cages) are skipped: reading
   * them would only fault in zero pages. Default 1 MiB; 0 skips every no-access region.
   */
  readonly protectedRegionMaxBytes?: number;
}

/** Kernel pseudo-regions that cannot be read through /proc/<pid>/mem (or mean nothing). */
const SKIP_PATHS = new Set(['[vvar]', '[vvar_vclock]', '[vsyscall]']);

/**
 * Search every readable region of process `pid` for each needle, by reading
 * `/proc/<pid>/mem` (Linux only; needs ptrace access: same uid and the caller its parent
 * under Yama scope 1, or root). Small no-access regions are read too (see
 * {@link ScanOptions.protectedRegionMaxBytes}). Chunks overlap by the longest needle minus one, so a match
 * that straddles a chunk boundary is found. Regions the kernel refuses to read (EIO, e.g.
 * device mappings) are skipped.
 *
 * Scan a process that is idle (waiting on input): memory that changes while it is read may
 * be missed.
 *
 * @param pid - process to scan
 * @param needles - byte strings to look for (each non-empty)
 * @param options - see {@link ScanOptions}
 * @returns every hit, at most `maxHitsPerNeedle` per needle, in address order per needle
 * @throws TypeError when a needle is empty or not a Uint8Array.
 * @example
 * ```ts
 * const hits = await scanProcessMemory(child.pid, canaryForms(canary));
 * expect(hits).toEqual([]);
 * ```
 */
export async function scanProcessMemory(
  pid: number,
  needles: readonly Uint8Array[],
  options: ScanOptions = {},
): Promise<MemoryHit[]> {
  const chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  const maxHits = options.maxHitsPerNeedle ?? 16;
  const protectedMax = BigInt(options.protectedRegionMaxBytes ?? 1024 * 1024);
  if (!Number.isSafeInteger(pid) || pid < 1)
    throw new RangeError(`pid must be a positive integer, got ${String(pid)}`);
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1)
    throw new RangeError('options.chunkBytes must be a positive integer');
  const wanted = needles.map((needle, i) => {
    if (!(needle instanceof Uint8Array) || needle.length === 0) {
      throw new TypeError(`needles[${String(i)}] must be a non-empty Uint8Array`);
    }
    return Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength);
  });
  if (wanted.length === 0) return [];
  const overlap = Math.max(...wanted.map((n) => n.length)) - 1;
  const hits: MemoryHit[] = [];
  const counts = new Array<number>(wanted.length).fill(0);
  const buf = Buffer.alloc(overlap + chunkBytes);

  const regions = (await readMaps(pid)).filter(
    (r) => !SKIP_PATHS.has(r.path) && (r.perms.startsWith('r') || r.end - r.start <= protectedMax),
  );
  const mem = await open(`/proc/${String(pid)}/mem`, 'r');
  try {
    for (const region of regions) {
      let carried = 0;
      let address = region.start;
      while (address < region.end) {
        const want = Number(
          region.end - address < BigInt(chunkBytes) ? region.end - address : BigInt(chunkBytes),
        );
        let got: number;
        try {
          // fs accepts a bigint position: user-space addresses pass 2^53.
          ({ bytesRead: got } = await mem.read(buf, carried, want, address));
        } catch (error) {
          if (isErrno(error, 'EIO') || isErrno(error, 'EFAULT')) break;
          throw error;
        }
        if (got === 0) break;
        const data = buf.subarray(0, carried + got);
        const base = address - BigInt(carried);
        wanted.forEach((needle, index) => {
          let from = 0;
          while ((counts[index] ?? 0) < maxHits) {
            const at = data.indexOf(needle, from);
            if (at < 0) break;
            // A match wholly inside the carried bytes was reported with the previous chunk.
            if (at + needle.length > carried) {
              hits.push({ needleIndex: index, address: base + BigInt(at), region });
              counts[index] = (counts[index] ?? 0) + 1;
            }
            from = at + 1;
          }
        });
        const keep = Math.min(overlap, data.length);
        buf.copy(buf, 0, data.length - keep, data.length);
        carried = keep;
        address += BigInt(got);
      }
    }
  } finally {
    await mem.close();
    // The scanner's own buffer held whatever the target had; do not leave it around.
    buf.fill(0);
  }
  return hits;
}

/** Regions of `pid` from `/proc/<pid>/maps`. */
export async function readMemoryRegions(pid: number): Promise<MemoryRegion[]> {
  return readMaps(pid);
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
