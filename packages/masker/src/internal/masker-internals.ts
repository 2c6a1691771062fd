// SPDX-License-Identifier: AGPL-3.0-only
import type { SecretBuf } from '@cora/memstore';

/**
 * Test-only window on a masker's secure buffers, so a test can check that `dispose()` wiped
 * them (`SecretBuf.wiped`): `buffers` are the table and the work buffer (hold-back), `filter`
 * the 4-gram filter. Never exported from the package's entry point; holds the SecretBuf
 * objects only (they refuse every string conversion), keyed weakly so nothing is kept alive.
 */
export const maskerInternals = new WeakMap<
  object,
  { readonly buffers: readonly SecretBuf[]; readonly filter: SecretBuf }
>();
