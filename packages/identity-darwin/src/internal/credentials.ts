// SPDX-License-Identifier: AGPL-3.0-only
// Cross-check of the three things the kernel recorded when the peer connected (pure, tested
// on every platform).
import type { AuditToken } from './layout.ts';

/** The peer as of connect: pid and pid version from the audit token, uid and gid from xucred. */
export interface PeerRecord {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly pidversion: number;
}

/**
 * Combine LOCAL_PEERTOKEN, LOCAL_PEERCRED and LOCAL_PEERPID. They describe the same
 * connect, so any disagreement (or a missing or malformed answer) means the socket is not
 * what we think it is: the reason is returned as a message and the caller refuses
 * (`NO_PEER_CREDENTIALS`).
 */
export function combinePeer(
  token: AuditToken | null,
  cred: { uid: number; gid: number } | null,
  peerPid: number | null,
): PeerRecord | string {
  if (token === null) return 'the kernel gave no audit token (LOCAL_PEERTOKEN) for this socket';
  if (cred === null) return 'the kernel gave no credentials (LOCAL_PEERCRED) for this socket';
  if (token.pid <= 0) return 'the peer has no pid (the socket is not connected)';
  if (peerPid !== null && peerPid !== token.pid) {
    return `the peer's pid (${peerPid}) and its audit token's pid (${token.pid}) differ`;
  }
  if (token.euid !== cred.uid) {
    return `the peer's uid (${cred.uid}) and its audit token's uid (${token.euid}) differ`;
  }
  return { pid: token.pid, uid: cred.uid, gid: cred.gid, pidversion: token.pidversion };
}
