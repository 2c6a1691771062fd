// SPDX-License-Identifier: AGPL-3.0-only
// The Linux implementation of architecture §6: SO_PEERCRED + SO_PEERPIDFD, /proc/<pid>/…, and a
// re-check after reading so a recycled pid or an exec during verification is refused.
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import type {
  AncestorInfo,
  CallerIdentity,
  IdentityError,
  IdentityPlatform,
  PeerCredentials,
  PeerIdentityOptions,
  PlatformHost,
  VerifiedPeer,
} from '@cora/identity';
import {
  closeFd,
  ESRCH,
  getPeerCred,
  getPeerPidfd,
  LibcError,
  openPidfd,
  pidfdAlive,
} from './internal/libc.ts';
import {
  isDead,
  readCmdline,
  readCwd,
  readEffectiveIds,
  readEffectiveUid,
  readExe,
  readStat,
  statExe,
  type ProcStat,
} from './internal/proc.ts';

/** At most this many ancestors are recorded (architecture §6). */
const MAX_ANCESTORS = 8;
const DELETED_SUFFIX = ' (deleted)';

interface Inode {
  readonly dev: bigint;
  readonly ino: bigint;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function gone(h: PlatformHost, pid: number, what: string): IdentityError {
  return h.makeError('PEER_GONE', `the peer (pid ${pid}) exited ${what}`, { pid });
}

/** Run a /proc read; EACCES/EPERM and other fs errors become PROC_UNREADABLE. */
function proc<T>(h: PlatformHost, pid: number, what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw h.makeError(
      'PROC_UNREADABLE',
      `cannot read ${what} of the peer (pid ${pid}): ${errnoCode(error) ?? 'error'}`,
      { cause: error, pid },
    );
  }
}

/**
 * SO_PEERCRED of a connected Unix socket.
 *
 * @throws IdentityError `NO_PEER_CREDENTIALS` when the kernel has none, or the pid is 0 (the peer is in another pid namespace).
 */
function peerCredentials(h: PlatformHost, socket: Socket): PeerCredentials {
  const fd = h.socketFd(socket);
  let cred: { pid: number; uid: number; gid: number };
  try {
    cred = getPeerCred(fd);
  } catch (error) {
    throw h.makeError('NO_PEER_CREDENTIALS', 'the kernel has no peer credentials for this socket', {
      cause: error,
    });
  }
  if (cred.pid <= 0) {
    throw h.makeError(
      'NO_PEER_CREDENTIALS',
      'the peer has no pid in this pid namespace (or the socket is not connected)',
    );
  }
  return Object.freeze(cred);
}

/** Stat of the running binary and of the path it claims, or EXE_DELETED when they differ. */
function checkExe(h: PlatformHost, pid: number, exe: string): Inode {
  if (exe.endsWith(DELETED_SUFFIX)) {
    throw h.makeError(
      'EXE_DELETED',
      `the peer (pid ${pid}) runs a binary that was deleted or replaced: ${exe}`,
      { pid },
    );
  }
  const running = proc(h, pid, 'the executable', () => statExe(pid));
  if (running === null) throw gone(h, pid, 'while its executable was read');
  let onDisk: Inode | null;
  try {
    const st = statSync(exe, { bigint: true });
    onDisk = { dev: st.dev, ino: st.ino };
  } catch {
    onDisk = null;
  }
  // A path that is gone, or names another file than the one running (hard-linked old copy,
  // another mount namespace), is not evidence of anything.
  if (onDisk === null || onDisk.dev !== running.dev || onDisk.ino !== running.ino) {
    throw h.makeError('EXE_DELETED', `the peer (pid ${pid}) runs a binary that is no longer at ${exe}`, {
      pid,
    });
  }
  return running;
}

