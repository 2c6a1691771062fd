// SPDX-License-Identifier: AGPL-3.0-only
import type { VerifiedPeer } from '@cora/identity';

/** What `authenticate` hands every handler: the kernel-verified caller. */
export interface Peer {
  readonly verified: VerifiedPeer;
  /** Whether the caller is this installation's `cr` CLI (architecture §7: always passes `callers`). */
  readonly isCli: boolean;
}
