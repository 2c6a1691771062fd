// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The Cora service process (architecture §9), started by `cr unlock` through `launcher.ts`.
 * Order matters: harden (no core dumps, no ptrace) and refuse a tampered runtime before
 * anything else; only then listen and, on `unlock`, read secrets.
 */
import { lstatSync } from 'node:fs';
import inspector from 'node:inspector';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditLog, callerSummary, type AuditReason } from '@cora/audit';
import { createIpcServer, isIpcError, type IpcServer } from '@cora/ipc';
import { peerIdentity } from '@cora/identity';
import { hardenProcess, isDangerousNodeFlag } from '../shared/harden.ts';
import { loadUserSid } from '../shared/win32-user.ts';
import { EXIT_NOT_OWNER, claimOwnership, stillOwner } from '../shared/owner-lock.ts';
import { serviceSocketPath, vaultPath } from '../shared/paths.ts';
import { gateHandlers, ownFingerprint, policyNeedsHash, policyRefusal, refusalReason } from './authorize.ts';
import { Approvals } from './approvals.ts';
import { ServiceAudit } from './audit.ts';
import { createHandlers, type Peer } from './handlers.ts';
import { configureChildren } from './exec/confine.ts';
import { killAllDescendants } from './exec/descendants.ts';
import { ServiceState } from './state.ts';
import { startProblem } from './start-check.ts';
import { StatusPolls } from './status-polls.ts';
import { VaultHistory } from './vault-history.ts';
import { VERSION } from '../shared/version.ts';

/** Exit code when the service dies of an unexpected error (EX_SOFTWARE). */
const EXIT_CRASH = 70;
/** Exit code when the runtime looks tampered with or the service cannot start (EX_CONFIG). */
const EXIT_REFUSED = 78;

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} cora-service[${String(process.pid)}]: ${message}\n`);
}

/** `{ [key]: value }` when value is defined, else `{}` (exactOptionalPropertyTypes). */
function optionalEntry<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: number });
}

/** Whether something accepts connections on `path` (within half a second). */
function somethingListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    const done = (answer: boolean): void => {
      probe.destroy();
      resolve(answer);
    };
    probe.once('connect', () => {
      done(true);
    });
    probe.once('error', () => {
      done(false);
    });
    setTimeout(() => {
      done(false);
    }, 500).unref();
  });
}

/** The inode at `path`, or null when nothing is there. */
function inodeOf(path: string): number | null {
  try {
    return lstatSync(path).ino;
  } catch {
    return null;
  }
}

function fail(message: string, code: number): never {
  log(message);
  process.exit(code);
}

// 0. What we were really started with, asked of the kernel: process.env and execArgv are what
// code already inside could have edited. Before hardening: once non-dumpable, /proc/self/environ
// belongs to root.
let started: string | null;
try {
  started = startProblem();
} catch (error) {
  started = `its start environment cannot be checked (${error instanceof Error ? error.message : String(error)})`;
}
if (started !== null) fail(`refusing to start: ${started}`, EXIT_REFUSED);

// 1. Hardening first (architecture §9): before any secret can be read.
try {
  hardenProcess();
} catch (error) {
  fail(`refusing to start: ${error instanceof Error ? error.message : String(error)}`, EXIT_REFUSED);
}

// 2. A runtime someone could have injected code or a debugger into is refused.
if ((process.env['NODE_OPTIONS'] ?? '') !== '') fail('refusing to start: NODE_OPTIONS is set', EXIT_REFUSED);
const badFlag = process.execArgv.find((flag) => isDangerousNodeFlag(flag));
if (badFlag !== undefined) fail(`refusing to start: Node flag ${badFlag} is not allowed`, EXIT_REFUSED);
if (!process.execArgv.includes('--disable-sigusr1')) {
  fail('refusing to start: the service must run with --disable-sigusr1', EXIT_REFUSED);
}
if (inspector.url() !== undefined) fail('refusing to start: an inspector is open', EXIT_REFUSED);

// 3. Settings from the command line written by launcher.ts.
function arg(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}
function msArg(name: string): number {
  const value = Number(arg(name) ?? '0');
  if (!Number.isSafeInteger(value) || value < 0) fail(`bad ${name}`, EXIT_REFUSED);
  return value;
}
function optionalArg(name: string): number | undefined {
  return arg(name) === undefined ? undefined : msArg(name);
}
const home = arg('--home');
if (home === undefined) fail('missing --home', EXIT_REFUSED);
// Windows: the user's SID names the pipe and checks the home's DACL (win32-user.ts).
try {
  await loadUserSid();
} catch (error) {
  fail(`refusing to start: ${error instanceof Error ? error.message : String(error)}`, EXIT_REFUSED);
}

// 4. One service per vault (owner-lock.ts): before anything is written. A second service
// started meanwhile (another shell, another environment) exits here and writes nothing.
let ownerFd = -1;
try {
  const claim = claimOwnership(home);
  if (!claim.owned) process.exit(EXIT_NOT_OWNER);
  ownerFd = claim.fd;
} catch (error) {
  fail(`refusing to start: ${error instanceof Error ? error.message : String(error)}`, EXIT_REFUSED);
}
// A live listener on the vault's socket while we hold a fresh lock means the lock file was
// removed under a running service: that one owns the vault; leave without writing anything.
if (await somethingListens(serviceSocketPath(home))) process.exit(EXIT_NOT_OWNER);

// 5. The audit log (architecture §10). A log that cannot be opened keeps the service from starting:
// it would have to refuse every request anyway (G7).
let auditLog: AuditLog;
try {
  auditLog = await AuditLog.open({
    dir: home,
    ...optionalEntry('maxBytes', optionalArg('--audit-max-bytes')),
    ...optionalEntry('maxAgeMs', optionalArg('--audit-max-age-ms')),
    ...optionalEntry('keep', optionalArg('--audit-keep')),
  });
} catch (error) {
  fail(
    `refusing to start: the audit log cannot be opened: ${error instanceof Error ? error.message : String(error)}`,
    EXIT_REFUSED,
  );
}
const audit = new ServiceAudit(auditLog, log);
const polls = new StatusPolls((event) => {
  audit.note(event);
});
/** Connections whose `connect` record (or status poll) is written. */
const recorded = new WeakSet<Peer>();
const approvals = new Approvals(optionalEntry('timeoutMs', optionalArg('--approval-timeout-ms')));
audit.note({ type: 'service-start', pid: process.pid, version: VERSION });

// The write history the log vouches for; a write a crash left half done is resolved here.
let history: VaultHistory;
try {
  history = await VaultHistory.open(audit, home, vaultPath(home));
} catch (error) {
  fail(
    `refusing to start: the vault's write history cannot be read: ${error instanceof Error ? error.message : String(error)}`,
    EXIT_REFUSED,
  );
}

