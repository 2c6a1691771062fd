// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The `cr` command line (DESIGN §11), every command; `cli.ts` loads it (or only `cr exec`).
 * Every command that changes the vault asks for the passphrase (G6); secret bytes are read
 * into secure memory and never become strings (G3).
 */
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { isValidSecretName, type SecretBuf } from '@cora/memstore';
import { CrError } from './errors.ts';
import { parseDotenv, wipeDotenv } from './dotenv.ts';
import { parseDuration } from './internal/duration.ts';
import { readFdToSecret, readFileToSecret } from './internal/read-bytes.ts';
import { coraHome, ensurePrivateDir, serviceSocketPath, vaultPath } from './paths.ts';
import { createNewVault } from './vault-init.ts';
import {
  passphraseWarnings,
  promptSecret,
  readNewPassphrase,
  readPassphrase,
  stripTrailingNewline,
  type PassphraseSource,
} from './passphrase.ts';
import { registerPolicyCommands } from './cli-policy.ts';
import { connectService, ensureService, type Service } from './client.ts';
import { startForegroundService } from './launcher.ts';
import { ownerPid } from './owner-lock.ts';
import { registerExec } from './cli-exec.ts';
import { registerApprove } from './cli-approve.ts';
import { registerAudit } from './cli-audit.ts';
import { registerTui } from './cli-tui.ts';
import { DEFAULT_IDLE_TIMEOUT_MS } from './service/state.ts';
import { VERSION } from './version.ts';
import { MAX_VALUE_BYTES } from '@cora/memstore';

interface PassOptions {
  passphraseFd?: number;
  passphraseFile?: string;
}

function passSource(options: PassOptions): PassphraseSource {
  return { fd: options.passphraseFd, file: options.passphraseFile };
}

function parseFd(value: string): number {
  if (!/^\d{1,6}$/.test(value))
    throw new CrError('USAGE', `a file descriptor must be a number, got '${value}'`);
  return Number(value);
}

function withPassOptions(command: Command, what = 'the passphrase'): Command {
  return command
    .addOption(new Option('--passphrase-fd <n>', `read ${what} from file descriptor N`).argParser(parseFd))
    .addOption(new Option('--passphrase-file <path>', `read ${what} from a private file (mode 600)`));
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** The vault must exist before anything but init. */
function requireVault(home: string): string {
  const path = vaultPath(home);
  if (!existsSync(path)) throw new CrError('NO_VAULT', `there is no vault at ${path}; run 'cr init' first`);
  ensurePrivateDir(home, false);
  return path;
}

async function withService<T>(home: string, fn: (service: Service) => Promise<T>): Promise<T> {
  const { service } = await ensureService({ home, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, lifetimeMs: 0 });
  try {
    return await fn(service);
  } finally {
    service.close();
  }
}

async function withSecret<T>(get: () => Promise<SecretBuf>, fn: (buf: SecretBuf) => Promise<T>): Promise<T> {
  const buf = await get();
  try {
    return await fn(buf);
  } finally {
    buf.wipe();
  }
}

// ---------------------------------------------------------------------------------------------

async function cmdInit(options: PassOptions): Promise<void> {
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

interface UnlockOptions extends PassOptions {
  foreground?: boolean;
  acceptVault?: boolean;
  idleTimeout?: string;
  lifetime?: string;
}

async function cmdUnlock(options: UnlockOptions): Promise<void> {
  const home = coraHome();
  requireVault(home);
  const settings = {
    home,
    idleTimeoutMs:
      options.idleTimeout === undefined
        ? DEFAULT_IDLE_TIMEOUT_MS
        : parseDuration(options.idleTimeout, '--idle-timeout'),
    lifetimeMs: options.lifetime === undefined ? 0 : parseDuration(options.lifetime, '--lifetime'),
  };
  if (options.foreground === true) {
    await unlockForeground(settings, options);
    return;
  }
  const { service } = await ensureService(settings);
  try {
    const status = await service.status();
    if (status.state === 'unlocked') {
      out(`Already unlocked (${String(status.secrets)} secrets, pid ${String(status.pid)}).`);
      return;
    }
    const result = await withSecret(
      () => readPassphrase(passSource(options), 'Passphrase: '),
      (passphrase) => service.unlock(passphrase, unlockParams(settings, options)),
    );
    out(`Unlocked: ${String(result.secrets)} secrets (service pid ${String(status.pid)}).`);
  } finally {
    service.close();
  }
}

/** This unlock's settings: they apply whether the service was just started or already ran. */
function unlockParams(
  settings: { idleTimeoutMs: number; lifetimeMs: number },
  options: UnlockOptions,
): { acceptVault?: boolean; idleTimeoutMs: number; lifetimeMs: number } {
  return {
    ...(options.acceptVault === true ? { acceptVault: true } : {}),
    idleTimeoutMs: settings.idleTimeoutMs,
    lifetimeMs: settings.lifetimeMs,
  };
}

async function unlockForeground(
  settings: { home: string; idleTimeoutMs: number; lifetimeMs: number },
  options: UnlockOptions,
): Promise<void> {
  const owner = ownerPid(settings.home);
  if (owner !== null) {
    throw new CrError(
      'USAGE',
      `the service of this vault already runs (pid ${String(owner)}); --foreground starts one only when none runs`,
    );
  }
  const child = startForegroundService(settings);
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => child.kill(sig));
  }
  const { service } = await ensureService(settings, { startIfMissing: false });
  try {
    const result = await withSecret(
      () => readPassphrase(passSource(options), 'Passphrase: '),
      (passphrase) => service.unlock(passphrase, unlockParams(settings, options)),
    );
    note(`Unlocked: ${String(result.secrets)} secrets (service pid ${String(child.pid)}; Ctrl-C stops it).`);
  } catch (error) {
    child.kill('SIGTERM');
    throw error;
  } finally {
    service.close();
  }
  process.exitCode = await exited;
}

