// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr doctor [--json]`: what this machine and this Cora home give Cora's promises, one line
 * per check (ok, warn or fail, with the fix), read from the kernel and the files themselves.
 * Each check catches its own errors and reports them as its finding: a broken check never
 * hides the others. Exit 0 when nothing fails, 1 otherwise. The judgements live in
 * `doctor-checks.ts`; the facts are gathered here.
 */
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { visible } from '@cora/display';
import { peerIdentity, processIdentity } from '@cora/identity';
import { DEFAULT_LIMITS } from '@cora/memstore';
import { landlockAbiNeeded } from '@cora/policy';
import { landlockAbi } from '@cora/sandbox';
import { isCrError } from '../../shared/errors.ts';
import { coraHome, ensurePrivateDir, serviceSocketPath, vaultPath } from '../../shared/paths.ts';
import { connectService, type Service } from '../client.ts';
import {
  classifyCorePattern,
  classifyLandlock,
  classifyMemlock,
  classifyNode,
  classifyYama,
  fail,
  formatDoctor,
  ok,
  parseLimit,
  warn,
  type DoctorResult,
  type Finding,
} from '../doctor-checks.ts';
import { out, printJson } from '../output.ts';
import { AGENT_MIN_ABI } from './agent.ts';
import { auditReport } from './audit.ts';

/** Exit code of `cr doctor` when a check fails (README "Exit codes"). */
const EXIT_FAILED = 1;

/** What the checks share: the home, and the service when one answered. */
interface Context {
  readonly home: string;
  readonly vault: boolean;
  /** The running service, null when none runs, or why connecting failed. */
  readonly service: Service | null | Error;
  /** The service's pid, from `status`, when it runs. */
  readonly pid: number | null;
  readonly state: 'locked' | 'unlocked' | null;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

function node(): Finding {
  let path = process.execPath;
  try {
    path = realpathSync(path);
  } catch {
    // The path Node was started by is still worth naming.
  }
  return classifyNode(process.versions.node, path);
}

function memlock(context: Context): Finding {
  // The service's own limit when it runs; else ours, which the service started by cr inherits.
  const source = context.pid === null ? 'self' : String(context.pid);
  const text = readText(`/proc/${source}/limits`);
  const limit = text === null ? null : parseLimit(text, 'Max locked memory');
  if (limit === null) return warn(`cannot read /proc/${source}/limits`, 'check that /proc is mounted');
  let vaultBytes: number | null = null;
  if (context.vault) vaultBytes = statSync(vaultPath(context.home)).size;
  const swaps = readText('/proc/swaps') ?? '';
  const swapActive = swaps.trim().split('\n').length > 1;
  const finding = classifyMemlock(limit.soft, vaultBytes, DEFAULT_LIMITS.maxTotalBytes, swapActive);
  return { ...finding, detail: `${context.pid === null ? 'cr' : 'the service'}: ${finding.detail}` };
}

function coreDumps(context: Context): Finding {
  const pattern = readText('/proc/sys/kernel/core_pattern');
  const own = parseLimit(readText('/proc/self/limits') ?? '', 'Max core file size');
  if (pattern === null || own === null) {
    return warn(
      'cannot read /proc/sys/kernel/core_pattern or /proc/self/limits',
      'check that /proc is mounted',
    );
  }
  const cli = classifyCorePattern(pattern.split('\n')[0] ?? '', own.soft);
  if (context.pid === null) return cli;
  // The running service: RLIMIT_CORE 0 shows in its limits; non-dumpable shows as /proc/<pid>
  // files owned by root (for anyone but root, who owns them either way).
  const core = parseLimit(readText(`/proc/${String(context.pid)}/limits`) ?? '', 'Max core file size');
  if (core?.soft !== 0n || core.hard !== 0n) {
    return fail(
      `the service (pid ${String(context.pid)}) has a core limit other than 0; it sets 0 before it reads a secret`,
      'cr lock, stop the service and start it with cr unlock; if it persists, report it',
    );
  }
  const root = process.getuid?.() === 0;
  const owner = lstatSync(`/proc/${String(context.pid)}/status`).uid;
  if (!root && owner !== 0) {
    return fail(
      `the service (pid ${String(context.pid)}) is dumpable: a process of yours could attach to it`,
      'cr lock, stop the service and start it with cr unlock; if it persists, report it',
    );
  }
  const dumpable = root
    ? 'core limit 0 (as root, the non-dumpable flag is not visible)'
    : 'non-dumpable, core limit 0';
  return { ...cli, detail: `service ${dumpable}; ${cli.detail}` };
}

function ptrace(): Finding {
  const scope = readText('/proc/sys/kernel/yama/ptrace_scope');
  return classifyYama(scope === null ? null : scope.trim());
}

/** A connection to ourselves through a Unix socket in a private temporary directory. */
async function selfConnection<T>(use: (accepted: Socket) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'cora-doctor-'));
  const server = createServer({ pauseOnConnect: true });
  let client: Socket | undefined;
  try {
    const path = join(dir, 's');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    client = createConnection(path);
    client.on('error', () => undefined);
    const socket = await accepted;
    try {
      return await use(socket);
    } finally {
      socket.destroy();
    }
  } finally {
    client?.destroy();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    await rm(dir, { recursive: true, force: true });
  }
}

