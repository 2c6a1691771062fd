// SPDX-License-Identifier: AGPL-3.0-only
import type { AncestorInfo, CallerIdentity } from '@cora/identity';
import type { EvaluationContext, GrantQuery } from '../src/index.ts';

export const AGENT = '/opt/agent/bin/agent';
export const CURL = '/usr/bin/curl';
export const NODE = '/usr/bin/node';
export const PY = '/usr/bin/python3.12';
export const BASH = '/usr/bin/bash';
export const HEX_A = 'a'.repeat(64);
export const HEX_B = 'b'.repeat(64);

export function ancestor(
  exe: string | null,
  pid: number,
  startTime: bigint | null = BigInt(pid * 10),
): AncestorInfo {
  return { pid, uid: 1000, exe, argv0: exe, startTime };
}

/** A caller identity with defaults; strict about nothing but what the tests set. */
export function caller(exe: string, extra: Partial<CallerIdentity> = {}): CallerIdentity {
  return {
    uid: 1000,
    gid: 1000,
    pid: 4242,
    exe,
    argv: [exe],
    startTime: 99n,
    ancestry: [ancestor(BASH, 4000)],
    pinned: true,
    ...extra,
  };
}

/** A strict context: every function the test did not give throws when called. */
export function context(extra: Partial<EvaluationContext> = {}): EvaluationContext {
  return {
    now: 1_000_000,
    unlockedAt: 900_000,
    isCli: false,
    recentSpawns: () => [],
    grants: (query: GrantQuery): boolean => {
      throw new Error(`unexpected grant query for ${query.task}`);
    },
    ...extra,
  };
}
