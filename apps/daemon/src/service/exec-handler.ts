// SPDX-License-Identifier: AGPL-3.0-only
// The `exec` request from policy to exit status (architecture §8): authorize, approve, record,
// spawn, stream masked output with back-pressure both ways (pipes, or a pty for a terminal
// caller; a passthrough task runs on the caller's own fds). Past 500 lines because these
// steps share one request's state and each failure must wipe and audit the same way.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { IpcError, adoptWithOwnBuffer, type IpcHandler, type RequestContext } from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import type { AuditEvent, CallerSummary } from '@cora/audit';
import type { Masker } from '@cora/masker';
import {
  childEnvironment,
  evaluate,
  type Decision,
  type GrantQuery,
  type Policy,
  type Task,
} from '@cora/policy';
import type { Approvals } from './approvals.ts';
import { waitForApproval } from './approval-wait.ts';
import { auditTaskName, type ServiceAudit } from './audit.ts';
import { maskedCommand, maskersFor } from './command-record.ts';
import { OUTPUT_PIPE_BYTES, isSpawnError, spawnChild, type SpawnedChild } from './exec/spawn.ts';
import { openTarget } from './exec/target-file.ts';
import { childLandlockAbi, childRunDir } from './exec/confine.ts';
import { closeFds, listenForStdio } from '../shared/fd-pass.ts';
import { resizePty } from './exec/pty.ts';
import { guarded } from './errors.ts';
import type { Peer } from './peer.ts';
import { resolveCommand } from '../shared/resolve.ts';

/** What the exec handler needs from the service state (issue 4; `ServiceState` implements it). */
export interface ExecDeps {
  /** The policy kept in the vault (architecture §7). */
  policy(): Policy;
  /** When the vault was unlocked (ms since the epoch), `null` while locked. */
  unlockedAt(): number | null;
  /**
   * Fresh copies of the named secrets; the caller wipes them.
   * @throws IpcError `LOCKED` or `NOT_FOUND`.
   */
  secretsFor(names: readonly string[]): { name: string; value: SecretBuf }[];
  /** The first of `names` the vault does not hold, or null. */
  missingSecret(names: readonly string[]): string | null;
  /** Count the request as activity for the idle timeout. */
  touch?(): void;
}

/** Optional hooks of the exec handler (tests, bench). */
export interface ExecInfo {
  /** PATH used when the caller sent none (default: the service's own). */
  readonly defaultPath?: string;
  /** Clock in ms since the epoch (tests). */
  now?(): number;
  /** Called once per started child with the ms from request received to child running (bench). */
  onSpawned?(ms: number): void;
}

/** Longest rate window the policy allows (one day, `@cora/policy` POLICY_LIMITS). */
const MAX_WINDOW_MS = 24 * 60 * 60 * 1000;
/** SIGTERM → SIGKILL delay when the client goes away. */
const KILL_GRACE_MS = 2000;
/** After the child exited: how long its pipes may stay silent before they are torn down. */
const PIPE_IDLE_MS = 2000;
/** Masked output: the held-back tail is sent after this long without output. */
const FLUSH_IDLE_MS = 150;
/**
 * The same on a pty, where a keystroke's echo must show promptly. The hold-back rule still
 * keeps any piece of a value's raw or hex form (@cora/masker "Pauses"), so the shorter window
 * only lets other forms written in pieces around pauses of 20-150 ms through (SECURITY.md
 * "Interactive children").
 */
const FLUSH_IDLE_PTY_MS = 20;
/** How long a passthrough caller has to hand over its fds once asked (`fds` event). */
const HANDOFF_MS = 5000;
/** Window size of a pty whose caller sent none. */
const DEFAULT_PTY_SIZE = { cols: 80, rows: 24 } as const;
/** One read of a child's output: as much as its pipe holds (spawn.ts OUTPUT_PIPE_BYTES). */
const READ_BUFFER_BYTES = OUTPUT_PIPE_BYTES;
const FALLBACK_PATH = '/usr/local/bin:/usr/bin:/bin';