/** SO_PEERPIDFD and pidfd_open, through the same calls the service makes. */
async function pidfds(): Promise<Finding> {
  const peer = await selfConnection((socket) => peerIdentity(socket));
  const peerPinned = peer.identity.pinned;
  peer.close();
  const self = await processIdentity(process.pid);
  const pidPinned = self.identity.pinned;
  self.close();
  const missing = [
    peerPinned ? null : 'SO_PEERPIDFD (Linux 6.5)',
    pidPinned ? null : 'pidfd_open (Linux 5.3)',
  ];
  const absent = missing.filter((m): m is string => m !== null);
  if (absent.length === 0) {
    return ok('SO_PEERPIDFD and pidfd_open: callers are pinned by a pidfd, so a recycled pid cannot pass');
  }
  return warn(
    `no ${absent.join(', no ')}: callers are checked by their start time only (weaker evidence)`,
    'a newer kernel (Linux 6.5+)',
  );
}

function landlock(): Finding {
  // `write` rules need less than `connect` rules: the task confinement that needs the most.
  return classifyLandlock(landlockAbi(), AGENT_MIN_ABI, landlockAbiNeeded({ connect: [] }));
}

function home(context: Context): Finding {
  if (!existsSync(context.home)) {
    return warn(`no Cora home at ${context.home} yet`, 'cr init creates it (0700) with a new vault');
  }
  try {
    ensurePrivateDir(context.home, false);
  } catch (error) {
    if (isCrError(error, 'UNSAFE_PATH')) {
      return fail(error.message, `chmod 700 ${context.home} (and make sure it is yours and not a symlink)`);
    }
    throw error;
  }
  if (!context.vault) return warn(`${context.home} is private but holds no vault`, 'cr init');
  return ok(`${context.home} is a private directory (0700, yours) with a vault`);
}

/** The client checks the socket's directory before it connects (`@cora/ipc`): its refusal is the finding. */
function unsafeSocketDir(context: Context): boolean {
  return isCrError(context.service, 'UNSAFE_PATH');
}

function socketDir(context: Context): Finding {
  const dir = dirname(serviceSocketPath(context.home));
  if (unsafeSocketDir(context)) {
    return fail(
      (context.service as Error).message,
      `chmod 700 ${dir}, or remove it while no service runs (the service creates it again)`,
    );
  }
  if (!existsSync(dir)) return ok(`${dir} does not exist yet (the service creates it, 0700)`);
  return ok(`${dir} is private (0700, yours)`);
}

