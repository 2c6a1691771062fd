// SPDX-License-Identifier: AGPL-3.0-only
import { existsSync } from 'node:fs';
import type { SecretBuf } from '@cora/memstore';
import { withService } from './launcher.ts';
import { CrError } from '../shared/errors.ts';
import { ensurePrivateDir, vaultPath } from '../shared/paths.ts';

/**
 * Create a new, empty vault in `home` (`cr init`, and the TUI's onboarding). Like every write,
 * it goes through the service that owns the home (started locked when none runs), which
 * records it in the audit log and gives it the next generation of the log's history.
 *
 * @param home - the Cora home (created 0700 when missing)
 * @param passphrase - the new passphrase (not wiped: the caller owns it)
 * @param by - who created it, recorded in `meta`
 * @returns the new vault's generation
 * @throws CrError `VAULT_EXISTS` (never overwrites), `UNSAFE_PATH`, and the service's errors.
 */
export async function createNewVault(
  home: string,
  passphrase: SecretBuf,
  by: 'cli' | 'tui',
): Promise<number> {
  ensurePrivateDir(home);
  const path = vaultPath(home);
  if (existsSync(path))
    throw new CrError('VAULT_EXISTS', `a vault already exists at ${path}; refusing to overwrite it`);
  return withService(home, async (service) => (await service.init(passphrase, by)).generation);
}
