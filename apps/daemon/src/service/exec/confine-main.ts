// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The exec helper of a confined task (architecture §8, confine.ts): this process is already
 * the service's child (its pid, process group, pipes and fd 3). It confines itself with
 * Landlock and no_new_privs, then execs the target, which inherits the domain for good.
 *
 *   node child-confine.js SPEC_JSON TARGET SHA256|- -- ARGV…
 *
 * The child's environment arrives with every name prefixed (CHILD_ENV_PREFIX), so Node reads
 * none of it; the target gets it with the names restored, through a raw execve whose `envp`
 * points into a copy of /proc/self/environ: no value becomes a JS string here. Any failure
 * exits 126 (127: no such target) with a message on stderr and nothing run unconfined.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import koffi from 'koffi';
import { confineSelf, type SandboxSpec } from '@cora/sandbox';
import { CHILD_ENV_PREFIX } from './internal/child-env.ts';
import { cStringArray } from './internal/c-strings.ts';
import { lastErrno, loadExecLibc } from './internal/exec-libc.ts';

const ENOENT = 2;
const PINNED_FD = 3;

function die(code: number, message: string): never {
  writeSync(2, `cora: ${message}\n`);
  process.exit(code);
}

/** /proc/self/environ in off-heap memory (its addresses do not move), grown until it fits. */
function readEnviron(): Uint8Array {
  let size = 64 * 1024;
  for (;;) {
    const buffer = new Uint8Array(new ArrayBuffer(size));
    const fd = openSync('/proc/self/environ', 'r');
    let length = 0;
    try {
      for (let got = -1; got !== 0 && length < size; length += got) {
        got = readSync(fd, buffer, length, size - length, length);
      }
    } finally {
      closeSync(fd);
    }
    if (length < size) return buffer.subarray(0, length);
    buffer.fill(0);
    size *= 2;
  }
}

/** `envp` for the entries carrying the prefix, each pointing past it: `NAME=value`. */
function childEnvp(environ: Uint8Array): BigUint64Array {
  const prefix = new TextEncoder().encode(CHILD_ENV_PREFIX);
  const base = koffi.address(environ);
  const pointers: bigint[] = [];
  let start = 0;
  while (start < environ.length) {
    let end = environ.indexOf(0, start);
    if (end === -1) end = environ.length;
    const entry = environ.subarray(start, end);
    if (entry.length > prefix.length && prefix.every((byte, i) => entry[i] === byte)) {
      pointers.push(base + BigInt(start + prefix.length));
    }
    start = end + 1;
  }
  const envp = new BigUint64Array(new ArrayBuffer(8 * (pointers.length + 1)));
  pointers.forEach((pointer, i) => {
    envp[i] = pointer;
  });
  return envp;
}

/** SHA-256 of the pinned target, read again through fd 3 right before the exec. */
function hashPinned(): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1024 * 1024);
  let position = 0;
  for (let got = readSync(PINNED_FD, chunk, 0, chunk.length, 0); got > 0;) {
    hash.update(chunk.subarray(0, got));
    position += got;
    got = readSync(PINNED_FD, chunk, 0, chunk.length, position);
  }
  return hash.digest('hex');
}

function main(): never {
  const [specJson, target, pin, separator, ...argv] = process.argv.slice(2);
  if (
    specJson === undefined ||
    target === undefined ||
    pin === undefined ||
    separator !== '--' ||
    argv.length === 0
  ) {
    die(126, 'child-confine: usage: SPEC_JSON TARGET SHA256|- -- ARGV…');
  }
  if (pin !== '-' && hashPinned() !== pin) {
    die(126, `the pinned target changed before it ran; it was not run (${argv[0] ?? ''})`);
  }
  const environ = readEnviron();
  const fail = (code: number, message: string): never => {
    environ.fill(0);
    return die(code, message);
  };
  const envp = childEnvp(environ);
  try {
    confineSelf(JSON.parse(specJson) as SandboxSpec);
  } catch (error) {
    fail(126, `cannot confine the task's child, so it was not run: ${(error as Error).message}`);
  }
  const libc = loadExecLibc();
  libc.resetSignals();
  libc.resetStdio();
  const args = cStringArray(argv);
  libc.execve(target, args.pointers, envp);
  const errno = lastErrno();
  args.keepAlive.fill(0); // referenced until here: the block must outlive the call
  return fail(errno === ENOENT ? 127 : 126, `cannot run ${target} (errno ${String(errno)})`);
}

main();
