// SPDX-License-Identifier: AGPL-3.0-only
import type { Socket } from 'node:net';
import { IdentityError, IdentityErrorCode } from './errors.ts';
import { scriptEvidence } from './script.ts';
import { socketFd } from './socket.ts';
import type {
  IdentityPlatform,
  PeerCredentials,
  PeerIdentityOptions,
  PlatformHost,
  VerifiedPeer,
} from './types.ts';

/** Imports a module by specifier, from the caller's own resolution context. */
export type PlatformImporter = (specifier: string) => Promise<unknown>;

/**
 * What this package lends a platform package's `createIdentityPlatform`: platform packages
 * import only types from `@cora/identity`, so there is no import cycle at run time and every
 * error they throw is this copy's {@link IdentityError}.
 */
const host: PlatformHost = Object.freeze({
  makeError: (
    code: IdentityErrorCode,
    message: string,
    options?: { cause?: unknown; pid?: number },
  ): IdentityError => new IdentityError(code, message, options),
  socketFd,
  scriptEvidence,
});

/** The platform packages, by `process.platform` (architecture §2). */
const PLATFORM_PACKAGES: Readonly<Partial<Record<NodeJS.Platform, string>>> = {
  linux: '@cora/identity-linux',
  darwin: '@cora/identity-darwin',
  win32: '@cora/identity-win32',
};

let current: IdentityPlatform | undefined;
/** Why the automatic load at import time failed, reported as the cause of UNSUPPORTED_PLATFORM. */
let loadFailure: unknown;

function isPlatform(value: unknown): value is IdentityPlatform {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['platform'] === 'string' &&
    typeof v['peerCredentials'] === 'function' &&
    typeof v['peerIdentity'] === 'function' &&
    typeof v['processIdentity'] === 'function'
  );
}

/**
 * Install the platform implementation that {@link peerCredentials} and {@link peerIdentity}
 * use, replacing the one loaded automatically. For tests and embedders; apps need not call it.
 *
 * @param platform - an implementation: a test double, or a wrapper of the loaded one
 * @throws TypeError when `platform` does not have the {@link IdentityPlatform} shape.
 * @throws IdentityError `UNSUPPORTED_PLATFORM` when it serves another `process.platform`.
 * @example
 * ```ts
 * // Hash every caller's executable, whatever the call sites ask for:
 * const loaded = await loadPlatform();
 * registerPlatform({
 *   platform: loaded.platform,
 *   peerCredentials: (socket) => loaded.peerCredentials(socket),
 *   peerIdentity: (socket, options) => loaded.peerIdentity(socket, { ...options, hashExe: true }),
 *   processIdentity: (pid, options) => loaded.processIdentity(pid, { ...options, hashExe: true }),
 * });
 * ```
 */
export function registerPlatform(platform: IdentityPlatform): void {
  if (!isPlatform(platform)) {
    throw new TypeError(
      'platform must be an IdentityPlatform (platform, peerCredentials, peerIdentity, processIdentity)',
    );
  }
  if (platform.platform !== process.platform) {
    throw new IdentityError(
      IdentityErrorCode.UNSUPPORTED_PLATFORM,
      `the identity implementation for ${platform.platform} cannot serve ${process.platform}`,
    );
  }
  current = platform;
}

/**
 * Load the platform package for `process.platform` (`@cora/identity-linux`, `-darwin` or
 * `-win32`) and register it. Already registered: returns that one. This package calls it
 * once when it is imported, so apps only need it when that load failed.
 *
 * The platform package is an optional peer dependency: it resolves from this package's folder
 * where the package manager linked it (pnpm does when the app depends on both packages, in a
 * workspace too; npm and yarn hoist it). Otherwise pass `importer` from the app
 * (`(s) => import(s)`): its `import()` resolves from the app's folder.
 *
 * @param importer - imports a specifier; defaults to this package's own `import()`
 * @returns the registered platform
 * @throws IdentityError `UNSUPPORTED_PLATFORM` when no package serves this platform, or it is not installed.
 * @example
 * ```ts
 * await loadPlatform((specifier) => import(specifier));
 * ```
 */
export async function loadPlatform(importer?: PlatformImporter): Promise<IdentityPlatform> {
  if (current !== undefined) return current;
  const specifier = PLATFORM_PACKAGES[process.platform];
  if (specifier === undefined) {
    throw new IdentityError(
      IdentityErrorCode.UNSUPPORTED_PLATFORM,
      `caller identity is not available on ${process.platform}`,
    );
  }
  let loaded: unknown;
  try {
    loaded = await (importer ?? ((s: string): Promise<unknown> => import(s)))(specifier);
  } catch (error) {
    throw new IdentityError(
      IdentityErrorCode.UNSUPPORTED_PLATFORM,
      `${specifier} could not be loaded: install it next to @cora/identity and import it once`,
      { cause: error },
    );
  }
  const factory =
    typeof loaded === 'object' && loaded !== null
      ? (loaded as Record<string, unknown>)['createIdentityPlatform']
      : undefined;
  const candidate: unknown =
    typeof factory === 'function' ? (factory as (h: PlatformHost) => unknown)(host) : undefined;
  if (!isPlatform(candidate)) {
    throw new IdentityError(
      IdentityErrorCode.UNSUPPORTED_PLATFORM,
      `${specifier} does not export a createIdentityPlatform(host) that returns an IdentityPlatform`,
    );
  }
  registerPlatform(candidate);
  loadFailure = undefined;
  return candidate;
}