/** Refuse with the wire code that matches the decision (architecture §7 order). */
function refuse(decision: Decision): IpcError {
  switch (decision.reason) {
    case 'UNKNOWN_TASK':
      return new IpcError('NOT_FOUND', decision.message);
    case 'TARGET_NOT_FOUND':
      return new IpcError('NOT_FOUND', decision.message);
    case 'RATE_LIMITED':
      return new IpcError('TASK_RATE_LIMITED', decision.message);
    default:
      return new IpcError('NOT_ALLOWED', decision.message);
  }
}

/** The audit event of a refused decision (architecture §7: every decision carries a reason and is audited). */
function refusalEvent(
  decision: Decision,
  caller: CallerSummary,
  task: string,
  target: string | null,
): AuditEvent {
  switch (decision.reason) {
    case 'TARGET_NOT_FOUND':
    case 'TARGET_NOT_ALLOWED':
    case 'TARGET_PIN_MISMATCH':
    case 'TARGET_HASH_UNAVAILABLE':
      return { type: 'target-refused', caller, task, target, reason: decision.reason };
    case 'RATE_LIMITED':
      return { type: 'rate-limited', caller, task, limit: 'max_spawns' };
    case 'TTL_EXPIRED':
      return { type: 'rate-limited', caller, task, limit: 'ttl' };
    default:
      return { type: 'task-refused', caller, task, reason: decision.reason };
  }
}

/**
 * The `exec` handler (issue 4, architecture §7, §8): resolve argv[0], evaluate the policy, ask a
 * human when the task needs approval, start the child with the task's secrets in its
 * environment, stream its (masked) output back with back-pressure, forward stdin and signals,
 * and answer with its exit. With `tty` the child runs on a pty (exec/pty.ts): one masked
 * stream, the echo of typed input included, and `exec.resize` applied; an `output:
 * passthrough` task gets the caller's own fds 0-2 (shared/fd-pass.ts) and nothing is pumped.
 *
 * Audit (architecture §10, G7): every refusal is noted; `task-start` (caller, task, target, secret
 * names, the masked command) must be on disk before any secret is copied for the child, so a
 * log that cannot be written releases nothing (`AUDIT_UNAVAILABLE`); then `secret-injected`
 * with the child's pid and `task-end` with its exit.
 *
 * Lifetime of the child:
 * - the client goes away (`context.signal`): SIGTERM to the child's process group, SIGKILL
 *   2 s later;
 * - the child exits: SIGKILL to its process group at once, so a grandchild left behind in the
 *   group cannot hold the pipes (and the request) open forever. A descendant that left the
 *   group (setsid) is torn off its pipes after 2 s without output, and killed at lock (or at
 *   the child's exit for a task with `detached: kill`, exec/descendants.ts).
 *
 * Spawns run concurrently; the rate window of each task is kept in memory here (spawn start
 * times, pruned after one day).
 *
 * @param deps - policy, unlock time and secret copies (the service state)
 * @param audit - the service's audit log
 * @param approvals - pending approvals and grants
 * @param info - optional hooks (clock, default PATH, spawn timing)
 * @returns the handler for `exec`
 */
