// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/identity`: who is at the other end of a local socket, as the kernel says
 * (architecture §6). Defines the types and the error class and delegates to the platform package
 * (`@cora/identity-linux`, `-darwin`, `-win32`) for `process.platform`, loaded once when
 * this module is imported.
 * @packageDocumentation
 */
import { autoload } from './platform.ts';

export {
  peerCredentials,
  peerIdentity,
  processIdentity,
  registerPlatform,
  loadPlatform,
} from './platform.ts';
export type { PlatformImporter } from './platform.ts';
export { socketFd } from './socket.ts';
export { scriptEvidence } from './script.ts';
export type {
  AncestorInfo,
  CallerIdentity,
  IdentityPlatform,
  PathStyle,
  PeerCredentials,
  PeerIdentityOptions,
  PlatformHost,
  ScriptEvidence,
  VerifiedPeer,
} from './types.ts';
export { IdentityError, IdentityErrorCode, isIdentityError } from './errors.ts';

// Top-level await: the platform package is imported before any importer of this module
// runs, so the synchronous peerCredentials() works from the first connection. Platform
// packages import only types from here, so this dynamic import cannot deadlock on a cycle.
await autoload();
