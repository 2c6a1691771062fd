// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The one definition of the `cr` command line: every command, argument and option, with its
 * help text. Actions load their module (`commands/<name>.ts`) only when they run, so `--help`
 * and each command pay for nothing else. Every command that changes the vault asks for the
 * passphrase; secret bytes are read into secure memory and never become strings.
 */
import { Command, Option } from 'commander';
import { VERSION } from '../shared/version.ts';
import { collect, integer, parseFd, withPassOptions, type PassOptions } from './options.ts';
import { out, printJson } from './output.ts';
// Types only: erased at build time, so no command module loads before its action runs.
import type { AgentOptions } from './commands/agent.ts';
import type * as AuditModuleNs from './commands/audit.ts';
import type { ReadOptions } from './commands/audit.ts';
import type * as GrantsModuleNs from './commands/grants.ts';
import type { PasswdOptions } from './commands/passwd.ts';
import type * as PolicyModuleNs from './commands/policy.ts';
import type { AllowOptions, TaskAddOptions, TaskEditOptions } from './commands/policy.ts';
import type * as SecretsModuleNs from './commands/secrets.ts';
import type { DeleteOptions } from './commands/secrets.ts';
import type * as ServiceModuleNs from './commands/service.ts';
import type { InstallOptions, ServiceOptions } from './commands/service.ts';
import type { UnlockOptions } from './commands/unlock.ts';
import type { VerifyOptions } from './commands/verify.ts';

type SecretsModule = typeof SecretsModuleNs;
type PolicyModule = typeof PolicyModuleNs;
type AuditModule = typeof AuditModuleNs;
type ServiceModule = typeof ServiceModuleNs;

type Json = { json?: boolean };

function secretsCommands(program: Command): void {
  const load = (): Promise<SecretsModule> => import('./commands/secrets.ts');
  const secrets = program
    .command('secrets')
    .description('manage stored secrets (changes need the passphrase)');
  withPassOptions(
    secrets
      .command('set')
      .description('store a secret: value from a hidden prompt, or from stdin when it is not a terminal')
      .argument('<name>', 'secret name, [A-Za-z_][A-Za-z0-9_]*')
      .option('--raw', 'keep a trailing newline of the value read from stdin'),
  ).action(async (name: string, options: PassOptions & { raw?: boolean }) => {
    await (await load()).cmdSecretsSet(name, options);
  });
  secrets
    .command('list')
    .description('names and dates of stored secrets (never values)')
    .option('--json', 'machine-readable output')
    .action(async (options: Json) => {
      await (await load()).cmdSecretsList(options);
    });
  withPassOptions(
    secrets
      .command('delete')
      .description('delete a secret (asks first when tasks use it)')
      .argument('<name>', 'secret name')
      .option('-y, --yes', 'delete it even when tasks use it, without asking')
      .option('--force', 'the same as --yes'),
  ).action(async (name: string, options: DeleteOptions) => {
    await (await load()).cmdSecretsDelete(name, options);
  });
  withPassOptions(
    secrets
      .command('import')
      .description('import NAME=value lines of a .env file (shows names, never values)')
      .argument('<file>', 'the .env file')
      .option('--dry-run', 'only check the file and list the names'),
  ).action(async (file: string, options: PassOptions & { dryRun?: boolean }) => {
    await (await load()).cmdSecretsImport(file, options);
  });
}