export function createExecHandler(
  deps: ExecDeps,
  audit: ServiceAudit,
  approvals: Approvals,
  info: ExecInfo = {},
): IpcHandler<'exec', Peer> {
  const spawns = new Map<string, number[]>();
  const now = (): number => info.now?.() ?? Date.now();
  const recentSpawns = (task: string): readonly number[] => spawns.get(task) ?? [];
  const record = (task: string, at: number): void => {
    const list = (spawns.get(task) ?? []).filter((t) => t > at - MAX_WINDOW_MS);
    list.push(at);
    spawns.set(task, list);
  };

  return (request, context) =>
    guarded(async () => {
      const received = performance.now();
      const unlockedAt = deps.unlockedAt();
      if (unlockedAt === null) throw new IpcError('LOCKED', 'the service is locked; run `cr unlock`');
      deps.touch?.();
      const argv0 = request.argv[0] ?? '';
      const searchPath = callerPath(request.env) ?? info.defaultPath ?? process.env['PATH'] ?? FALLBACK_PATH;
      const resolved = resolveCommand(argv0, searchPath, request.cwd);
      // A pinned target is opened once and hashed through that descriptor, which is what
      // then runs (target-file.ts): the decision and the spawn see the same file.
      const pinned = resolved.resolved !== null && isPinned(deps.policy(), request.task, resolved.resolved);
      await using opened = pinned ? await openTarget(resolved.resolved) : null;
      const target = opened === null ? resolved : { ...resolved, sha256: opened.sha256 };
      const identity = context.peer.verified.identity;
      const caller = audit.caller(context.peer);
      const taskName = auditTaskName(request.task);
      /** The stored grant the last evaluation relied on (not a decision made for this request). */
      const used: { grant: GrantQuery | null } = { grant: null };
      const decide = (grant: boolean): Decision => {
        used.grant = null;
        return evaluate(
          deps.policy(),
          { caller: identity, task: request.task, target },
          {
            now: now(),
            unlockedAt,
            recentSpawns,
            grants: (query) => {
              if (grant) return true;
              if (!approvals.hasGrant(query)) return false;
              used.grant = query;
              return true;
            },
            // No targetRealpaths: the resolved realpath must equal a stored target exactly, so a
            // target swapped for a symlink after the policy was written is refused.
            isCli: context.peer.isCli,
            // A task that confines its child is refused on a kernel that cannot (exec/confine.ts).
            landlockAbi: childLandlockAbi(),
          },
        );
      };

      let decision = decide(false);
      if (decision.outcome === 'needs-approval' && target.resolved !== null) {
        decision = await waitForApproval(
          { approvals, audit, task: deps.policy().tasks[request.task], secrets: deps },
          request,
          target.resolved,
          context,
          decide,
        );
      }
      if (decision.outcome !== 'allow' || target.resolved === null) {
        audit.note(refusalEvent(decision, caller, taskName, target.resolved));
        throw refuse(decision);
      }
      const policy = deps.policy();
      const task = policy.tasks[request.task];
      if (task === undefined) throw new IpcError('NOT_FOUND', `no task named ${request.task}`);
      if (process.platform === 'win32') refuseOnWindows(request.task, task, pinned, decision.output);
      const names = decision.secrets ?? [];
      const missing = deps.missingSecret(names);
      if (missing !== null) {
        audit.note({ type: 'secret-missing', caller, task: taskName, secret: missing });
        throw new IpcError(
          'NOT_FOUND',
          `the task needs the secret ${missing}, which the vault does not hold; add it: cr secrets set ${missing}`,
        );
      }
      // Count the spawn now, in the same tick as the decision: the wait for the audit record
      // below lets other requests run, and they must see this one against `max_spawns`. A
      // spawn that then fails still counts (fail closed).
      record(request.task, now());
      // One pattern table for the task's streams: stdout, stderr and the command recorded below
      // (each its own hold-back, architecture §8, G10), built once rather than three times.
      using maskers = new ExecMaskers(deps, names, decision.output === 'passthrough');
      // Fail closed (G7): no secret is released before this record is on disk. Its command is
      // masked with the task's secrets.
      const command = maskedCommand(maskers.command, request);
      maskers.command?.dispose();
      await audit.record({
        type: 'task-start',
        caller,
        task: taskName,
        target: target.resolved,
        secrets: [...names],
        output: decision.output ?? 'masked',
        reason: decision.reason,
        weak: decision.weakEvidence,
        command,
      });
      // Passthrough: the child gets the caller's own fds 0-2 (shared/fd-pass.ts), asked for
      // after the record (it says `output: passthrough`) and before the last checks below.
      using stdio = decision.output === 'passthrough' ? await receiveStdio(context) : null;
      // A pinned file may have been written in place during the waits (approval, audit):
      // hash it again through the same descriptor; from here to the spawn nothing awaits.
      if (opened !== null && (await opened.rehash()) !== opened.sha256) {
        const reason = 'TARGET_PIN_MISMATCH';
        audit.note({ type: 'target-refused', caller, task: taskName, target: target.resolved, reason });
        throw new IpcError(
          'NOT_ALLOWED',
          `${target.resolved} changed while the request waited; it was not run`,
        );
      }
      if (context.signal.aborted) throw new IpcError('NOT_ALLOWED', 'the caller went away');
      // G5 again after the waits (approval, audit): still the process that asked?
      if (!context.peer.verified.stillSame()) {
        throw new IpcError('NOT_ALLOWED', 'the calling process changed while the request waited');
      }
      // A revoke is effective at once (architecture §7): a grant revoked (or locked away) while
      // this request waited for its record is gone. Checked in the tick that spawns.
      if (used.grant !== null && !approvals.hasGrant(used.grant)) {
        audit.note({ type: 'task-refused', caller, task: taskName, reason: 'GRANT_REVOKED' });
        throw new IpcError(
          'DENIED',
          'the approval grant this request relied on was revoked meanwhile; run it again to ask an approver',
        );
      }

      const started = start(
        deps,
        decision,
        task,
        request,
        target.resolved,
        opened === null || opened.script ? undefined : opened.fd,
        maskers.take(),
        stdio?.fds,
      );
      stdio?.[Symbol.dispose](); // the child has its own copies
      void opened?.close(); // the child has its own copy (fd 3) by now; no await before the pumps start
      info.onSpawned?.(performance.now() - received);
      audit.note({ type: 'secret-injected', task: taskName, pid: started.child.pid, secrets: [...names] });
      context.send('started', { pid: started.child.pid });
      const t0 = performance.now();
      const exit =
        stdio === null ? await run(started, context) : await runPassthrough(started.child, context);
      audit.note({
        type: 'task-end',
        task: taskName,
        pid: started.child.pid,
        code: exit.code,
        signal: exit.signal,
        durationMs: Math.round(performance.now() - t0),
      });
      return exit;
    });
}