const state = new ServiceState({
  vaultPath: vaultPath(home),
  history,
  report: log,
  idleTimeoutMs: msArg('--idle-timeout-ms'),
  lifetimeMs: msArg('--lifetime-ms'),
  onUnlock: (key) => {
    auditLog.setKey(key);
  },
  onLock: (reason) => {
    log(`locked (${reason})`);
    // `lock` for a request was noted by its handler, with the caller. Either way the record
    // is MACed before the key goes: that seals the head (architecture §10).
    polls.flush();
    if (reason !== 'request' && reason !== 'stop') audit.note({ type: 'lock', reason });
    approvals.clear();
    // No process the service started keeps a secret past lock, setsid daemons included.
    killAllDescendants();
    auditLog.setKey(null);
  },
});

let server: IpcServer | undefined;
let stopping = false;

/** Wipe first, then close: the secrets go even if closing hangs. `shutdown`: `cr stop` asked. */
function shutdown(
  code: number,
  why: string,
  reason: 'signal' | 'shutdown' | 'error' = code === 0 ? 'signal' : 'error',
): void {
  try {
    state.dispose();
  } catch {
    // Wiping must never keep us from exiting.
  }
  if (stopping) return;
  stopping = true;
  log(`stopping (${why})`);
  polls.flush();
  audit.note({ type: 'service-stop', reason });
  const done: () => never = () => process.exit(code);
  // Bounded: a slow close must not keep a wiped process around (the secrets are already gone;
  // a socket file left behind is detected as stale by the next service).
  setTimeout(done, 500).unref();
  const closing = server === undefined ? Promise.resolve() : server.close();
  closing
    .then(
      () => auditLog.close(),
      () => auditLog.close(),
    )
    .then(done, done);
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.on(signal, () => {
    shutdown(0, signal);
  });
}
// With --disable-sigusr1 Node does not open an inspector; a listener keeps SIGUSR1's default
// action (terminate) from killing the service, and SIGUSR2 likewise.
for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
  process.on(signal, () => {
    log(`ignored ${signal}`);
  });
}
process.on('uncaughtException', (error) => {
  state.lock('error');
  log(`uncaught error: ${error.name}`);
  process.exit(EXIT_CRASH);
});
process.on('unhandledRejection', () => {
  state.lock('error');
  log('unhandled rejection');
  process.exit(EXIT_CRASH);
});
process.on('exit', () => {
  state.dispose();
});