function policyCommands(program: Command): void {
  const load = (): Promise<PolicyModule> => import('./commands/policy.ts');
  const policy = program
    .command('policy')
    .description('who may call the service and which tasks it runs (changes need the passphrase)');
  policy
    .command('show')
    .description('print the policy (callers, tasks)')
    .option('--json', 'machine-readable output')
    .action(async (options: Json) => {
      await (await load()).cmdShow(options);
    });
  withPassOptions(
    policy
      .command('allow')
      .description('let a program talk to the service directly')
      .argument('<path>', 'the executable (resolved to its realpath; bare names are looked up on PATH)')
      .option('--pin', "also require the binary's current sha256")
      .option('--script <path>', 'for an interpreter (python, node…): the script it must run')
      .addOption(new Option('--uid <n>', 'only for this uid').argParser(integer('--uid')))
      .option('--status', 'allow status only (status_callers)'),
  ).action(async (path: string, options: AllowOptions) => {
    await (await load()).cmdAllow(path, options);
  });
  withPassOptions(
    policy
      .command('deny')
      .description('remove the rules that allow a program')
      .argument('<path>', 'the executable')
      .option('--script <path>', 'only the rule for this script')
      .option('--status', 'from status_callers'),
  ).action(async (path: string, options: PassOptions & { script?: string; status?: boolean }) => {
    await (await load()).cmdDeny(path, options);
  });
  const task = policy.command('task').description('add, edit or remove tasks');
  /** The options `task add` and `task edit` share. */
  const taskOptions = (command: Command): Command =>
    withPassOptions(
      command
        .option(
          '--target <path>',
          'a binary the task may run (repeatable; bare names looked up on PATH)',
          collect,
          [],
        )
        .option('--via <path>', 'a program that must be the caller or its ancestor (repeatable)', collect, [])
        .addOption(
          new Option('--max-spawns <n>', 'at most N spawns per window').argParser(integer('--max-spawns')),
        )
        .addOption(new Option('--window-ms <ms>', 'the rate window').argParser(integer('--window-ms')))
        .option('--ttl <duration>', 'runnable this long after unlock (30m, 8h…)')
        .option('--env-pass <var>', 'pass this caller variable to the child (repeatable)', collect, [])
        .option('--approve <mode>', 'never | once | session | window:DURATION')
        .option('--output <mode>', 'masked (default) | passthrough')
        .option('--pin', "store each target's sha256: cr exec refuses a target whose file changed")
        .option('--clean-home', 'give the child a fresh empty private HOME (your dotfiles cannot steer it)')
        .option(
          '--write <dir>',
          'confine the child: it writes only in these directories (repeatable)',
          collect,
          [],
        )
        .option('--write-nowhere', 'confine the child: it writes nowhere (but a clean HOME and devices)')
        .option(
          '--connect <port>',
          'confine the child: TCP connections only to this port (repeatable)',
          collect,
          [],
        )
        .option('--connect-nowhere', 'confine the child: no TCP connection at all')
        .option('--kill-detached', 'when the child exits, kill what it left running, detached processes too')
        .option('--allow-missing-secret', 'accept secret names the vault does not hold yet (added later)')
        .option(
          '--allow-interpreter',
          'accept a target that runs code its caller chooses (sh, python3, node, env, npm, git…)',
        ),
    );
  taskOptions(
    task
      .command('add')
      .description('add a task: which secrets, for which binaries, under which limits')
      .argument('<name>', 'task name, [A-Za-z0-9][A-Za-z0-9_.-]*')
      .argument('<secrets...>', 'names of the secrets the task injects')
      .option('--replace', 'replace the task of that name whole, if there is one'),
  ).action(async (name: string, secrets: string[], options: TaskAddOptions) => {
    await (await load()).cmdTaskAdd(name, secrets, options);
  });
  taskOptions(
    task
      .command('edit')
      .description('change a task: the fields given replace the stored ones, the rest is kept')
      .argument('<name>', 'task name')
      .argument('[secrets...]', 'the new list of secret names (default: keep)')
      .option(
        '--clear <field>',
        'remove a field: via, ttl, rate, env-pass, pin, home, write, connect or detached (repeatable)',
        collect,
        [],
      ),
  ).action(async (name: string, secrets: string[], options: TaskEditOptions) => {
    await (await load()).cmdTaskEdit(name, secrets, options);
  });
  withPassOptions(task.command('remove').description('remove a task').argument('<name>', 'task name')).action(
    async (name: string, options: PassOptions) => {
      await (await load()).cmdTaskRemove(name, options);
    },
  );
  policy
    .command('explain')
    .description('say whether a cr exec would be allowed, step by step (runs nothing)')
    .argument('<task>', 'task name')
    .argument('<argv...>', 'the command line, after --')
    .option('--caller <path>', 'explain for this program instead of cr')
    .option('--json', 'machine-readable output')
    .action(async (name: string, argv: string[], options: { caller?: string; json?: boolean }) => {
      await (await load()).cmdExplain(name, argv, options);
    });
}

