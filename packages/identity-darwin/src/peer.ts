// SPDX-License-Identifier: AGPL-3.0-only
// The macOS implementation of architecture §6: LOCAL_PEERTOKEN (pid and pid version as of
// connect) + LOCAL_PEERCRED + LOCAL_PEERPID, proc_pidinfo / proc_pidpath / KERN_PROCARGS2,
// and a re-check after reading so a recycled pid or an exec during verification is refused.
// Written against Apple's documented APIs; not yet run on a macOS host (see README).
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import type {
  CallerIdentity,
  IdentityError,
  IdentityErrorCode,
  IdentityPlatform,
  PeerCredentials,
  PeerIdentityOptions,
  PlatformHost,
  VerifiedPeer,
} from '@cora/identity';
import { combinePeer, type PeerRecord } from './internal/credentials.ts';
import {
  decodeAuditToken,
  decodeBsdInfo,
  decodeCwd,
  decodeProcArgs,
  decodeXucred,
  type BsdInfo,
} from './internal/layout.ts';
import { LibcError, libSystem, type Kernel } from './internal/libsystem.ts';
import { pinMismatch, procErrorCode, walkAncestry, type Pin, type ProcessFacts } from './internal/walk.ts';

interface Inode {
  readonly dev: bigint;
  readonly ino: bigint;
}

function gone(h: PlatformHost, pid: number, what: string): IdentityError {
  return h.makeError('PEER_GONE', `the peer (pid ${pid}) exited ${what}`, { pid });
}

/** Run a libproc read; ESRCH becomes PEER_GONE, anything else PROC_UNREADABLE. */
function proc<T>(h: PlatformHost, pid: number, what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    const errno = error instanceof LibcError ? error.errno : -1;
    const code: IdentityErrorCode = procErrorCode(errno);
    const message =
      code === 'PEER_GONE'
        ? `the peer (pid ${pid}) exited before ${what} could be read`
        : `cannot read ${what} of the peer (pid ${pid}): errno ${errno}`;
    throw h.makeError(code, message, { cause: error, pid });
  }
}

function tryRead<T>(read: () => T | null): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

function readInfo(k: Kernel, pid: number): BsdInfo | null {
  const { buf, length } = k.bsdInfo(pid);
  return decodeBsdInfo(buf, length);
}

function infoOrGone(h: PlatformHost, k: Kernel, pid: number, when: string): BsdInfo {
  const info = proc(h, pid, 'the process info', () => readInfo(k, pid));
  if (info === null) {
    throw h.makeError(
      'PROC_UNREADABLE',
      `the kernel answered proc_pidinfo for pid ${pid} in an unknown layout`,
      {
        pid,
      },
    );
  }
  if (info.dead || info.pid !== pid) throw gone(h, pid, when);
  return info;
}

function readArgv(k: Kernel, pid: number): string[] | null {
  return k.withProcArgs(pid, (buf, length) => decodeProcArgs(buf, length));
}

function readCwd(k: Kernel, pid: number): string | null {
  const { buf, length } = k.vnodePath(pid);
  return decodeCwd(buf, length);
}

/** The peer's kernel credentials: token, xucred and pid, cross-checked (internal/credentials.ts). */
function peerRecord(h: PlatformHost, k: Kernel, socket: Socket): PeerRecord {
  const fd = h.socketFd(socket);
  let record: PeerRecord | string;
  try {
    const token = k.peerToken(fd);
    const cred = k.peerCred(fd);
    const pid = k.peerPid(fd);
    record = combinePeer(
      decodeAuditToken(token.buf, token.length),
      decodeXucred(cred.buf, cred.length),
      pid.length === 4 ? pid.buf.readInt32LE(0) : null,
    );
  } catch (error) {
    throw h.makeError('NO_PEER_CREDENTIALS', 'the kernel has no peer credentials for this socket', {
      cause: error,
    });
  }
  if (typeof record === 'string') throw h.makeError('NO_PEER_CREDENTIALS', record);
  return record;
}

function peerCredentials(h: PlatformHost, k: Kernel, socket: Socket): PeerCredentials {
  const { pid, uid, gid } = peerRecord(h, k, socket);
  return Object.freeze({ pid, uid, gid });
}