/** SHA-256 of the file the process executes, read through the magic link (the inode, not the path). */
async function hashExe(h: PlatformHost, pid: number, expected: Inode): Promise<string> {
  let handle;
  try {
    handle = await open(`/proc/${pid}/exe`, 'r');
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ESRCH') throw gone(h, pid, 'while its executable was hashed');
    return proc(h, pid, 'the executable', () => {
      throw error;
    });
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (st.dev !== expected.dev || st.ino !== expected.ino) {
      throw h.makeError('PEER_CHANGED', `the peer (pid ${pid}) changed its executable while verified`, {
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

function tryRead<T>(read: () => T | null): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/**
 * The script an interpreter ancestor runs (the caller's heuristic), as a realpath when it
 * resolves: a task's `via` names an agent by the realpath `cr` stored, and an npm agent's
 * argv names the symlink on PATH.
 */
function ancestorScript(
  h: PlatformHost,
  pid: number,
  exe: string | null,
  argv: readonly string[] | null,
): string | null {
  if (exe === null || argv === null) return null;
  const evidence = h.scriptEvidence(
    exe,
    argv,
    tryRead(() => readCwd(pid)),
  );
  if (evidence === undefined) return null;
  return tryRead(() => realpathSync(evidence.path)) ?? evidence.path;
}

/** Parent first, up to and including the first process of another uid, at most 8 (architecture §6). */
function readAncestry(h: PlatformHost, firstParent: number, uid: number): AncestorInfo[] {
  const ancestry: AncestorInfo[] = [];
  let pid = firstParent;
  while (pid > 0 && ancestry.length < MAX_ANCESTORS) {
    const stat = tryRead(() => readStat(pid));
    const ancestorUid = tryRead(() => readEffectiveUid(pid));
    if (stat === null || ancestorUid === null) break; // exited meanwhile: the chain ends here
    const argv = tryRead(() => readCmdline(pid));
    const exe = tryRead(() => readExe(pid));
    const script = ancestorScript(h, pid, exe, argv);
    ancestry.push(
      Object.freeze({
        pid,
        uid: ancestorUid,
        exe,
        argv0: argv?.[0] || null,
        startTime: stat.startTime,
        ...(script === null ? {} : { script }),
      }),
    );
    if (ancestorUid !== uid) break;
    pid = stat.ppid;
  }
  return ancestry;
}

/** The same process (pidfd alive, start time) still runs the same binary (path and inode). */
function sameProcess(
  pid: number,
  pidfd: number | null,
  startTime: bigint,
  exe: string,
  inode: Inode,
): boolean {
  if (pidfd !== null) {
    // A live pidfd pins this very process (its pid cannot be recycled while it exists), so
    // the start-time read is redundant: this runs before every request. An exec or a deleted
    // binary shows in the exe link and its inode; a zombie (its connection handed to a child)
    // has no exe link at all.
    if (!pidfdAlive(pidfd)) return false;
  } else {
    const stat = readStat(pid);
    if (stat === null || isDead(stat) || stat.startTime !== startTime) return false;
  }
  if (readExe(pid) !== exe) return false;
  const now = statExe(pid);
  return now !== null && now.dev === inode.dev && now.ino === inode.ino;
}

const finalizer = new FinalizationRegistry<number>((pidfd) => {
  // A VerifiedPeer dropped without close(): give the pidfd back (the fd is still ours).
  closeFd(pidfd);
});

class LinuxVerifiedPeer implements VerifiedPeer {
  readonly identity: CallerIdentity;
  #pidfd: number | null;
  #closed = false;
  readonly #inode: Inode;

  constructor(identity: CallerIdentity, pidfd: number | null, inode: Inode) {
    this.identity = identity;
    this.#pidfd = pidfd;
    this.#inode = inode;
    if (pidfd !== null) finalizer.register(this, pidfd, this);
  }

  stillSame(): boolean {
    if (this.#closed) return false;
    try {
      const { pid, startTime, exe } = this.identity;
      return sameProcess(pid, this.#pidfd, startTime, exe, this.#inode);
    } catch {
      return false; // unreadable now: not provably the same (fail closed)
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pidfd !== null) {
      finalizer.unregister(this);
      closeFd(this.#pidfd);
      this.#pidfd = null;
    }
  }
}

function statOrGone(h: PlatformHost, pid: number, what: string): ProcStat {
  const stat = proc(h, pid, '/proc/<pid>/stat', () => readStat(pid));
  if (stat === null || isDead(stat)) throw gone(h, pid, what);
  return stat;
}

async function verify(
  h: PlatformHost,
  cred: PeerCredentials,
  pidfd: number | null,
  options: PeerIdentityOptions,
): Promise<LinuxVerifiedPeer> {
  const { pid } = cred;
  if (pidfd !== null && !pidfdAlive(pidfd)) throw gone(h, pid, 'before it could be verified');
  const before = statOrGone(h, pid, 'before it could be verified');

  const exe = proc(h, pid, 'the executable', () => readExe(pid));
  if (exe === null) throw gone(h, pid, 'before its executable was read');
  const inode = checkExe(h, pid, exe);
  const argv = proc(h, pid, 'the command line', () => readCmdline(pid));
  if (argv === null) throw gone(h, pid, 'before its command line was read');
  const cwd = tryRead(() => readCwd(pid));
  const script = h.scriptEvidence(exe, argv, cwd);
  const exeSha256 = options.hashExe === true ? await hashExe(h, pid, inode) : undefined;
  const ancestry = readAncestry(h, before.ppid, cred.uid);

  // Re-check (architecture §6): everything above belongs to the process that connected only if it
  // is still alive (the pidfd pins it, so its pid cannot have been recycled meanwhile) and
  // /proc/<pid> still shows the same start time and binary.
  if (pidfd !== null && !pidfdAlive(pidfd)) throw gone(h, pid, 'while it was verified');
  const after = statOrGone(h, pid, 'while it was verified');
  if (after.startTime !== before.startTime) {
    throw h.makeError('PID_REUSED', `pid ${pid} now belongs to another process`, { pid });
  }
  const exeAfter = proc(h, pid, 'the executable', () => readExe(pid));
  if (exeAfter === null) throw gone(h, pid, 'while it was verified');
  const inodeAfter = proc(h, pid, 'the executable', () => statExe(pid));
  if (
    exeAfter !== exe ||
    inodeAfter === null ||
    inodeAfter.dev !== inode.dev ||
    inodeAfter.ino !== inode.ino
  ) {
    throw h.makeError('PEER_CHANGED', `the peer (pid ${pid}) ran another program while verified`, {
      pid,
    });
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
    pinned: pidfd !== null,
  });
  return new LinuxVerifiedPeer(identity, pidfd, inode);
}

/**
 * Identify and verify the peer of a connected Unix socket (architecture §6).
 *
 * @throws IdentityError `NO_PEER_CREDENTIALS`, `PEER_GONE`, `PID_REUSED`, `PEER_CHANGED`, `EXE_DELETED`, `PROC_UNREADABLE`.
 */
async function peerIdentity(
  h: PlatformHost,
  socket: Socket,
  options: PeerIdentityOptions,
): Promise<VerifiedPeer> {
  const cred = peerCredentials(h, socket);
  const fd = h.socketFd(socket);
  let pidfd: number | null;
  try {
    pidfd = getPeerPidfd(fd);
  } catch (error) {
    // The kernel makes no pidfd for a process that has already exited (ESRCH/EINVAL on 6.5+).
    if (error instanceof LibcError) {
      throw h.makeError('PEER_GONE', `the peer (pid ${cred.pid}) exited before it could be verified`, {
        cause: error,
        pid: cred.pid,
      });
    }
    throw error;
  }
  try {
    return await verify(h, cred, pidfd, options);
  } catch (error) {
    if (pidfd !== null) closeFd(pidfd);
    throw error;
  }
}

/**
 * Identify the process that holds `pid` now, the way {@link peerIdentity} identifies a socket's
 * peer: pinned first (pidfd_open), then read and re-checked. The uid and gid are the effective
 * ones of `/proc/<pid>/status`, read after the pin. A pid names a process only for a moment:
 * the answer is about whichever process held it when this ran.
 *
 * @throws IdentityError `PEER_GONE` (no such process, or a zombie), `PID_REUSED`, `PEER_CHANGED`, `EXE_DELETED`, `PROC_UNREADABLE` (another uid's or a non-dumpable process).
 */
async function processIdentity(
  h: PlatformHost,
  pid: number,
  options: PeerIdentityOptions,
): Promise<VerifiedPeer> {
  let pidfd: number | null;
  try {
    pidfd = openPidfd(pid);
  } catch (error) {
    if (error instanceof LibcError && error.errno === ESRCH) {
      throw h.makeError('PEER_GONE', `no process has pid ${pid}`, { cause: error, pid });
    }
    throw error;
  }
  try {
    const ids = proc(h, pid, '/proc/<pid>/status', () => readEffectiveIds(pid));
    if (ids === null) throw gone(h, pid, 'before it could be verified');
    return await verify(h, { pid, ...ids }, pidfd, options);
  } catch (error) {
    if (pidfd !== null) closeFd(pidfd);
    throw error;
  }
}

/**
 * Build the Linux implementation for the `@cora/identity` that loads this package.
 * `@cora/identity` calls this itself when it is imported; call it only to register the
 * platform by hand.
 *
 * @param host - `@cora/identity`'s error factory and socket-fd helper
 * @returns the Linux `IdentityPlatform`
 * @example
 * ```ts
 * // Only where the automatic load could not resolve this package:
 * await loadPlatform((specifier) => import(specifier));
 * ```
 */
export function createIdentityPlatform(host: PlatformHost): IdentityPlatform {
  return Object.freeze({
    platform: 'linux',
    peerCredentials: (socket: Socket): PeerCredentials => peerCredentials(host, socket),
    peerIdentity: (socket: Socket, options: PeerIdentityOptions): Promise<VerifiedPeer> =>
      peerIdentity(host, socket, options),
    processIdentity: (pid: number, options: PeerIdentityOptions): Promise<VerifiedPeer> =>
      processIdentity(host, pid, options),
  });
}