function auditCommands(program: Command): void {
  const load = (): Promise<AuditModule> => import('./commands/audit.ts');
  const audit = program.command('audit').description('read and check the tamper-evident audit log');
  audit
    .command('tail')
    .description('the last records (and, with --follow, new ones as they come)')
    .addOption(new Option('-n, --lines <n>', 'how many records (default 20)').argParser(integer('-n')))
    .option('-f, --follow', 'keep printing new records (Ctrl-C stops)')
    .option('--json', 'one JSON record per line')
    .action(async (options: ReadOptions & { lines?: number; follow?: boolean }) => {
      await (await load()).cmdTail(options);
    });
  audit
    .command('show')
    .description('records matching a filter')
    .option('--task <name>', 'only this task')
    .option('--type <type>', 'only this event type (e.g. task-start)')
    .option('--since <when>', 'a date/time, or a duration back from now (2h, 7d)')
    .option('--json', 'one JSON record per line')
    .action(async (options: ReadOptions & { task?: string; since?: string; type?: string }) => {
      await (await load()).cmdShow(options);
    });
  audit
    .command('verify')
    .description('check the hash chain and MACs; exit 14 and print the first bad line on a problem')
    .option('--json', 'machine-readable report')
    .action(async (options: ReadOptions) => {
      await (await load()).cmdVerify(options);
    });
  audit
    .command('export')
    .description('the verified log as NDJSON with a MACed trailer (needs the unlocked service)')
    .option('-o, --output <file>', 'write to a new file (mode 600) instead of stdout')
    .action(async (options: { output?: string }) => {
      await (await load()).cmdExport(options);
    });
}

function grantsCommands(program: Command): void {
  const load = (): Promise<typeof GrantsModuleNs> => import('./commands/grants.ts');
  const grants = program
    .command('grants')
    .description('approval grants: which caller may run which task without asking, until when');
  grants
    .command('list')
    .description('the live grants (no passphrase needed; lock forgets them all)')
    .option('--json', 'machine-readable output (ISO UTC times)')
    .action(async (options: Json) => {
      await (await load()).cmdGrantsList(options);
    });
  grants
    .command('revoke')
    .description('forget a grant at once: the next request of that caller asks again (audited)')
    .argument('[id]', 'the grant id cr grants list shows')
    .option('--all', 'revoke every grant')
    .action(async (id: string | undefined, options: { all?: boolean }) => {
      await (await load()).cmdGrantsRevoke(id, options);
    });
}

function serviceCommands(program: Command): void {
  const load = (): Promise<ServiceModule> => import('./commands/service.ts');
  const service = program
    .command('service')
    .description('run the service under systemd (a user unit) or launchd instead of on demand');
  const launchd = '--launchd';
  const launchdHelp = 'the launchd agent (macOS) instead of the systemd user unit';
  service
    .command('install')
    .description("write the unit (or agent) that runs this installation's service for this Cora home")
    .option(launchd, launchdHelp)
    .option('--strict', 'full sandbox; tasks inherit it: no network, writes only in the Cora home')
    .option('--print', 'print the file instead of writing it')
    .action(async (options: InstallOptions) => {
      process.exitCode = (await load()).cmdServiceInstall(options);
    });
  service
    .command('uninstall')
    .description('stop and remove the unit (or agent) cr wrote; never a file it did not write')
    .option(launchd, launchdHelp)
    .action(async (options: ServiceOptions) => {
      process.exitCode = (await load()).cmdServiceUninstall(options);
    });
  service
    .command('status')
    .description('whether the unit is installed, where, and whether systemd runs it')
    .option(launchd, launchdHelp)
    .option('--json', 'machine-readable output')
    .action(async (options: ServiceOptions & Json) => {
      process.exitCode = (await load()).cmdServiceStatus(options);
    });
}