async function cmdLock(): Promise<void> {
  const service = await connectService(coraHome());
  if (service === null) {
    out('The service is not running: nothing is unlocked.');
    return;
  }
  try {
    await service.lock();
    out('Locked.');
  } finally {
    service.close();
  }
}

async function cmdStatus(options: { json?: boolean }): Promise<void> {
  const socket = serviceSocketPath(coraHome());
  const service = await connectService(coraHome());
  let status: Record<string, unknown>;
  if (service === null) {
    status = {
      state: 'locked',
      secrets: 0,
      pid: null,
      socket,
      idleDeadline: null,
      version: VERSION,
      running: false,
    };
  } else {
    try {
      status = { ...(await service.status()), running: true };
    } finally {
      service.close();
    }
  }
  status['vault'] = vaultPath(coraHome());
  if (options.json === true) {
    printJson(status);
    return;
  }
  out(`state:    ${String(status['state'])}${status['running'] === true ? '' : ' (service not running)'}`);
  if (status['state'] === 'unlocked') out(`secrets:  ${String(status['secrets'])}`);
  const idle = status['idleDeadline'];
  const pid = status['pid'];
  if (typeof idle === 'string') out(`idle until: ${idle}`);
  if (typeof pid === 'number') out(`pid:      ${String(pid)}`);
  out(`socket:   ${socket}`);
  out(`vault:    ${String(status['vault'])}`);
  out(`version:  ${VERSION}`);
}

/** The value for `secrets set`: a masked prompt on a terminal, else stdin to its end. */
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

async function cmdSecretsSet(name: string, options: PassOptions & { raw?: boolean }): Promise<void> {
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
            const result = await service.set(name, value, passphrase);
            out(`${result.replaced ? 'Replaced' : 'Stored'} ${name}.`);
          }),
      ),
  );
}

async function cmdSecretsList(options: { json?: boolean }): Promise<void> {
  const service = await connectService(coraHome());
  if (service === null) throw new CrError('LOCKED', 'the service is not running; run cr unlock');
  try {
    const list = await service.list();
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
  } finally {
    service.close();
  }
}

async function cmdSecretsDelete(name: string, options: PassOptions): Promise<void> {
  checkName(name);
  const home = coraHome();
  requireVault(home);
  await withSecret(
    () => readPassphrase(passSource(options), `Passphrase to delete ${name}: `),
    (passphrase) =>
      withService(home, async (service) => {
        await service.delete(name, passphrase);
        out(`Deleted ${name}.`);
      }),
  );
}

