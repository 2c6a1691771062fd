// SPDX-License-Identifier: AGPL-3.0-only
// The Windows implementation of architecture §6: the kernel's pid of a named pipe's client, a
// process handle that pins it, its image path, creation time and token user SID, and a re-check
// after reading. Only callers of the service's own user SID are identified.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
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
import { PIPE_HANDLE, type PipeHandleInfo } from './pipe-handle.ts';
import { splitCommandLine } from './internal/pure.ts';
import {
  closeHandle,
  commandLine,
  creationTime,
  ERROR_INVALID_PARAMETER,
  imagePath,
  isAlive,
  openProcess,
  ownSid,
  parentPid,
  processParameters,
  pipePeerPid,
  tokenUserSid,
  Win32Error,
} from './internal/win32.ts';

/** At most this many ancestors are recorded (architecture §6). */
const MAX_ANCESTORS = 8;
/** Windows has no uid: the service's own user is -1 (what `process.getuid?.() ?? -1` gives there). */
const OWN_USER_UID = -1;
/** Any other (or unreadable) user. */
const OTHER_USER_UID = -2;

let own: string | undefined;
function ownUserSid(): string {
  own ??= ownSid();
  return own;
}

function gone(h: PlatformHost, pid: number, what: string): IdentityError {
  return h.makeError('PEER_GONE', `the peer (pid ${pid}) exited ${what}`, { pid });
}

function pipeOf(h: PlatformHost, socket: Socket): PipeHandleInfo {
  if (socket.destroyed) throw h.makeError('NO_PEER_CREDENTIALS', 'the socket is already destroyed');
  const info = (socket as unknown as Record<symbol, unknown>)[PIPE_HANDLE];
  const { handle, end } = (typeof info === 'object' && info !== null ? info : {}) as Record<string, unknown>;
  if (
    typeof handle !== 'number' ||
    !Number.isSafeInteger(handle) ||
    handle <= 0 ||
    (end !== 'server' && end !== 'client')
  ) {
    throw h.makeError(
      'NO_PEER_CREDENTIALS',
      'the socket carries no named-pipe handle (not a pipe made by @cora/ipc on Windows)',
    );
  }
  return { handle, end };
}

/** Open `pid` pinned; a pid no process holds is PEER_GONE, another user's is PROC_UNREADABLE. */
function pin(h: PlatformHost, pid: number): number {
  try {
    return openProcess(pid);
  } catch (error) {
    if (error instanceof Win32Error && error.code === ERROR_INVALID_PARAMETER) {
      throw h.makeError('PEER_GONE', `no process has pid ${pid}`, { cause: error, pid });
    }
    throw h.makeError('PROC_UNREADABLE', `cannot open the peer (pid ${pid})`, { cause: error, pid });
  }
}

function read<T>(h: PlatformHost, pid: number, what: string, get: () => T): T {
  try {
    return get();
  } catch (error) {
    throw h.makeError('PROC_UNREADABLE', `cannot read ${what} of the peer (pid ${pid})`, {
      cause: error,
      pid,
    });
  }
}

/** `{ script }` for an interpreter running a script, else nothing (exactOptionalPropertyTypes). */
function scriptOf(
  h: PlatformHost,
  exe: string,
  argv: readonly string[],
  cwd: string | null,
): Pick<CallerIdentity, 'script'> {
  const script = h.scriptEvidence(exe, argv, cwd, 'win32');
  return script === undefined ? {} : { script };
}

function tryRead<T>(get: () => T): T | null {
  try {
    return get();
  } catch {
    return null;
  }
}

/** The pinned process runs under our own user SID, else PROC_UNREADABLE (same user only). */
function sameUser(h: PlatformHost, pid: number, process: number): string {
  const sid = read(h, pid, 'the token user', () => tokenUserSid(process));
  if (sid !== ownUserSid()) {
    throw h.makeError('PROC_UNREADABLE', `the peer (pid ${pid}) runs as another user (${sid})`, { pid });
  }
  return sid;
}

function peerCredentials(h: PlatformHost, socket: Socket): PeerCredentials {
  const { handle, end } = pipeOf(h, socket);
  let pid: number;
  try {
    pid = pipePeerPid(handle, end);
  } catch (error) {
    throw h.makeError('NO_PEER_CREDENTIALS', 'the kernel has no peer process for this pipe', {
      cause: error,
    });
  }
  const process = pin(h, pid);
  try {
    if (!isAlive(process)) throw gone(h, pid, 'before it could be identified');
    const sid = read(h, pid, 'the token user', () => tokenUserSid(process));
    const uid = sid === ownUserSid() ? OWN_USER_UID : OTHER_USER_UID;
    return Object.freeze({ uid, gid: uid, pid, sid });
  } finally {
    closeHandle(process);
  }
}

/** Parent first; stops at the first ancestor of another user, or one younger than its child (pid reused). */
function readAncestry(firstParent: number, childStart: bigint): AncestorInfo[] {
  const ancestry: AncestorInfo[] = [];
  let pid = firstParent;
  let youngerThan = childStart;
  while (pid > 0 && ancestry.length < MAX_ANCESTORS) {
    let process: number;
    try {
      process = openProcess(pid);
    } catch {
      break; // exited, or not ours to open: the chain ends here
    }
    try {
      const start = tryRead(() => creationTime(process));
      // A parent created after its child is another process that got the dead parent's pid.
      if (start === null || start > youngerThan || !isAlive(process)) break;
      const sid = tryRead(() => tokenUserSid(process));
      const line = tryRead(() => commandLine(process));
      const same = sid !== null && sid === ownUserSid();
      ancestry.push(
        Object.freeze({
          pid,
          uid: same ? OWN_USER_UID : OTHER_USER_UID,
          ...(sid === null ? {} : { sid }),
          exe: tryRead(() => imagePath(process)),
          argv0: line === null ? null : (splitCommandLine(line)[0] ?? null) || null,
          startTime: start,
        }),
      );
      if (!same) break;
      const next = tryRead(() => parentPid(process));
      if (next === null) break;
      pid = next;
      youngerThan = start;
    } finally {
      closeHandle(process);
    }
  }
  return ancestry;
}