/** Whether `task` pins the file `resolved` (its `target_sha256` names that path). */
function isPinned(policy: Policy, task: string, resolved: string): boolean {
  const spec = Object.hasOwn(policy.tasks, task) ? policy.tasks[task] : undefined;
  return spec?.target_sha256 !== undefined && spec.target_sha256[resolved] !== undefined;
}

interface Started {
  readonly child: SpawnedChild;
  /**
   * The child's stdout and stderr, read into buffers we own (see readIntoOwnBuffer). On a pty
   * `stdout` is the master (read and written) and `stderr` is null; with the caller's own fds
   * (passthrough) both are null.
   */
  readonly stdout: Socket | null;
  readonly stderr: Socket | null;
  readonly maskers: readonly [Masker, Masker] | null;
}

/**
 * The maskers of one exec, from one table: the command's (disposed once recorded) and the two
 * output streams' (taken by {@link start}; disposed here when the exec ends before that).
 */
class ExecMaskers implements Disposable {
  readonly command: Masker | null;
  #streams: readonly [Masker, Masker] | null;

  constructor(source: ExecDeps, names: readonly string[], passthrough: boolean) {
    const made = maskersFor(source, names, passthrough ? 1 : 3);
    const [out, err, command] = made;
    this.command = (passthrough ? out : command) ?? null;
    this.#streams = !passthrough && out !== undefined && err !== undefined ? [out, err] : null;
  }

  /** The output streams' maskers, now the caller's (null: nothing to mask, or passthrough). */
  take(): readonly [Masker, Masker] | null {
    const streams = this.#streams;
    this.#streams = null;
    return streams;
  }

  [Symbol.dispose](): void {
    this.command?.dispose();
    this.#streams?.[0].dispose();
    this.#streams?.[1].dispose();
    this.#streams = null;
  }
}

