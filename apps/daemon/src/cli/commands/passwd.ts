// SPDX-License-Identifier: AGPL-3.0-only
/** `cr passwd`: a new passphrase, a new salt, the vault re-encrypted by the service. */
import { CrError } from '../../shared/errors.ts';
import { coraHome, requireVault } from '../../shared/paths.ts';
import { passphraseWarnings, readNewPassphrase, readPassphrase } from '../passphrase.ts';
import { withService } from '../launcher.ts';
import { passSource, withSecret, type PassOptions } from '../options.ts';
import { out, note } from '../output.ts';

export interface PasswdOptions extends PassOptions {
  newPassphraseFd?: number;
  newPassphraseFile?: string;
}

export async function cmdPasswd(options: PasswdOptions): Promise<void> {
  const home = coraHome();
  requireVault(home);
  if (options.passphraseFd !== undefined && options.passphraseFd === options.newPassphraseFd) {
    throw new CrError('USAGE', 'the current and the new passphrase need different descriptors');
  }
  await withSecret(
    () => readPassphrase(passSource(options), 'Current passphrase: '),
    (current) =>
      withSecret(
        () =>
          readNewPassphrase(
            { fd: options.newPassphraseFd, file: options.newPassphraseFile },
            'New passphrase: ',
            'Repeat the new passphrase: ',
          ),
        async (next) => {
          for (const warning of passphraseWarnings(next)) note(`warning: weak passphrase: ${warning}`);
          await withService(home, (service) => service.passwd(current, next));
          out('Passphrase changed (new salt, re-encrypted).');
        },
      ),
  );
}
