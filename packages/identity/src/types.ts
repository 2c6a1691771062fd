// SPDX-License-Identifier: AGPL-3.0-only
import type { Socket } from 'node:net';
import type { IdentityError, IdentityErrorCode } from './errors.ts';

/** One ancestor of the caller (parent first), read from the OS at verification time. */
export interface AncestorInfo {
  readonly pid: number;
  /**
   * Windows: the token user SID (`S-1-5-21-…`). Windows has no uid, so `uid` there is -1 for
   * the service's own user and -2 for any other; absent on Linux and macOS.
   */
  readonly sid?: string;
  /** Effective uid of the ancestor. */
  readonly uid: number;
  /** Resolved executable path, or `null` when it could not be read (another uid, exited, kernel thread). */
  readonly exe: string | null;
  /** First argument of its command line, or `null` when unreadable or empty. */
  readonly argv0: string | null;
  /**
   * Start time in clock ticks since boot (Linux `/proc/<pid>/stat` field 22; macOS: microseconds
   * since the epoch), or `null` when unreadable.
   */
  readonly startTime: bigint | null;
  /**
   * For an interpreter: the script its argv names, as a caller's {@link ScriptEvidence} path
   * is found, then made a realpath when it can be (weaker evidence, architecture §6). Lets a
   * task's `via` name an agent that is a script (an npm-installed agent runs as `node`).
   */
  readonly script?: string;
}

/**
 * For interpreters (node, python, bun, deno, sh, bash, perl, ruby…): the script named in
 * argv. Weaker evidence than `exe` (architecture §6): the file can change after the interpreter
 * read it, and argv parsing is a heuristic.
 */
export interface ScriptEvidence {
  /** Basename of the interpreter binary, e.g. `python3.11`. */
  readonly interpreter: string;
  /** The script, resolved against the caller's working directory when that was readable. */
  readonly path: string;
  readonly weak: true;
}

/** Who is at the other end of a socket, as the kernel reported it at connect time (architecture §6). */
export interface CallerIdentity {
  /** Effective uid of the connecting process (SO_PEERCRED). */
  readonly uid: number;
  /** Effective gid of the connecting process (SO_PEERCRED). */
  readonly gid: number;
  readonly pid: number;
  /**
   * Windows: the token user SID (`S-1-5-21-…`). Windows has no uid, so `uid` there is -1 for
   * the service's own user and -2 for any other; absent on Linux and macOS.
   */
  readonly sid?: string;
  /** Resolved absolute path of the running executable (`/proc/<pid>/exe`). */
  readonly exe: string;
  /** Lower-case hex SHA-256 of the running executable, read through `/proc/<pid>/exe`; only with `hashExe`. */
  readonly exeSha256?: string;
  readonly argv: readonly string[];
  /**
   * Start time in clock ticks since boot (Linux `/proc/<pid>/stat` field 22; macOS: microseconds
   * since the epoch, `pbi_start_tvsec`/`usec`). Compare it only with values of the same platform.
   */
  readonly startTime: bigint;
  /** The script, when `exe` is a known interpreter and argv names one (weaker evidence). */
  readonly script?: ScriptEvidence;
  /** Parent first, up to and including the first process of another uid, at most 8 entries. */
  readonly ancestry: readonly AncestorInfo[];
  /**
   * `true` when the kernel handed a handle pinned to the connecting process itself
   * (a pidfd from SO_PEERPIDFD on Linux), so a recycled pid cannot pass the checks. `false`
   * when only the start-time comparison was possible (older kernels): weaker evidence.
   */
  readonly pinned: boolean;
}

/** The kernel's credentials of a socket's peer, as recorded when it connected. */
export interface PeerCredentials {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /**
   * Windows: the token user SID (`S-1-5-21-…`). Windows has no uid, so `uid` there is -1 for
   * the service's own user and -2 for any other; absent on Linux and macOS.
   */
  readonly sid?: string;
}

/** Options of {@link peerIdentity}. */
export interface PeerIdentityOptions {
  /** Also compute {@link CallerIdentity.exeSha256} (reads the whole binary: a few ms for a large one). */
  readonly hashExe?: boolean;
}

/** A verified caller, and a cheap way to check that the same process is still there. */
export interface VerifiedPeer {
  readonly identity: CallerIdentity;
  /**
   * `true` while the process that connected is alive, has the same start time and still
   * runs the same executable (same path and inode). Call it before each operation: it turns
   * `false` after the caller exits (even when its pid is reused), after it `exec`s another
   * binary, and after {@link VerifiedPeer.close}. It never throws.
   */
  stillSame(): boolean;
  /** Release the OS handle (the pidfd). Idempotent; `stillSame()` is `false` afterwards. */
  close(): void;
}

/**
 * One platform's implementation. Each platform package (`@cora/identity-linux`, `-darwin`,
 * `-win32`) exports `createIdentityPlatform(host: PlatformHost): IdentityPlatform`.
 */
export interface IdentityPlatform {
  /** The `process.platform` value this implementation serves. */
  readonly platform: NodeJS.Platform;
  peerCredentials(socket: Socket): PeerCredentials;
  peerIdentity(socket: Socket, options: PeerIdentityOptions): Promise<VerifiedPeer>;
  /** The process that holds `pid` now, identified like a socket's peer (`cr verify --pid`). */
  processIdentity(pid: number, options: PeerIdentityOptions): Promise<VerifiedPeer>;
}

/** What `@cora/identity` hands a platform package's `createIdentityPlatform`. */
export interface PlatformHost {
  /** Make an {@link IdentityError} of the host package (the one callers test with `isIdentityError`). */
  makeError(
    code: IdentityErrorCode,
    message: string,
    options?: { cause?: unknown; pid?: number },
  ): IdentityError;
  /** See `socketFd` of `@cora/identity`. */
  socketFd(socket: Socket): number;
  /** See `scriptEvidence` of `@cora/identity`: the one interpreter heuristic of every platform. */
  scriptEvidence(
    exe: string,
    argv: readonly string[],
    cwd: string | null,
    style?: PathStyle,
  ): ScriptEvidence | undefined;
}

/** How paths are spelled where a process runs (for {@link PlatformHost.scriptEvidence}). */
export type PathStyle = 'posix' | 'win32';
