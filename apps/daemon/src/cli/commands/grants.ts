// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr grants list|revoke`: the approval grants the service remembers (architecture §7), and
 * forgetting them. Neither needs the passphrase: a grant holds no value, and a revoke only
 * narrows access (SECURITY.md "Approvals").
 */
import { visible } from '@cora/display';
import { GRANT_ID_PATTERN, type GrantInfo } from '@cora/ipc';
import { CrError } from '../../shared/errors.ts';
import { coraHome } from '../../shared/paths.ts';
import { connectService, withRunningService } from '../client.ts';
import { localTime, out, printJson, span } from '../output.ts';

/**
 * When a grant ends, for people: "14:32:05, expires in 4 min" or "until the vault locks".
 * @param grant - a grant as the service reports it
 * @param now - ms since the epoch
 */
export function grantEnds(grant: GrantInfo, now = Date.now()): string {
  if (grant.expiresAt === null) return 'until the vault locks';
  const left = Date.parse(grant.expiresAt) - now;
  return left > 0 ? `expires in ${span(left)}` : 'expired';
}

/** One grant as lines for people; paths from other processes are made visible (`@cora/display`). */
function describe(grant: GrantInfo, now: number): string[] {
  const approver =
    grant.approver === null ? 'unknown' : `pid ${String(grant.approver.pid)} ${visible(grant.approver.exe)}`;
  return [
    `${grant.id}  ${grant.task}  ${grantEnds(grant, now)}`,
    `    caller:  ${visible(grant.caller)} under parent pid ${String(grant.parentPid)}`,
    `    scope:   ${grant.scope === 'session' ? 'session (until lock)' : `window, until ${localTime(grant.expiresAt ?? '', now)}`}`,
    `    granted: ${localTime(grant.grantedAt, now)} by ${approver} (approval ${String(grant.approval)})`,
  ];
}

export async function cmdGrantsList(options: { json?: boolean }): Promise<void> {
  const service = await connectService(coraHome());
  // No service: nothing is unlocked, so no grant exists (lock forgets them).
  let grants: readonly GrantInfo[] = [];
  if (service !== null) {
    try {
      grants = await service.listGrants();
    } finally {
      service.close();
    }
  }
  if (options.json === true) {
    printJson(grants);
    return;
  }
  if (grants.length === 0) {
    out(
      'No grants. An approver creates one with "allow for the window" (cr approve); lock forgets them all.',
    );
    return;
  }
  const now = Date.now();
  for (const grant of grants) for (const line of describe(grant, now)) out(line);
}

export async function cmdGrantsRevoke(id: string | undefined, options: { all?: boolean }): Promise<void> {
  if ((id === undefined) === (options.all !== true)) {
    throw new CrError('USAGE', 'name one grant (cr grants revoke ID) or use --all, not both');
  }
  const which = id === undefined ? { all: true as const } : { grant: id };
  if (id !== undefined && !GRANT_ID_PATTERN.test(id)) {
    throw new CrError(
      'USAGE',
      `a grant id is 8 hex digits as cr grants list shows them, not ${visible(id, { maxBytes: 32 })}`,
    );
  }
  const result = await withRunningService(
    coraHome(),
    (service) => service.revokeGrants(which),
    'the service is not running, so no grant exists (lock forgets them all)',
  );
  if (result.revoked.length === 0) {
    out('No grants to revoke.');
    return;
  }
  for (const grant of result.revoked) {
    out(
      `Revoked ${grant.id}: ${grant.task} for ${visible(grant.caller)} under parent pid ${String(grant.parentPid)}.`,
    );
  }
  out('The next request of that caller asks an approver again.');
}