async function hashFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

const finalizer = new FinalizationRegistry<number>((process) => {
  // A VerifiedPeer dropped without close(): give the process handle back.
  closeHandle(process);
});

class Win32VerifiedPeer implements VerifiedPeer {
  readonly identity: CallerIdentity;
  #process: number | null;

  constructor(identity: CallerIdentity, process: number) {
    this.identity = identity;
    this.#process = process;
    finalizer.register(this, process, this);
  }

  stillSame(): boolean {
    const process = this.#process;
    if (process === null) return false;
    try {
      // The handle pins this very process, so its pid cannot name another one meanwhile; a
      // Windows process cannot exec, so a live handle and an unchanged image path suffice.
      return isAlive(process) && imagePath(process) === this.identity.exe;
    } catch {
      return false;
    }
  }

  close(): void {
    const process = this.#process;
    if (process === null) return;
    this.#process = null;
    finalizer.unregister(this);
    closeHandle(process);
  }
}

async function verify(
  h: PlatformHost,
  pid: number,
  process: number,
  options: PeerIdentityOptions,
): Promise<VerifiedPeer> {
  if (!isAlive(process)) throw gone(h, pid, 'before it could be verified');
  const startTime = read(h, pid, 'the creation time', () => creationTime(process));
  const sid = sameUser(h, pid, process);
  const exe = read(h, pid, 'the executable', () => imagePath(process));
  if (!existsSync(exe)) {
    throw h.makeError('EXE_DELETED', `the peer (pid ${pid}) runs a binary that is no longer at ${exe}`, {
      pid,
    });
  }
  // The parameter block gives the cwd (for a relative script) and, where the query class is
  // missing, the command line too.
  const params = tryRead(() => processParameters(pid));
  const line = tryRead(() => commandLine(process)) ?? params?.commandLine ?? null;
  const argv = line === null ? [] : splitCommandLine(line);
  const exeSha256 = options.hashExe === true ? await hashFile(exe) : undefined;
  const parent = tryRead(() => parentPid(process));
  const ancestry = parent === null ? [] : readAncestry(parent, startTime);

  // Re-check (architecture §6): the handle pins the process, so the same creation time and a
  // live process mean everything above was read from the process that connected.
  if (!isAlive(process)) throw gone(h, pid, 'while it was verified');
  if (read(h, pid, 'the creation time', () => creationTime(process)) !== startTime) {
    throw h.makeError('PID_REUSED', `pid ${pid} now belongs to another process`, { pid });
  }
  const identity: CallerIdentity = Object.freeze({
    uid: OWN_USER_UID,
    gid: OWN_USER_UID,
    sid,
    pid,
    exe,
    ...(exeSha256 === undefined ? {} : { exeSha256 }),
    argv: Object.freeze(argv),
    ...scriptOf(h, exe, argv, params?.cwd ?? null),
    startTime,
    ancestry: Object.freeze(ancestry),
    pinned: true,
  });
  return new Win32VerifiedPeer(identity, process);
}

async function peerIdentity(
  h: PlatformHost,
  socket: Socket,
  options: PeerIdentityOptions,
): Promise<VerifiedPeer> {
  const { handle, end } = pipeOf(h, socket);
  let pid: number;
  try {
    pid = pipePeerPid(handle, end);
  } catch (error) {
    throw h.makeError('NO_PEER_CREDENTIALS', 'the kernel has no peer process for this pipe', {
      cause: error,
    });
  }
  return processIdentity(h, pid, options);
}

async function processIdentity(
  h: PlatformHost,
  pid: number,
  options: PeerIdentityOptions,
): Promise<VerifiedPeer> {
  const process = pin(h, pid);
  try {
    return await verify(h, pid, process, options);
  } catch (error) {
    closeHandle(process);
    throw error;
  }
}

/**
 * Build the Windows implementation for the `@cora/identity` that loads this package.
 * `@cora/identity` calls this itself when it is imported; call it only to register the
 * platform by hand. Sockets are identified through the pipe handle `@cora/ipc` attaches to
 * them (see {@link PIPE_HANDLE}); a socket without one is refused (`NO_PEER_CREDENTIALS`).
 *
 * @param host - `@cora/identity`'s error factory and socket-fd helper
 * @returns the Windows `IdentityPlatform`
 * @example
 * ```ts
 * await loadPlatform((specifier) => import(specifier));
 * ```
 */
export function createIdentityPlatform(host: PlatformHost): IdentityPlatform {
  return Object.freeze({
    platform: 'win32',
    peerCredentials: (socket: Socket): PeerCredentials => peerCredentials(host, socket),
    peerIdentity: (socket: Socket, options: PeerIdentityOptions): Promise<VerifiedPeer> =>
      peerIdentity(host, socket, options),
    processIdentity: (pid: number, options: PeerIdentityOptions): Promise<VerifiedPeer> =>
      processIdentity(host, pid, options),
  });
}
