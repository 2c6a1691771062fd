// SPDX-License-Identifier: AGPL-3.0-only
/** `cr init`: a new vault, created through the service that owns the home. */
import { existsSync } from 'node:fs';
import { CrError } from '../../shared/errors.ts';
import { coraHome, vaultPath } from '../../shared/paths.ts';
import { createNewVault } from '../vault-init.ts';
import { passphraseWarnings, readNewPassphrase } from '../passphrase.ts';
import { passSource, withSecret, type PassOptions } from '../options.ts';
import { out, note } from '../output.ts';

export async function cmdInit(options: PassOptions): Promise<void> {
  const home = coraHome();
  const path = vaultPath(home);
  if (existsSync(path)) {
    throw new CrError('VAULT_EXISTS', `a vault already exists at ${path}; refusing to overwrite it`);
  }
  await withSecret(
    () => readNewPassphrase(passSource(options), 'New passphrase: ', 'Repeat the passphrase: '),
    async (passphrase) => {
      for (const warning of passphraseWarnings(passphrase)) note(`warning: weak passphrase: ${warning}`);
      await createNewVault(home, passphrase, 'cli');
      out(`Created ${path}. Next: cr unlock`);
    },
  );
}
