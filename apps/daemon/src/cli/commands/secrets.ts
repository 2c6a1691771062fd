// SPDX-License-Identifier: AGPL-3.0-only
/** `cr secrets set|list|delete|import`: values go from a prompt or stdin into secure memory, never a string. */
import { isValidSecretName, MAX_VALUE_BYTES, type SecretBuf } from '@cora/memstore';
import { createInterface } from 'node:readline/promises';
import { parsePolicy } from '@cora/policy';
import { CrError, isCrError } from '../../shared/errors.ts';
import { tasksUsing } from '../../shared/policy-checks.ts';
import { readDotenvFile, wipeDotenv } from '../dotenv.ts';
import { readFdToSecret } from '../read-bytes.ts';
import { coraHome, requireVault } from '../../shared/paths.ts';
import { promptSecret, readPassphrase, stripTrailingNewline } from '../passphrase.ts';
import { connectService, withRunningService } from '../client.ts';
import { withService } from '../launcher.ts';
import { passSource, withSecret, type PassOptions } from '../options.ts';
import { out, note, printJson } from '../output.ts';

async function readValue(name: string, raw: boolean): Promise<SecretBuf> {
  let value: SecretBuf;
  if (process.stdin.isTTY) {
    value = await promptSecret(`Value for ${name} (hidden): `, MAX_VALUE_BYTES);
  } else {
    value = readFdToSecret(0, MAX_VALUE_BYTES + 2, `the value of ${name}`);
    if (!raw) value = stripTrailingNewline(value);
  }
  if (value.length > MAX_VALUE_BYTES) {
    value.wipe();
    throw new CrError('TOO_LARGE', `the value of ${name} is over ${String(MAX_VALUE_BYTES)} bytes`);
  }
  return value;
}

function checkName(name: string): void {
  if (!isValidSecretName(name)) {
    throw new CrError(
      'INVALID_NAME',
      `'${name}' is not a valid secret name: use [A-Za-z_][A-Za-z0-9_]*, at most 128 bytes`,
    );
  }
}

export async function cmdSecretsSet(name: string, options: PassOptions & { raw?: boolean }): Promise<void> {
  checkName(name);
  if (options.passphraseFd === 0 && !process.stdin.isTTY) {
    throw new CrError('USAGE', 'stdin carries the value; pass the passphrase on another descriptor or file');
  }
  const home = coraHome();
  requireVault(home);
  await withSecret(
    () => readValue(name, options.raw === true),
    (value) =>
      withSecret(
        () => readPassphrase(passSource(options), `Passphrase to store ${name}: `),
        (passphrase) =>
          withService(home, async (service) => {
            const result = await service.setSecret(name, value, passphrase);
            out(`${result.replaced ? 'Replaced' : 'Stored'} ${name}.`);
          }),
      ),
  );
}

export async function cmdSecretsList(options: { json?: boolean }): Promise<void> {
  await withRunningService(coraHome(), async (service) => {
    const list = await service.listSecrets();
    if (options.json === true) {
      printJson(list.map((s) => ({ name: s.name, created: s.created, updated: s.updated })));
      return;
    }
    if (list.length === 0) {
      out('No secrets. Add one with: cr secrets set NAME');
      return;
    }
    const width = Math.max(4, ...list.map((s) => s.name.length));
    out(`${'NAME'.padEnd(width)}  ${'CREATED'.padEnd(24)}  UPDATED`);
    for (const s of list) out(`${s.name.padEnd(width)}  ${s.created.padEnd(24)}  ${s.updated}`);
  });
}

/** The tasks that use `name`, when a service runs unlocked (else none known: the service checks anyway). */
async function tasksUsingNow(home: string, name: string): Promise<string[]> {
  const service = await connectService(home);
  if (service === null) return [];
  try {
    return tasksUsing(parsePolicy(await service.getPolicy()), name);
  } catch (error) {
    if (isCrError(error, 'LOCKED')) return [];
    throw error;
  } finally {
    service.close();
  }
}

/**
 * Ask before deleting a secret that tasks use: y/N on a terminal; without one, refuse
 * (exit 26) and say how to confirm.
 * @throws CrError `IN_USE` when not confirmed.
 */
async function confirmInUse(name: string, message: string): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new CrError('IN_USE', `${message} (stdin is not a terminal to ask on: pass --yes to confirm)`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${message}\nDelete ${name} anyway? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CrError('IN_USE', `${name} was not deleted`);
  } finally {
    rl.close();
  }
}

export interface DeleteOptions extends PassOptions {
  yes?: boolean;
  force?: boolean;
}

export async function cmdSecretsDelete(name: string, options: DeleteOptions): Promise<void> {
  checkName(name);
  const home = coraHome();
  requireVault(home);
  let force = options.yes === true || options.force === true;
  if (!force) {
    // Asked before the passphrase when the policy can be read; the service checks again
    // either way (locked, or a task added meanwhile) and refuses with IN_USE.
    const users = await tasksUsingNow(home, name);
    if (users.length > 0) {
      await confirmInUse(
        name,
        `${name} is used by ${users.length === 1 ? 'task' : 'tasks'} ${users.join(', ')}, which cannot run without it.`,
      );
      force = true;
    }
  }
  await withSecret(
    () => readPassphrase(passSource(options), `Passphrase to delete ${name}: `),
    (passphrase) =>
      withService(home, async (service) => {
        try {
          await service.deleteSecret(name, passphrase, force ? { force } : {});
        } catch (error) {
          if (force || !isCrError(error, 'IN_USE')) throw error;
          await confirmInUse(name, error.message);
          await service.deleteSecret(name, passphrase, { force: true });
        }
        out(`Deleted ${name}.`);
      }),
  );
}

export async function cmdSecretsImport(
  file: string,
  options: PassOptions & { dryRun?: boolean },
): Promise<void> {
  const home = coraHome();
  requireVault(home);
  const { entries, problems } = readDotenvFile(file);
  try {
    if (problems.length > 0) {
      for (const p of problems) note(`${file}: ${p.message}`);
      throw new CrError(
        'INVALID_INPUT',
        `${file} has ${String(problems.length)} problem(s); nothing was imported`,
      );
    }
    if (entries.length === 0) {
      out(`${file} holds no secrets; nothing to import.`);
      return;
    }
    note(`${file}: ${String(entries.length)} secret(s): ${entries.map((e) => e.name).join(', ')}`);
    if (options.dryRun === true) return;
    await withSecret(
      () => readPassphrase(passSource(options), `Passphrase to import ${String(entries.length)} secret(s): `),
      (passphrase) =>
        withService(home, async (service) => {
          const result = await service.importSecrets(
            entries.map((e) => e.name),
            entries.map((e) => e.value),
            passphrase,
          );
          if (result.created.length > 0) out(`Added: ${result.created.join(', ')}`);
          if (result.replaced.length > 0) out(`Replaced: ${result.replaced.join(', ')}`);
        }),
    );
  } finally {
    wipeDotenv(entries);
  }
}