/** Called once by the entry point at import time; a failure is kept for later error messages. */
export async function autoload(): Promise<void> {
  try {
    await loadPlatform();
  } catch (error) {
    loadFailure = error;
  }
}

function requirePlatform(): IdentityPlatform {
  if (current === undefined) {
    throw new IdentityError(
      IdentityErrorCode.UNSUPPORTED_PLATFORM,
      `no caller-identity implementation is loaded for ${process.platform}: install @cora/identity-${process.platform} next to @cora/identity, or call loadPlatform() first`,
      { cause: loadFailure },
    );
  }
  return current;
}

function checkOptions(options: PeerIdentityOptions): void {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError('options must be an object');
  }
  if (options.hashExe !== undefined && typeof options.hashExe !== 'boolean') {
    throw new TypeError('options.hashExe must be a boolean');
  }
}

function checkSocket(socket: Socket): void {
  if (typeof socket !== 'object' || (socket as unknown) === null) {
    throw new TypeError('socket must be a net.Socket');
  }
}

/**
 * The kernel's credentials (uid, gid, pid) of a Unix socket's peer — SO_PEERCRED on Linux.
 * Synchronous: uses the platform package loaded when this package was imported. The
 * client uses it to check that the service runs under its own uid before sending anything
 * (architecture §1 G5).
 *
 * @param socket - a connected Unix socket
 * @returns uid, gid and pid as recorded at connect time
 * @throws TypeError when `socket` is not an object.
 * @throws IdentityError `UNSUPPORTED_PLATFORM` when no platform is registered; `NO_PEER_CREDENTIALS` when the kernel has none for this socket.
 * @example
 * ```ts
 * if (peerCredentials(socket).uid !== process.getuid?.()) socket.destroy();
 * ```
 */
export function peerCredentials(socket: Socket): PeerCredentials {
  checkSocket(socket);
  return requirePlatform().peerCredentials(socket);
}

/**
 * Identify the process at the other end of a Unix socket (architecture §6): kernel credentials,
 * executable, argv, start time, script (for interpreters), ancestry; then re-check that the
 * same process is still there, so a pid recycled meanwhile is refused.
 *
 * @param socket - a connected (accepted) Unix socket
 * @param options - `hashExe: true` to add the executable's SHA-256
 * @returns the verified peer; call `stillSame()` before each operation and `close()` when the connection ends
 * @throws TypeError when `socket` is not an object or `options.hashExe` is not a boolean.
 * @throws IdentityError `PEER_GONE`, `PID_REUSED`, `EXE_DELETED`, `NO_PEER_CREDENTIALS`, `PROC_UNREADABLE`, `UNSUPPORTED_PLATFORM`.
 * @example
 * ```ts
 * const peer = await peerIdentity(socket);
 * try {
 *   if (!peer.stillSame()) throw new Error('caller changed');
 * } finally {
 *   peer.close();
 * }
 * ```
 */
export async function peerIdentity(socket: Socket, options: PeerIdentityOptions = {}): Promise<VerifiedPeer> {
  checkSocket(socket);
  checkOptions(options);
  return requirePlatform().peerIdentity(socket, options);
}

/** Linux's PID_MAX_LIMIT (2^22): no pid is larger on any platform Cora serves. */
const MAX_PID = 4_194_304;

/**
 * Identify the process that holds `pid` now, the way {@link peerIdentity} identifies a socket's
 * peer (executable, argv, start time, script, ancestry; pinned, then re-checked), for asking
 * what a service would decide about it before it connects. A pid names a process only for a
 * moment: the answer is about whichever process held it when this ran, and a service must
 * identify the process again when it connects.
 *
 * @param pid - a process id, 1 to 4194304
 * @param options - `hashExe: true` to add the executable's SHA-256
 * @returns the verified process; call `close()` when done
 * @throws TypeError when `pid` is not an integer or `options.hashExe` is not a boolean.
 * @throws RangeError when `pid` is under 1 or over 4194304.
 * @throws IdentityError `PEER_GONE` (no such process), `PID_REUSED`, `PEER_CHANGED`, `EXE_DELETED`, `PROC_UNREADABLE` (another user's or a non-dumpable process), `UNSUPPORTED_PLATFORM`.
 * @example
 * ```ts
 * const peer = await processIdentity(4242);
 * try {
 *   console.log(peer.identity.exe, peer.identity.ancestry.length);
 * } finally {
 *   peer.close();
 * }
 * ```
 */
export async function processIdentity(pid: number, options: PeerIdentityOptions = {}): Promise<VerifiedPeer> {
  if (!Number.isInteger(pid)) throw new TypeError(`pid must be an integer, got ${String(pid)}`);
  if (pid < 1 || pid > MAX_PID)
    throw new RangeError(`pid must be 1 to ${String(MAX_PID)}, got ${String(pid)}`);
  checkOptions(options);
  return requirePlatform().processIdentity(pid, options);
}