// 6. Listen. This installation's `cr` CLI may always call; anything else only when the
// unlocked vault's policy admits it (architecture §7), checked at connect and again per request.
const cliScript = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../cli/entry.ts' : './cli.js', import.meta.url),
);
const fingerprint = ownFingerprint(cliScript);
const path = serviceSocketPath(home);
try {
  server = await createIpcServer<Peer>({
    socketPath: path,
    serverName: `cora/${VERSION}`,
    // A starved `cr` may take seconds between connect and hello; silent connections cannot
    // crowd others out anyway (the server cuts them first to make room).
    limits: { handshakeTimeoutMs: 10_000 },
    authenticate: async (socket) => {
      const policy = state.unlocked ? state.policy() : null;
      const verified = await peerIdentity(socket, { hashExe: policyNeedsHash(policy) });
      const reason = refusalReason(verified.identity, fingerprint);
      const isCli = reason === null;
      const caller = callerSummary(verified.identity, isCli);
      const refusal = policyRefusal({ identity: verified.identity, isCli }, policy, 'connect');
      if (refusal !== null) {
        verified.close();
        audit.note({ type: 'caller-refused', caller, op: 'connect', reason: refusal.reason as AuditReason });
        log(
          `refused pid ${String(verified.identity.pid)} (${verified.identity.exe}): ${String(reason)}; policy: ${refusal.reason}`,
        );
        throw new Error(`caller refused: ${String(reason)}`);
      }
      // The `connect` record waits for the first request that is not `status` (StatusPolls).
      return { verified, isCli };
    },
    handlers: gateHandlers(
      createHandlers(
        state,
        { socket: path, version: VERSION, cli: fingerprint },
        {
          audit,
          approvals,
          auditDir: home,
          // A timer, not at once: the reply is written before the connections are closed.
          stop: () => {
            setTimeout(() => {
              shutdown(0, 'cr stop', 'shutdown');
            }, 0);
          },
        },
      ),
      (type, peer) => {
        const gatePeer = { identity: peer.verified.identity, isCli: peer.isCli };
        if (!recorded.has(peer)) {
          recorded.add(peer);
          if (type === 'status') polls.poll(audit.caller(gatePeer));
          else audit.note({ type: 'connect', caller: audit.caller(gatePeer) });
        }
        // G5: still the process that connected, running the same executable.
        const refusal = peer.verified.stillSame()
          ? policyRefusal(gatePeer, state.unlocked ? state.policy() : null, type)
          : { reason: 'PEER_CHANGED', message: 'the calling process changed since it connected' };
        if (refusal !== null) {
          audit.note({
            type: 'caller-refused',
            caller: audit.caller(gatePeer),
            op: type,
            reason: refusal.reason as AuditReason,
          });
        }
        return refusal;
      },
    ),
    onProtocolError: (peer, code, kernel) => {
      const who = peer?.verified.identity ?? kernel; // before identification, the kernel's word
      audit.note({ type: 'protocol-error', pid: who?.pid ?? null, ...(who && { uid: who.uid }), code });
    },
    onDisconnect: (peer) => {
      peer.verified.close();
    },
    onInternalError: (error, type) => {
      log(`internal error in ${type}: ${error instanceof Error ? error.name : 'non-error'}`);
    },
  });
} catch (error) {
  // We own the vault, so whatever answers on its socket is not a Cora service of this vault.
  if (isIpcError(error, 'ALREADY_RUNNING'))
    fail(`refusing to start: another process listens on ${path}; stop it and retry`, EXIT_REFUSED);
  fail(`cannot listen on ${path}: ${error instanceof Error ? error.message : String(error)}`, EXIT_REFUSED);
}
// Subreaper, and clean HOMEs in the run directory (exec/confine.ts), before the first spawn.
// Windows has neither: each child runs in its own kill-on-close job (exec/spawn-win32.ts).
if (process.platform !== 'win32') configureChildren(home, dirname(path));
log(
  `listening on ${path} (pid ${String(process.pid)}, idle timeout ${String(msArg('--idle-timeout-ms'))} ms)`,
);

// 7. Stay the owner. If the lock file or the socket is removed or replaced under us (a same-user
// process), clients can no longer reach us and a second service could start: wipe and leave
// rather than linger unlocked where nobody can lock us.
// Windows: a pipe is no file to replace (its name is ours while we hold an instance), and
// stat-ing its path would connect to it.
const windows = process.platform === 'win32';
const socketIno = windows ? null : inodeOf(path);
setInterval(() => {
  if (!stillOwner(home, ownerFd) || (!windows && inodeOf(path) !== socketIno))
    shutdown(0, 'lost the lock file or the socket');
}, 2000).unref();