/** Copy the secrets and build the environment, spawn, wipe the copies. Synchronous. */
function start(
  deps: ExecDeps,
  decision: Decision,
  task: Policy['tasks'][string],
  request: {
    readonly argv: readonly string[];
    readonly cwd: string;
    readonly env: Readonly<Record<string, string>>;
    readonly tty?: boolean;
    readonly cols?: number;
    readonly rows?: number;
  },
  file: string,
  fd: number | undefined,
  maskers: readonly [Masker, Masker] | null,
  stdio?: readonly [number, number, number],
): Started {
  let secrets: { name: string; value: SecretBuf }[] = [];
  try {
    secrets = deps.secretsFor(decision.secrets ?? []);
    const env = childEnvironment(request.env, task, secrets);
    const child = spawnChild({
      file,
      argv: request.argv,
      env,
      cwd: request.cwd,
      ...(fd === undefined ? {} : { fd }),
      confine: task,
      ...(stdio === undefined ? {} : { stdio }),
      // A pty on Linux only (no ConPTY on Windows, macOS's ioctls not written): pipes there.
      ...(request.tty === true && stdio === undefined && process.platform === 'linux'
        ? {
            pty: {
              cols: request.cols ?? DEFAULT_PTY_SIZE.cols,
              rows: request.rows ?? DEFAULT_PTY_SIZE.rows,
            },
          }
        : {}),
    });
    try {
      // Same tick as the spawn: no read has completed yet.
      if (stdio !== undefined) return { child, stdout: null, stderr: null, maskers };
      if (child.terminalFd !== null) {
        return { child, stdout: readIntoOwnBuffer(child.stdout, true), stderr: null, maskers };
      }
      const stdout = readIntoOwnBuffer(child.stdout);
      return { child, stdout, stderr: readIntoOwnBuffer(child.stderr), maskers };
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  } catch (error) {
    maskers?.[0].dispose();
    maskers?.[1].dispose();
    if (isSpawnError(error)) {
      if (error.code === 'COMMAND_NOT_FOUND') throw new IpcError('NOT_FOUND', `command not found: ${file}`);
      if (error.code === 'BAD_CWD') throw new IpcError('BAD_REQUEST', error.message);
      throw new IpcError('NOT_ALLOWED', error.message);
    }
    throw error;
  } finally {
    // architecture §8: per-spawn copies are wiped once the child runs (posix_spawn returned).
    for (const secret of secrets) secret.value.wipe();
  }
}

/** The caller's PATH; on Windows its name has any case (`Path`). */
function callerPath(env: Readonly<Record<string, string>>): string | undefined {
  if (process.platform !== 'win32') return env['PATH'];
  return Object.entries(env).find(([name]) => name.toUpperCase() === 'PATH')?.[1];
}

/**
 * What a task asks of the child that Windows does not offer here (SECURITY.md "Windows"),
 * refused before anything is recorded or started: a pinned target (no descriptor to execute),
 * a clean HOME and the caller's own stdio. Landlock `write`/`connect` are refused by policy
 * (no ABI); `detached: kill` is what each child's job object does anyway.
 */
function refuseOnWindows(name: string, task: Task, pinned: boolean, output: string | undefined): void {
  const missing = pinned
    ? 'a pinned target (--pin)'
    : task.home === 'clean'
      ? 'a clean HOME (home: clean)'
      : output === 'passthrough'
        ? 'output: passthrough'
        : null;
  if (missing !== null)
    throw new IpcError('BAD_REQUEST', `task ${name}: ${missing} is not offered on Windows`);
}

/**
 * End the child as a terminal would when the caller goes away: SIGTERM to its group, then
 * SIGKILL after {@link KILL_GRACE_MS}.
 * @returns a function that stops listening and cancels a pending SIGKILL
 */
function killOnAbort(child: SpawnedChild, signal: AbortSignal): () => void {
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      child.kill('SIGKILL');
    }, KILL_GRACE_MS);
    killTimer.unref();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  return () => {
    signal.removeEventListener('abort', onAbort);
    clearTimeout(killTimer);
  };
}

