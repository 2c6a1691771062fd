// SPDX-License-Identifier: AGPL-3.0-only
import { createVault, isCryptoFormatError } from '@cora/crypto-format';
import { SecretBuf } from '@cora/memstore';
import { CrError } from './errors.ts';
import { ensurePrivateDir, vaultPath } from './paths.ts';
import { VERSION } from './version.ts';

/**
 * Create a new, empty vault in `home` (`cr init`, and the TUI's onboarding): no secret, an
 * empty policy (only the `cr` CLI may call), and a fresh random audit key (DESIGN §10).
 *
 * @param home - the Cora home (created 0700 when missing)
 * @param passphrase - the new passphrase (not wiped: the caller owns it)
 * @param by - who created it, recorded in `meta`
 * @throws CrError `VAULT_EXISTS` (never overwrites), `UNSAFE_PATH`.
 */
export async function createNewVault(home: string, passphrase: SecretBuf, by: 'cli' | 'tui'): Promise<void> {
  ensurePrivateDir(home);
  const path = vaultPath(home);
  const auditKey = SecretBuf.random(32);
  const json = Buffer.from(
    JSON.stringify({
      policy: {},
      meta: { created: new Date().toISOString(), by: `cr ${VERSION}${by === 'tui' ? ' tui' : ''}` },
    }),
  );
  try {
    await createVault(path, { entries: [], auditKey, json }, passphrase);
  } catch (error) {
    if (isCryptoFormatError(error, 'VAULT_EXISTS')) {
      throw new CrError('VAULT_EXISTS', `a vault already exists at ${path}; refusing to overwrite it`);
    }
    throw error;
  } finally {
    auditKey.wipe();
  }
}
