// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/identity-win32`: the Windows implementation of `@cora/identity` (architecture §6).
 * Interface only for now: every call fails with `UNSUPPORTED_PLATFORM`. The intended
 * implementation (GetNamedPipeClientProcessId, QueryFullProcessImageNameW and the process creation time) is described in the README.
 * @packageDocumentation
 */
export { createIdentityPlatform } from './platform.ts';
