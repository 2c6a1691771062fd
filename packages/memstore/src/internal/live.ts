// SPDX-License-Identifier: AGPL-3.0-only

/**
 * Count of SecretBufs allocated and not yet wiped. Internal: tests use it to prove that error
 * paths wipe everything they allocated; nothing secret is recorded here.
 */
export const liveSecretBufs = { count: 0 };