/** Stream the child's output, forward input, and resolve with its exit. */
async function run(
  started: Started,
  context: RequestContext<Peer>,
): Promise<{ code: number | null; signal: string | null }> {
  const { child, stderr, maskers } = started;
  const stdout = started.stdout;
  if (stdout === null) throw new Error('run() needs the child output streams');
  // On a pty the master takes the input; its line discipline echoes it back through `stdout`,
  // so an echo goes through the masker like any output.
  const sink = stderr === null ? stdout : child.stdin;
  const terminal = child.terminalFd;
  let lastOutput = performance.now();
  let waitingForClient = 0;
  /** Set before the maskers are disposed: no push/flush after that (it would throw). */
  let closed = false;
  const stopKilling = killOnAbort(child, context.signal);

  context.onInput(async (input) => {
    switch (input.kind) {
      case 'stdin': {
        const copy = input.data.use((bytes) => Buffer.from(bytes));
        await new Promise<void>((resolve) => {
          if (sink.destroyed || sink.writableEnded) {
            resolve();
            return;
          }
          sink.write(copy, () => {
            resolve();
          });
        });
        copy.fill(0);
        return;
      }
      case 'eof':
        // A pty has no end of input: its Ctrl-D is a byte the line discipline reads.
        if (terminal === null) child.stdin.end();
        return;
      case 'signal':
        child.kill(input.signal);
        return;
      case 'resize':
        // The master fd is ours while its stream is not destroyed (destroy() flags it at once,
        // the fd closes later), so the number cannot belong to another file yet.
        if (terminal !== null && !stdout.destroyed) resizePty(terminal, input);
        return;
      case 'decide':
        return; // approve.decide targets approve requests only (the server checks)
    }
  });

  const emit = (event: 'stdout' | 'stderr', bytes: Uint8Array, stream: Readable): void => {
    if (bytes.length === 0 || context.signal.aborted) return;
    if (!context.send(event, undefined, bytes)) {
      waitingForClient++;
      stream.pause();
      void context.waitForDrain().then(() => {
        waitingForClient--;
        if (!context.signal.aborted && !stream.destroyed) stream.resume();
      });
    }
  };

  const pump = (stream: Readable, event: 'stdout' | 'stderr', masker: Masker | null): Promise<void> =>
    new Promise<void>((resolve) => {
      let done = false;
      let idleFlush: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(idleFlush);
        if (masker !== null && !closed) emit(event, masker.flush(), stream);
        resolve();
      };
      stream.on('data', (chunk: Buffer) => {
        lastOutput = performance.now();
        if (closed) {
          chunk.fill(0);
          return;
        }
        if (masker === null) {
          emit(event, chunk, stream);
          chunk.fill(0);
          return;
        }
        const masked = masker.push(chunk);
        chunk.fill(0); // unmasked output may hold a value
        emit(event, masked, stream);
        // The masker holds back the tail of the stream (a form may continue in the next
        // chunk). A prompt or a progress line must still show: after FLUSH_IDLE_MS without
        // output the tail is decided and sent, except up to 7 bytes (15 hex digits) that are
        // a piece of a value, kept until more output or the end, so a value written in pieces
        // around a pause never shows 8 of its bytes (@cora/masker README, issue 13 §4).
        clearTimeout(idleFlush);
        idleFlush = setTimeout(
          () => {
            if (!done && !closed) emit(event, masker.flushIdle(), stream);
          },
          terminal === null ? FLUSH_IDLE_MS : FLUSH_IDLE_PTY_MS,
        );
      });
      stream.once('end', finish);
      stream.once('close', finish);
      stream.once('error', finish);
      stream.resume(); // created paused (readIntoOwnBuffer)
    });

  const pumps = Promise.all([
    pump(stdout, 'stdout', maskers?.[0] ?? null),
    stderr === null ? Promise.resolve() : pump(stderr, 'stderr', maskers?.[1] ?? null),
  ]);
  try {
    const exit = await child.exited;
    // Kill what is left of the group: a grandchild still holding fd 1/2 would keep the
    // request open forever. The group id is the child's pid; while a member lives the kernel
    // cannot hand that id out again, so the signal reaches only leftovers, and an empty group
    // answers ESRCH. (spawn.ts kill() refuses after the reap; hence process.kill here. The
    // one window: the group emptied and the pid was reused as a new group id within these
    // few microseconds.)
    killGroup(child.pid);
    if (terminal === null) child.stdin.destroy();
    const idle = pipesIdle(
      () => lastOutput,
      () => waitingForClient > 0,
      context.signal,
    );
    await Promise.race([pumps, idle.promise]);
    idle.cancel();
    stdout.destroy();
    stderr?.destroy();
    await pumps;
    return { code: exit.code, signal: exit.signal };
  } finally {
    stopKilling();
    closed = true;
    // On a pty, closing the master hangs up the slave: SIGHUP to the child's session.
    stdout.destroy();
    stderr?.destroy();
    maskers?.[0].dispose();
    maskers?.[1].dispose();
  }
}

