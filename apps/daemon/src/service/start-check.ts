// SPDX-License-Identifier: AGPL-3.0-only
// What the service was really started with (Linux): its start environment as the kernel keeps
// it (/proc/self/environ; code preloaded through NODE_OPTIONS can delete the variable from
// process.env, not from there) and the libraries mapped into it (/proc/self/maps: an
// LD_PRELOAD library shows up even when the variable is gone).
import { readFileSync } from 'node:fs';
import { isRuntimeHook } from '../shared/harden.ts';

/** Directories only root can write on the systems we run on, where shared libraries live. */
const SYSTEM_LIBRARY_DIRS = ['/lib/', '/lib64/', '/usr/lib/', '/usr/lib64/'];
/** The native modules Cora itself loads, found in its own node_modules. */
const OWN_NATIVE_PACKAGES = [
  '/node_modules/sodium-native/',
  '/node_modules/@koromix/koffi-',
  '/node_modules/koffi/',
];

/**
 * Names in a start environment (`/proc/<pid>/environ`: NUL-separated `NAME=value`) that could
 * have loaded code into the process or changed its runtime. Values are never looked at.
 * @param environ - the raw bytes
 * @returns the offending names, in order
 */
export function hooksInEnviron(environ: Uint8Array): string[] {
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i <= environ.length; i++) {
    if (i < environ.length && environ[i] !== 0) continue;
    if (i > start) {
      const entry = environ.subarray(start, i);
      const eq = entry.indexOf(0x3d);
      const name = Buffer.from(eq === -1 ? entry : entry.subarray(0, eq)).toString('latin1');
      if (isRuntimeHook(name)) names.push(name);
    }
    start = i + 1;
  }
  return names;
}

/**
 * Shared libraries and native modules mapped into a process (`/proc/<pid>/maps` text) that are
 * neither in a system library directory nor one of Cora's own native packages.
 * @param maps - the text of the maps file
 * @returns the unexpected paths, each once
 */
export function foreignLibraries(maps: string): string[] {
  const found = new Set<string>();
  for (const line of maps.split('\n')) {
    // address perms offset dev inode path — the path is the rest after the fifth field.
    const path = line.replace(/^(\S+\s+){5}/, '').replace(/ \(deleted\)$/, '');
    if (!path.startsWith('/') || !/\.so(\.|$)|\.node$/.test(path)) continue;
    if (SYSTEM_LIBRARY_DIRS.some((dir) => path.startsWith(dir)) && !path.includes('/../')) continue;
    if (OWN_NATIVE_PACKAGES.some((pkg) => path.includes(pkg))) continue;
    found.add(path);
  }
  return [...found];
}

/**
 * Why this process must not hold secrets, or null. Linux only (elsewhere: null).
 * @returns a sentence naming the hook variables or the foreign libraries
 */
export function startProblem(): string | null {
  if (process.platform !== 'linux') return null;
  const hooks = hooksInEnviron(readFileSync('/proc/self/environ'));
  if (hooks.length > 0) return `it was started with ${hooks.join(', ')} in its environment`;
  const libraries = foreignLibraries(readFileSync('/proc/self/maps', 'latin1'));
  if (libraries.length > 0)
    return `libraries from outside the system and Cora are loaded: ${libraries.join(', ')}`;
  return null;
}
