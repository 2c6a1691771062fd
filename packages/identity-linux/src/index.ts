// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/identity-linux`: the Linux implementation of `@cora/identity` (architecture §6):
 * SO_PEERCRED and SO_PEERPIDFD through koffi, `/proc/<pid>/…`, and a re-check after reading.
 * `@cora/identity` loads it by itself; apps depend on both and import only `@cora/identity`.
 * @packageDocumentation
 */
export { createIdentityPlatform } from './peer.ts';
