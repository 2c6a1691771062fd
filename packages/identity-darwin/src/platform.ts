// SPDX-License-Identifier: AGPL-3.0-only
import type {
  IdentityError,
  IdentityPlatform,
  PeerCredentials,
  PlatformHost,
  VerifiedPeer,
} from '@cora/identity';

/**
 * Build the macOS implementation for the `@cora/identity` that loads this package.
 * Not implemented yet: every method throws `UNSUPPORTED_PLATFORM` (fail closed: no caller is
 * ever identified, so none is allowed).
 *
 * @param host - `@cora/identity`'s error factory and socket-fd helper
 * @returns the macOS {@link @cora/identity#IdentityPlatform}
 * @example
 * ```ts
 * await loadPlatform((specifier) => import(specifier));
 * ```
 */
export function createIdentityPlatform(host: PlatformHost): IdentityPlatform {
  const notYet = (): IdentityError =>
    host.makeError('UNSUPPORTED_PLATFORM', 'caller identity on darwin is not implemented yet');
  return Object.freeze({
    platform: 'darwin',
    peerCredentials: (): PeerCredentials => {
      throw notYet();
    },
    peerIdentity: (): Promise<VerifiedPeer> => Promise.reject(notYet()),
    processIdentity: (): Promise<VerifiedPeer> => Promise.reject(notYet()),
  });
}