/** The whole `cr` command line (exported for the completion tests, which walk it). */
export function buildProgram(): Command {
  const program = new Command('cr')
    .description('Cora: keep secrets out of agents and scripts')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run cr help for the list of commands)')
    .helpCommand(false) // ours below reaches nested commands (cr help policy task add)
    .exitOverride();

  withPassOptions(
    program.command('init').description('create a new vault (asks for the passphrase twice)'),
  ).action(async (options: PassOptions) => {
    await (await import('./commands/init.ts')).cmdInit(options);
  });
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
  ).action(async (options: UnlockOptions) => {
    await (await import('./commands/unlock.ts')).cmdUnlock(options);
  });
  program
    .command('lock')
    .description('wipe every secret from the service memory')
    .action(async () => {
      await (await import('./commands/lock.ts')).cmdLock();
    });
  program
    .command('stop')
    .description('lock, then end the service (a service that does not answer is sent SIGTERM)')
    .action(async () => {
      process.exitCode = await (await import('./commands/stop.ts')).cmdStop();
    });
  program
    .command('status')
    .description('show whether the service runs and is unlocked')
    .option('--json', 'machine-readable output')
    .action(async (options: Json) => {
      await (await import('./commands/status.ts')).cmdStatus(options);
    });
  secretsCommands(program);
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
    .action(async (options: PasswdOptions) => {
      await (await import('./commands/passwd.ts')).cmdPasswd(options);
    });
  program
    .command('exec')
    .description("run a command under a task: the task's secrets reach its environment, never you")
    .usage('TASK -- COMMAND [ARG…]')
    .argument('<task>', 'task name (cr policy task add)')
    .argument('<argv...>', 'the command and its arguments, after --')
    .action(async (task: string, argv: string[]) => {
      process.exitCode = await (await import('./commands/exec.ts')).cmdExec(task, argv);
    });
  program
    .command('agent')
    .description('run an agent (claude, codex, a script) in a Landlock sandbox it cannot leave')
    .usage('[--profile NAME] [--allow-write PATH…] -- COMMAND [ARG…]')
    .argument('<argv...>', 'the agent and its arguments, after --')
    .option('--profile <name>', 'the dirs the agent keeps its state in: generic (default), claude, codex')
    .option('--allow-read <path>', 'readable even inside a --protect path (repeatable)', collect, [])
    .option('--allow-write <path>', 'also writable (repeatable; never the Cora home)', collect, [])
    .option('--protect <path>', 'neither readable nor writable, e.g. a .env file (repeatable)', collect, [])
    .option('--dry-run', 'print the Landlock rules and the program, run nothing')
    .option('--unconfined', 'run the agent WITHOUT a sandbox when the kernel cannot confine it')
    .action(async (argv: string[], options: AgentOptions) => {
      process.exitCode = await (await import('./commands/agent.ts')).cmdAgent(argv, options);
    });
  withPassOptions(
    program
      .command('approve')
      .description('approve or deny tasks waiting for a human (asks for the passphrase once)'),
  ).action(async (options: PassOptions) => {
    await (await import('./commands/approve.ts')).cmdApprove(options);
  });
  grantsCommands(program);
  auditCommands(program);
  policyCommands(program);
  serviceCommands(program);
  program
    .command('verify')
    .description('what the service would decide for a process as a caller (runs nothing)')
    .option('--pid <pid>', 'the process id')
    .option('--json', 'machine-readable output')
    .action(async (options: VerifyOptions) => {
      await (await import('./commands/verify.ts')).cmdVerify(options);
    });
  program
    .command('doctor')
    .description('check this machine and this Cora home: each line ok, warn or fail, with the fix')
    .option('--json', 'machine-readable output')
    .action(async (options: Json) => {
      process.exitCode = await (await import('./commands/doctor.ts')).cmdDoctor(options);
    });
  program
    .command('tui')
    .description('the terminal UI: setup, status, secrets, tasks, audit and approvals')
    .action(async () => {
      process.exitCode = await (await import('./commands/tui.ts')).cmdTui();
    });
  program
    .command('completion')
    .description('print the shell completion script: source <(cr completion bash), zsh; fish: | source')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string) => {
      process.stdout.write((await import('./completion.ts')).completionScript(program, shell));
    });
  program
    .command('help')
    .description('show the full help of a command: cr help policy task add')
    .argument('[command...]', 'the command (and subcommands)')
    .action(async (names: string[]) => {
      (await import('./completion.ts')).findCommand(program, names).outputHelp();
    });
  program
    .command('version')
    .description('print the version')
    .option('--json', 'machine-readable output')
    .action((options: Json) => {
      if (options.json === true) printJson({ version: VERSION, node: process.version });
      else out(`cr ${VERSION} (node ${process.version})`);
    });
  return program;
}

/**
 * Run the whole `cr` program (every command) on `argv`.
 * @param argv - `process.argv`
 * @throws whatever a command throws (main.ts reports it)
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}
