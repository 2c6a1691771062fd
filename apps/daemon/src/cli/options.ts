// SPDX-License-Identifier: AGPL-3.0-only
/** Options every passphrase-taking command shares, declared once, and secret handling around them. */
import { Option, type Command } from 'commander';
import type { SecretBuf } from '@cora/memstore';
import { CrError } from '../shared/errors.ts';
import type { PassphraseSource } from './passphrase.ts';

export interface PassOptions {
  passphraseFd?: number;
  passphraseFile?: string;
}

export function passSource(options: PassOptions): PassphraseSource {
  return { fd: options.passphraseFd, file: options.passphraseFile };
}

export function parseFd(value: string): number {
  if (!/^\d{1,6}$/.test(value))
    throw new CrError('USAGE', `a file descriptor must be a number, got '${value}'`);
  return Number(value);
}

export function withPassOptions(command: Command, what = 'the passphrase'): Command {
  return command
    .addOption(new Option('--passphrase-fd <n>', `read ${what} from file descriptor N`).argParser(parseFd))
    .addOption(new Option('--passphrase-file <path>', `read ${what} from a private file (mode 600)`));
}

export async function withSecret<T>(
  get: () => Promise<SecretBuf>,
  fn: (buf: SecretBuf) => Promise<T>,
): Promise<T> {
  const buf = await get();
  try {
    return await fn(buf);
  } finally {
    buf.wipe();
  }
}

/** Commander collector for a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Commander parser for a whole-number option. */
export function integer(option: string): (value: string) => number {
  return (value) => {
    if (!/^\d{1,15}$/.test(value))
      throw new CrError('USAGE', `${option} must be a whole number, got '${value}'`);
    return Number(value);
  };
}
