// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Prefix of a confined child's variable names in the exec helper's own environment
 * (confine.ts, confine-main.ts): Node reads none of them, so no passed variable can steer the
 * helper; the helper strips it before the exec.
 */
export const CHILD_ENV_PREFIX = 'CORA_CHILD_ENV_';
