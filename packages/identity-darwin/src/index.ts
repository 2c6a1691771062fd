// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/identity-darwin`: the macOS implementation of `@cora/identity` (architecture §6):
 * LOCAL_PEERTOKEN (pid and pid version as of connect), LOCAL_PEERCRED and LOCAL_PEERPID
 * through koffi, `proc_pidinfo`, `proc_pidpath`, `KERN_PROCARGS2`, and a re-check after
 * reading. Written against Apple's documented APIs; not yet run on a macOS host.
 * `@cora/identity` loads it by itself; apps depend on both and import only `@cora/identity`.
 * @packageDocumentation
 */
export { createIdentityPlatform } from './peer.ts';
