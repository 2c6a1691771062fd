// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The vault's JSON section (`{"policy": …, "meta": …}`, not secret) and the rules every write
 * checks: the budget and the generation stored in `meta`.
 */
import { IpcError } from '@cora/ipc';
import { DEFAULT_LIMITS, type SecretEntry } from '@cora/memstore';
import { emptyPolicy, isPolicyError, parsePolicy, type Policy } from '@cora/policy';

/** The vault's JSON section as an object (`{"policy": …, "meta": …}`); anything else is kept as `rest`. */
export function readSection(json: Uint8Array): { policy: unknown; rest: Record<string, unknown> } {
  let parsed: unknown;
  try {
    parsed = json.length === 0 ? {} : (JSON.parse(new TextDecoder().decode(json)) as unknown);
  } catch {
    parsed = {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { policy: undefined, rest: {} };
  const { policy, ...rest } = parsed as Record<string, unknown>;
  return { policy, rest };
}

/**
 * Parse the stored policy. Missing, `null` or `{}` (what issue 3's `cr init` wrote) is the
 * empty policy; an invalid one is set aside as empty with its message (never a crash).
 */
export function policyOf(json: Uint8Array): { policy: Policy; policyError: string | null } {
  const { policy } = readSection(json);
  const blank =
    policy === undefined ||
    policy === null ||
    (typeof policy === 'object' && !Array.isArray(policy) && Object.keys(policy).length === 0);
  if (blank) return { policy: emptyPolicy(), policyError: null };
  try {
    return { policy: parsePolicy(policy), policyError: null };
  } catch (error) {
    const message = isPolicyError(error) ? error.message : 'the stored policy could not be read';
    return { policy: emptyPolicy(), policyError: message };
  }
}

/**
 * The budget every write must respect, locked or unlocked (the same limits the in-memory
 * store enforces at unlock, so no write can make a vault that will not open).
 * @throws IpcError `BUDGET_EXCEEDED` naming the limit.
 */
export function checkBudget(entries: readonly SecretEntry[]): void {
  const { maxEntries, maxTotalBytes } = DEFAULT_LIMITS;
  if (entries.length > maxEntries) {
    throw new IpcError(
      'BUDGET_EXCEEDED',
      `the vault holds at most ${String(maxEntries)} secrets; this change would make ${String(entries.length)}: delete some first (cr secrets delete NAME)`,
    );
  }
  const total = entries.reduce((sum, e) => sum + e.value.length, 0);
  if (total > maxTotalBytes) {
    throw new IpcError(
      'BUDGET_EXCEEDED',
      `the vault holds at most ${String(maxTotalBytes)} bytes of values; this change would make ${String(total)}: delete some first (cr secrets delete NAME)`,
    );
  }
}

/** The generation stored in the JSON section's `meta` (0 for a vault from before generations). */
export function generationOf(json: Uint8Array): number {
  const meta = readSection(json).rest['meta'];
  const value =
    typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>)['generation'] : 0;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
}

/** The JSON section with `meta.generation` set (everything else kept as it was). */
export function withGeneration(json: Uint8Array, generation: number): Uint8Array {
  const { policy, rest } = readSection(json);
  const meta = rest['meta'];
  const base = typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? meta : {};
  const section = { ...(policy === undefined ? {} : { policy }), ...rest, meta: { ...base, generation } };
  return new TextEncoder().encode(JSON.stringify(section));
}
