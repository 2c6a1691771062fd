// SPDX-License-Identifier: AGPL-3.0-only
import type {
  IdentityError,
  IdentityPlatform,
  PeerCredentials,
  PlatformHost,
  VerifiedPeer,
} from '@cora/identity';

/**
 * Build the Windows implementation for the `@cora/identity` that loads this package.
 * Not implemented yet: every method throws `UNSUPPORTED_PLATFORM` (fail closed: no caller is
 * ever identified, so none is allowed).
 *
 * @param host - `@cora/identity`'s error factory and socket-fd helper
 * @returns the Windows {@link @cora/identity#IdentityPlatform}
 * @example
 * ```ts
 * await loadPlatform((specifier) => import(specifier));
 * ```
 */
export function createIdentityPlatform(host: PlatformHost): IdentityPlatform {
  const notYet = (): IdentityError =>
    host.makeError('UNSUPPORTED_PLATFORM', 'caller identity on win32 is not implemented yet');
  return Object.freeze({
    platform: 'win32',
    peerCredentials: (): PeerCredentials => {
      throw notYet();
    },
    peerIdentity: (): Promise<VerifiedPeer> => Promise.reject(notYet()),
    processIdentity: (): Promise<VerifiedPeer> => Promise.reject(notYet()),
  });
}