async function cmdSecretsImport(file: string, options: PassOptions & { dryRun?: boolean }): Promise<void> {
  const home = coraHome();
  requireVault(home);
  // Read straight into secure memory and parse there; the file's bytes are wiped with it.
  const content = readFileToSecret(file, { requirePrivate: false, maxBytes: 16 * 1024 * 1024, what: file });
  const parsed = (() => {
    try {
      return content.use((bytes) => parseDotenv(bytes));
    } finally {
      content.wipe();
    }
  })();
  const { entries, problems } = parsed;
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
          const result = await service.import(
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

interface PasswdOptions extends PassOptions {
  newPassphraseFd?: number;
  newPassphraseFile?: string;
}

async function cmdPasswd(options: PasswdOptions): Promise<void> {
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

// ---------------------------------------------------------------------------------------------

function buildProgram(): Command {
  const program = new Command('cr')
    .description('Cora: keep secrets out of agents and scripts (DESIGN.md)')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run cr help for the list of commands)')
    .exitOverride();

  withPassOptions(
    program.command('init').description('create a new vault (asks for the passphrase twice)'),
  ).action((options: PassOptions) => cmdInit(options));

  withPassOptions(
    program
      .command('unlock')
      .description('start the service if needed and unlock it')
      .option('--foreground', 'run the service attached to this terminal (Ctrl-C stops it)')
      .option('--idle-timeout <duration>', 'lock after this long without a request (default 15m; 0 = never)')
      .option('--lifetime <duration>', 'lock this long after unlock, busy or not (default: no limit)')
      .option(
        '--accept-vault',
        'open a vault file the audit log does not vouch for (a restored backup); recorded in the log',
      ),
  ).action((options: UnlockOptions) => cmdUnlock(options));

  program
    .command('lock')
    .description('wipe every secret from the service memory')
    .action(() => cmdLock());

  program
    .command('status')
    .description('show whether the service runs and is unlocked')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) => cmdStatus(options));

  const secrets = program
    .command('secrets')
    .description('manage stored secrets (changes need the passphrase)');
  withPassOptions(
    secrets
      .command('set')
      .description('store a secret: value from a hidden prompt, or from stdin when it is not a terminal')
      .argument('<name>', 'secret name, [A-Za-z_][A-Za-z0-9_]*')
      .option('--raw', 'keep a trailing newline of the value read from stdin'),
  ).action((name: string, options: PassOptions & { raw?: boolean }) => cmdSecretsSet(name, options));
  secrets
    .command('list')
    .description('names and dates of stored secrets (never values)')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) => cmdSecretsList(options));
  withPassOptions(
    secrets.command('delete').description('delete a secret').argument('<name>', 'secret name'),
  ).action((name: string, options: PassOptions) => cmdSecretsDelete(name, options));
  withPassOptions(
    secrets
      .command('import')
      .description('import NAME=value lines of a .env file (shows names, never values)')
      .argument('<file>', 'the .env file')
      .option('--dry-run', 'only check the file and list the names'),
  ).action((file: string, options: PassOptions & { dryRun?: boolean }) => cmdSecretsImport(file, options));

  withPassOptions(
    program.command('passwd').description('change the passphrase (new salt, re-encrypts the vault)'),
    'the current passphrase',
  )
    .addOption(
      new Option('--new-passphrase-fd <n>', 'read the new passphrase from file descriptor N').argParser(
        parseFd,
      ),
    )
    .addOption(new Option('--new-passphrase-file <path>', 'read the new passphrase from a private file'))
    .action((options: PasswdOptions) => cmdPasswd(options));

  registerExec(program);

  registerApprove(program);

  registerAudit(program);

  registerPolicyCommands(program);

  registerTui(program);

  program
    .command('version')
    .description('print the version')
    .option('--json', 'machine-readable output')
    .action((options: { json?: boolean }) => {
      if (options.json === true) printJson({ version: VERSION, node: process.version });
      else out(`cr ${VERSION} (node ${process.version})`);
    });
  return program;
}

/**
 * Run the whole `cr` program (every command) on `argv`.
 * @param argv - `process.argv`
 * @throws whatever a command throws (cli.ts reports it)
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}