/**
 * Ask the caller for its fds 0-2 (`fds` event with a one-shot socket path) and take them from
 * that process only. Disposing closes them (and the socket).
 */
async function receiveStdio(
  context: RequestContext<Peer>,
): Promise<{ readonly fds: readonly [number, number, number]; [Symbol.dispose](): void }> {
  const dir = childRunDir();
  if (dir === null) throw new IpcError('NOT_ALLOWED', 'passthrough needs the service run directory');
  const receiver = listenForStdio(dir);
  try {
    context.send('fds', { path: receiver.path });
    const { pid, uid } = context.peer.verified.identity;
    const fds = await receiver.receive({ pid, uid }, context.signal, HANDOFF_MS).catch((error: unknown) => {
      const why = error instanceof Error ? error.message : 'unknown error';
      throw new IpcError('NOT_ALLOWED', `passthrough: ${why}`);
    });
    let open = true;
    return {
      fds,
      [Symbol.dispose]: () => {
        if (open) closeFds(fds);
        open = false;
      },
    };
  } finally {
    receiver.close();
  }
}

/**
 * A passthrough child on the caller's own fds: nothing to pump; forward signals (a resize as
 * SIGWINCH) and end it like `run` when the caller goes away.
 */
async function runPassthrough(
  child: SpawnedChild,
  context: RequestContext<Peer>,
): Promise<{ code: number | null; signal: string | null }> {
  const stopKilling = killOnAbort(child, context.signal);
  context.onInput((input) => {
    // stdin and eof: the child reads the caller's fd 0 itself; nothing comes this way.
    if (input.kind === 'signal') child.kill(input.signal);
    else if (input.kind === 'resize') child.kill('SIGWINCH');
  });
  try {
    const exit = await child.exited;
    killGroup(child.pid);
    return { code: exit.code, signal: exit.signal };
  } finally {
    stopKilling();
  }
}

/** SIGKILL a process group if it still exists (ESRCH when it is empty is fine). */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the group is empty, as it usually is.
  }
}

/**
 * Resolves once the pipes were silent for PIPE_IDLE_MS (not counting waits for a slow
 * client), or at once when the client is gone.
 */
function pipesIdle(
  lastOutput: () => number,
  waiting: () => boolean,
  aborted: AbortSignal,
): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (aborted.aborted || (!waiting() && performance.now() - lastOutput() >= PIPE_IDLE_MS)) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
  return {
    promise,
    cancel: () => {
      clearInterval(timer);
    },
  };
}

/** A child's output pipe, moved onto a socket that reads into a buffer we own (G3). */
function readIntoOwnBuffer(stream: Readable, writable = false): Socket {
  // Node's default pipe reader frees an unzeroed copy of every chunk; the G3 residue test
  // found a child's printed secret there. Called in the tick spawnChild returned.
  // Not zero-filled: only the bytes a read wrote are ever looked at (and wiped after), and
  // pages left untouched cost nothing, where zeroing 256 KiB faults them all in at every exec.
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const socket = adoptWithOwnBuffer(stream, { writable, buffer });
  if (socket === null) throw new Error('the child pipe has no handle');
  // A pty master's writes fail with EIO once the child is gone: the input is then dropped.
  if (writable) socket.on('error', () => undefined);
  return socket;
}
