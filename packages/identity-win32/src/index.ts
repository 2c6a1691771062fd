// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/identity-win32`: the Windows implementation of `@cora/identity` (architecture §6): the
 * client of a named pipe by its kernel pid, pinned by a process handle, with its image path,
 * creation time, token user SID (same user only) and ancestry. Mechanics tested under Wine;
 * see the README for what needs a real Windows host.
 * @packageDocumentation
 */
export { createIdentityPlatform } from './peer.ts';
export { PIPE_HANDLE, type PipeHandleInfo } from './pipe-handle.ts';
export { isSidString, sidToString, splitCommandLine } from './internal/pure.ts';