/** Device and inode of the file at the executable's path, or EXE_DELETED when there is none. */
function statPath(h: PlatformHost, pid: number, exe: string): Inode {
  try {
    const st = statSync(exe, { bigint: true });
    if (st.isFile()) return { dev: st.dev, ino: st.ino };
  } catch {
    // fall through: the path is gone
  }
  throw h.makeError('EXE_DELETED', `the peer (pid ${pid}) runs a binary that is no longer at ${exe}`, {
    pid,
  });
}

/** SHA-256 of the file at `exe`, refused if it is not the inode seen a moment ago. */
async function hashExe(h: PlatformHost, pid: number, exe: string, expected: Inode): Promise<string> {
  let handle;
  try {
    handle = await open(exe, 'r');
  } catch (error) {
    throw h.makeError('EXE_DELETED', `the peer's binary (pid ${pid}) could not be opened at ${exe}`, {
      cause: error,
      pid,
    });
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (st.dev !== expected.dev || st.ino !== expected.ino) {
      throw h.makeError('PEER_CHANGED', `the binary at ${exe} was replaced while pid ${pid} was verified`, {
        pid,
      });
    }
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** An ancestor's facts for the walk; `null` when it is gone, dead or unreadable. */
function ancestorFacts(h: PlatformHost, k: Kernel, pid: number): ProcessFacts | null {
  const info = tryRead(() => readInfo(k, pid));
  if (info === null || info.dead || info.pid !== pid) return null;
  const exe = tryRead(() => k.pidPath(pid));
  const argv = tryRead(() => readArgv(k, pid));
  let script: string | null = null;
  if (exe !== null && argv !== null) {
    const evidence = h.scriptEvidence(
      exe,
      argv,
      tryRead(() => readCwd(k, pid)),
    );
    if (evidence !== undefined) script = tryRead(() => realpathSync(evidence.path)) ?? evidence.path;
  }
  return { ppid: info.ppid, uid: info.uid, startTime: info.startTime, exe, argv0: argv?.[0] ?? null, script };
}

/** Same process (start time, pid version), same executable path and inode on disk. */
function sameProcess(k: Kernel, pid: number, pin: Pin, exe: string, inode: Inode): boolean {
  const now = readInfo(k, pid);
  if (now === null || now.dead || now.pid !== pid || pinMismatch(pin, now) !== null) return false;
  if (k.pidPath(pid) !== exe) return false;
  const st = statSync(exe, { bigint: true });
  return st.dev === inode.dev && st.ino === inode.ino;
}

class DarwinVerifiedPeer implements VerifiedPeer {
  readonly identity: CallerIdentity;
  readonly #kernel: Kernel;
  readonly #pin: Pin;
  readonly #inode: Inode;
  #closed = false;

  constructor(kernel: Kernel, identity: CallerIdentity, pin: Pin, inode: Inode) {
    this.#kernel = kernel;
    this.identity = identity;
    this.#pin = pin;
    this.#inode = inode;
  }

  stillSame(): boolean {
    if (this.#closed) return false;
    try {
      return sameProcess(this.#kernel, this.identity.pid, this.#pin, this.identity.exe, this.#inode);
    } catch {
      return false; // unreadable now: not provably the same (fail closed)
    }
  }

  close(): void {
    // No OS handle to give back: macOS has no pidfd. close() only ends stillSame().
    this.#closed = true;
  }
}

/**
 * Read and re-check the process `cred.pid`. `pidversion` is the pin taken before: from the
 * audit token (peerIdentity) or the first read (processIdentity); `null` when unknown.
 */
async function verify(
  h: PlatformHost,
  k: Kernel,
  cred: PeerCredentials,
  pidversion: number | null,
  options: PeerIdentityOptions,
): Promise<DarwinVerifiedPeer> {
  const { pid } = cred;
  const before = infoOrGone(h, k, pid, 'before it could be verified');
  const pin: Pin = { startTime: before.startTime, pidversion: pidversion ?? before.pidversion };
  if (pinMismatch(pin, before) !== null) {
    throw h.makeError('PID_REUSED', `pid ${pid} no longer names the process that connected`, { pid });
  }

  const exe = proc(h, pid, 'the executable', () => k.pidPath(pid));
  const inode = statPath(h, pid, exe);
  const argv = proc(h, pid, 'the command line', () => readArgv(k, pid));
  if (argv === null) {
    throw h.makeError('PROC_UNREADABLE', `the command line of pid ${pid} is malformed`, { pid });
  }
  const cwd = tryRead(() => readCwd(k, pid));
  const script = h.scriptEvidence(exe, argv, cwd);
  const exeSha256 = options.hashExe === true ? await hashExe(h, pid, exe, inode) : undefined;
  const ancestry = walkAncestry(before.ppid, before.startTime, cred.uid, (ancestor) =>
    ancestorFacts(h, k, ancestor),
  );

  // Re-check (architecture §6): what was read belongs to the process that connected only if
  // it still has the same start time and pid version and runs the same binary.
  const after = infoOrGone(h, k, pid, 'while it was verified');
  const mismatch = pinMismatch(pin, after);
  if (mismatch === 'PID_REUSED') {
    throw h.makeError('PID_REUSED', `pid ${pid} now belongs to another process`, { pid });
  }
  const exeAfter = proc(h, pid, 'the executable', () => k.pidPath(pid));
  const inodeAfter = tryRead(() => statSync(exeAfter, { bigint: true }));
  if (
    mismatch === 'PEER_CHANGED' ||
    exeAfter !== exe ||
    inodeAfter === null ||
    inodeAfter.dev !== inode.dev ||
    inodeAfter.ino !== inode.ino
  ) {
    throw h.makeError('PEER_CHANGED', `the peer (pid ${pid}) ran another program while verified`, { pid });
  }

  const identity: CallerIdentity = Object.freeze({
    uid: cred.uid,
    gid: cred.gid,
    pid,
    exe,
    ...(exeSha256 === undefined ? {} : { exeSha256 }),
    argv: Object.freeze(argv),
    startTime: before.startTime,
    ...(script === undefined ? {} : { script: Object.freeze(script) }),
    ancestry: Object.freeze(ancestry),
    // Pinned only when the kernel gave a pid version on both sides of the comparison.
    pinned: pin.pidversion !== null && before.pidversion !== null,
  });
  return new DarwinVerifiedPeer(k, identity, pin, inode);
}

async function peerIdentity(
  h: PlatformHost,
  k: Kernel,
  socket: Socket,
  options: PeerIdentityOptions,
): Promise<VerifiedPeer> {
  const record = peerRecord(h, k, socket);
  return verify(h, k, record, record.pidversion, options);
}

async function processIdentity(
  h: PlatformHost,
  k: Kernel,
  pid: number,
  options: PeerIdentityOptions,
): Promise<VerifiedPeer> {
  let first: BsdInfo;
  try {
    first = infoOrGone(h, k, pid, 'before it could be verified');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'PEER_GONE') {
      throw h.makeError('PEER_GONE', `no process has pid ${pid}`, { cause: error, pid });
    }
    throw error;
  }
  return verify(h, k, { pid, uid: first.uid, gid: first.gid }, first.pidversion, options);
}

/**
 * The platform over any {@link Kernel}: libSystem in {@link createIdentityPlatform}, a strict
 * fake in the tests that check the verification steps off macOS.
 */
export function platformWithKernel(host: PlatformHost, kernel: Kernel): IdentityPlatform {
  return Object.freeze({
    platform: 'darwin',
    peerCredentials: (socket: Socket): PeerCredentials => peerCredentials(host, kernel, socket),
    peerIdentity: (socket: Socket, options: PeerIdentityOptions): Promise<VerifiedPeer> =>
      peerIdentity(host, kernel, socket, options),
    processIdentity: (pid: number, options: PeerIdentityOptions): Promise<VerifiedPeer> =>
      processIdentity(host, kernel, pid, options),
  });
}

/**
 * Build the macOS implementation for the `@cora/identity` that loads this package.
 * `@cora/identity` calls this itself when it is imported; call it only to register the
 * platform by hand. koffi and libSystem are loaded at the first call, not here.
 *
 * @param host - `@cora/identity`'s error factory and socket-fd helper
 * @returns the macOS {@link @cora/identity#IdentityPlatform}
 * @example
 * ```ts
 * // Only where the automatic load could not resolve this package:
 * await loadPlatform((specifier) => import(specifier));
 * ```
 */
export function createIdentityPlatform(host: PlatformHost): IdentityPlatform {
  return platformWithKernel(host, libSystem);
}