function service(context: Context): Finding {
  if (unsafeSocketDir(context)) {
    return warn('not checked: the socket directory is not private', 'fix the socket-dir check first');
  }
  if (context.service instanceof Error) {
    return fail(
      `the socket ${serviceSocketPath(context.home)} does not lead to your Cora service: ${context.service.message}`,
      'stop whatever holds the socket, then cr unlock',
    );
  }
  if (context.service === null) {
    if (!context.vault) return warn('not running, and there is no vault yet', 'cr init, then cr unlock');
    return ok('not running (the vault is locked); cr unlock starts it');
  }
  return ok(
    `running (pid ${String(context.pid)}), ${String(context.state)}, and it is this installation's service`,
  );
}

async function audit(context: Context): Promise<Finding> {
  // Without a trustworthy service, the chain is checked here, as with none running.
  const report = await auditReport(context.home, context.service instanceof Error ? null : context.service);
  const problem = report.firstProblem;
  if (problem !== null) {
    return fail(
      `${problem.file}:${String(problem.line)}: ${problem.kind}: ${problem.message}`,
      'cr audit verify shows the first bad line; the log was changed or damaged: keep a copy as evidence, then move it aside (the service starts a new chain)',
    );
  }
  if (report.records === 0) return warn('no audit log yet', 'cr init starts it');
  if (!report.macChecked) {
    return ok(
      `${String(report.records)} records chain correctly; MACs not checked while locked (cr unlock, then cr doctor)`,
    );
  }
  return ok(`${String(report.records)} records, chain and MACs check`);
}

/** Windows: what the Linux kernel checks stand for there, and what is missing (SECURITY.md). */
function windowsPlatform(): Finding {
  return warn(
    'Windows: a process of yours can read the service memory (no non-dumpable flag); no Landlock (cr agent and confined tasks are not offered), no pty, no pinned targets',
    'see SECURITY.md, "Windows"; give agents cr exec only',
  );
}

/** Connect without ever starting a service; a refusal (an impostor) is the finding. */
async function gather(): Promise<Context> {
  const home = coraHome();
  const vault = existsSync(vaultPath(home));
  let service: Service | null | Error;
  try {
    service = await connectService(home);
  } catch (error) {
    service = error instanceof Error ? error : new Error(String(error));
  }
  let pid: number | null = null;
  let state: Context['state'] = null;
  if (service !== null && !(service instanceof Error)) {
    try {
      const status = await service.status();
      pid = status.pid;
      state = status.state;
    } catch (error) {
      service.close();
      service = error instanceof Error ? error : new Error(String(error));
    }
  }
  return { home, vault, service, pid, state };
}

/** Run `check`; whatever it throws becomes its finding, never a stack. */
async function run(name: string, check: () => Finding | Promise<Finding>): Promise<DoctorResult> {
  try {
    return { check: name, ...(await check()) };
  } catch (error) {
    return {
      check: name,
      status: 'fail',
      detail: `the check itself failed: ${reason(error)}`,
      fix: 'report it',
    };
  }
}

/**
 * Run every check and print them.
 * @param options - `json`: an array of `{check, status, detail, fix}`
 * @returns the exit code: 0 when no check failed, 1 otherwise
 */
export async function cmdDoctor(options: { json?: boolean }): Promise<number> {
  const context = await gather();
  const results: DoctorResult[] = [];
  try {
    results.push(await run('node', node));
    if (process.platform === 'win32') {
      // The Linux kernel checks have no Windows counterpart: say what that leaves instead.
      results.push(await run('platform', windowsPlatform));
    } else {
      results.push(await run('memlock', () => memlock(context)));
      results.push(await run('core-dumps', () => coreDumps(context)));
      results.push(await run('ptrace', ptrace));
      results.push(await run('pidfd', pidfds));
      results.push(await run('landlock', landlock));
    }
    results.push(await run('home', () => home(context)));
    if (process.platform !== 'win32') results.push(await run('socket-dir', () => socketDir(context)));
    results.push(await run('service', () => service(context)));
    results.push(await run('audit', () => audit(context)));
  } finally {
    if (context.service !== null && !(context.service instanceof Error)) context.service.close();
  }
  if (options.json === true) printJson(results);
  else for (const line of formatDoctor(results)) out(visible(line));
  return results.some((r) => r.status === 'fail') ? EXIT_FAILED : 0;
}
