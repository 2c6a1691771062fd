// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/identity-darwin`: the macOS implementation of `@cora/identity` (architecture §6).
 * Interface only for now: every call fails with `UNSUPPORTED_PLATFORM`. The intended
 * implementation (LOCAL_PEERTOKEN audit token (pid + pidversion) and proc_pidpath) is described in the README.
 * @packageDocumentation
 */
export { createIdentityPlatform } from './platform.ts';
