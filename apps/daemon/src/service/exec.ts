// SPDX-License-Identifier: AGPL-3.0-only
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { IpcError, adoptWithOwnBuffer, type IpcHandler, type RequestContext } from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import { childEnvironment, evaluate, type Decision, type Policy } from '@cora/policy';
import { isCrError } from '../errors.ts';
import { createMasker, type Masker } from '../exec/masker.ts';
import { isSpawnError, spawnChild, type SpawnedChild } from '../exec/spawn.ts';
import type { Peer } from './handlers.ts';
import { resolveCommand } from './resolve.ts';

/** What the exec handler needs from the service state (issue 4; `ServiceState` implements it). */
export interface ExecDeps {
  /** The policy kept in the vault (DESIGN §7). */
  policy(): Policy;
  /** When the vault was unlocked (ms since the epoch), `null` while locked. */
  unlockedAt(): number | null;
  /**
   * Fresh copies of the named secrets; the caller wipes them.
   * @throws CrError `LOCKED` or `NOT_FOUND`.
   */
  secretsFor(names: readonly string[]): { name: string; value: SecretBuf }[];
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
/** Bytes read per pipe read; each child stream owns one buffer of this size. */
const READ_BUFFER_BYTES = 64 * 1024;
const FALLBACK_PATH = '/usr/local/bin:/usr/bin:/bin';

/** Re-check the caller (G5) and map our errors to wire codes, like handlers.ts `guarded`. */
async function guarded<T>(context: RequestContext<Peer>, fn: () => Promise<T>): Promise<T> {
  if (!context.peer.verified.stillSame()) {
    throw new IpcError('NOT_ALLOWED', 'the calling process changed since it connected');
  }
  try {
    return await fn();
  } catch (error) {
    if (isCrError(error, 'LOCKED')) throw new IpcError('LOCKED', 'the service is locked; run `cr unlock`');
    if (isCrError(error, 'NOT_FOUND')) throw new IpcError('NOT_FOUND', error.message);
    throw error;
  }
}

/** Refuse with the wire code that matches the decision (DESIGN §7 order). */
function refuse(decision: Decision): IpcError {
  switch (decision.reason) {
    case 'UNKNOWN_TASK':
      return new IpcError('NOT_FOUND', decision.message);
    case 'TARGET_NOT_FOUND':
      return new IpcError('NOT_FOUND', decision.message);
    case 'RATE_LIMITED':
      return new IpcError('RATE_LIMITED', decision.message);
    case 'APPROVAL_REQUIRED':
      return new IpcError('NOT_ALLOWED', 'task needs approval; approvals are not built yet');
    default:
      return new IpcError('NOT_ALLOWED', decision.message);
  }
}

/**
 * The `exec` handler (issue 4, DESIGN §7, §8): resolve argv[0], evaluate the policy, start
 * the child with the task's secrets in its environment, stream its (masked) output back with
 * back-pressure, forward stdin and signals, and answer with its exit.
 *
 * Lifetime of the child:
 * - the client goes away (`context.signal`): SIGTERM to the child's process group, SIGKILL
 *   2 s later;
 * - the child exits: SIGKILL to its process group at once, so a grandchild left behind in the
 *   group cannot hold the pipes (and the request) open forever. A descendant that left the
 *   group (setsid) is out of reach: once the child exited, its pipes are torn down after 2 s
 *   without output.
 *
 * Spawns run concurrently; the rate window of each task is kept in memory here (spawn start
 * times, pruned after one day).
 *
 * @param deps - policy, unlock time and secret copies (the service state)
 * @param info - optional hooks (clock, default PATH, spawn timing)
 * @returns the handler for `exec`
 */
export function createExecHandler(deps: ExecDeps, info: ExecInfo = {}): IpcHandler<'exec', Peer> {
  const spawns = new Map<string, number[]>();
  const now = (): number => info.now?.() ?? Date.now();
  const recentSpawns = (task: string): readonly number[] => spawns.get(task) ?? [];
  const record = (task: string, at: number): void => {
    const list = (spawns.get(task) ?? []).filter((t) => t > at - MAX_WINDOW_MS);
    list.push(at);
    spawns.set(task, list);
  };

  return (request, context) =>
    guarded(context, async () => {
      const received = performance.now();
      const unlockedAt = deps.unlockedAt();
      if (unlockedAt === null) throw new IpcError('LOCKED', 'the service is locked; run `cr unlock`');
      deps.touch?.();
      const policy = deps.policy();
      const argv0 = request.argv[0] ?? '';
      const searchPath = request.env['PATH'] ?? info.defaultPath ?? process.env['PATH'] ?? FALLBACK_PATH;
      const target = resolveCommand(argv0, searchPath, request.cwd);
      const identity = context.peer.verified.identity;
      const at = now();
      const decision = evaluate(
        policy,
        { caller: identity, task: request.task, target },
        {
          now: at,
          unlockedAt,
          recentSpawns,
          grants: () => false, // approvals: issue 5
          // No targetRealpaths: the resolved realpath must equal a stored target exactly, so a
          // target swapped for a symlink after the policy was written is refused.
          isCli: context.peer.isCli,
        },
      );
      if (decision.outcome !== 'allow' || target.resolved === null) throw refuse(decision);
      const task = policy.tasks[request.task];
      if (task === undefined) throw new IpcError('NOT_FOUND', `no task named ${request.task}`);
      record(request.task, at);

      const started = start(deps, decision, task, request, target.resolved);
      info.onSpawned?.(performance.now() - received);
      context.send('started', { pid: started.child.pid });
      return run(started, context);
    });
}

interface Started {
  readonly child: SpawnedChild;
  /** The child's stdout and stderr, read into buffers we own (see readIntoOwnBuffer). */
  readonly stdout: Socket;
  readonly stderr: Socket;
  readonly maskers: readonly [Masker, Masker] | null;
}

/** Copy the secrets, build maskers and the environment, spawn, wipe the copies. Synchronous. */
function start(
  deps: ExecDeps,
  decision: Decision,
  task: Policy['tasks'][string],
  request: {
    readonly argv: readonly string[];
    readonly cwd: string;
    readonly env: Readonly<Record<string, string>>;
  },
  file: string,
): Started {
  const secrets = deps.secretsFor(decision.secrets ?? []);
  let maskers: [Masker, Masker] | null = null;
  try {
    if (decision.output !== 'passthrough') {
      // One masker per stream: each keeps its own hold-back (DESIGN §8, G10).
      const first = createMasker(secrets);
      try {
        maskers = [first, createMasker(secrets)];
      } catch (error) {
        first.dispose();
        throw error;
      }
    }
    const env = childEnvironment(request.env, task, secrets);
    const child = spawnChild({ file, argv: request.argv, env, cwd: request.cwd });
    try {
      // Same tick as the spawn: no read has completed yet.
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
    // DESIGN §8: per-spawn copies are wiped once the child runs (posix_spawn returned).
    for (const secret of secrets) secret.value.wipe();
  }
}

/** Stream the child's output, forward input, and resolve with its exit. */
async function run(
  started: Started,
  context: RequestContext<Peer>,
): Promise<{ code: number | null; signal: string | null }> {
  const { child, stdout, stderr, maskers } = started;
  let lastOutput = performance.now();
  let waitingForClient = 0;
  /** Set before the maskers are disposed: no push/flush after that (it would throw). */
  let closed = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      child.kill('SIGKILL');
    }, KILL_GRACE_MS);
    killTimer.unref();
  };
  context.signal.addEventListener('abort', onAbort, { once: true });
  if (context.signal.aborted) onAbort();

  context.onInput(async (input) => {
    switch (input.kind) {
      case 'stdin': {
        const copy = input.data.use((bytes) => Buffer.from(bytes));
        await new Promise<void>((resolve) => {
          if (child.stdin.destroyed || child.stdin.writableEnded) {
            resolve();
            return;
          }
          child.stdin.write(copy, () => {
            resolve();
          });
        });
        copy.fill(0);
        return;
      }
      case 'eof':
        child.stdin.end();
        return;
      case 'signal':
        child.kill(input.signal);
        return;
      case 'resize':
        return; // no pty yet
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
        // output the tail is decided and sent. A value the child splits across writes more
        // than FLUSH_IDLE_MS apart is not masked (README "Exec", G10 limits).
        clearTimeout(idleFlush);
        idleFlush = setTimeout(() => {
          if (!done && !closed) emit(event, masker.flush(), stream);
        }, FLUSH_IDLE_MS);
      });
      stream.once('end', finish);
      stream.once('close', finish);
      stream.once('error', finish);
      stream.resume(); // created paused (readIntoOwnBuffer)
    });

  const pumps = Promise.all([
    pump(stdout, 'stdout', maskers?.[0] ?? null),
    pump(stderr, 'stderr', maskers?.[1] ?? null),
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
    child.stdin.destroy();
    const idle = pipesIdle(
      () => lastOutput,
      () => waitingForClient > 0,
      context.signal,
    );
    await Promise.race([pumps, idle.promise]);
    idle.cancel();
    stdout.destroy();
    stderr.destroy();
    await pumps;
    return { code: exit.code, signal: exit.signal };
  } finally {
    context.signal.removeEventListener('abort', onAbort);
    clearTimeout(killTimer);
    closed = true;
    stdout.destroy();
    stderr.destroy();
    maskers?.[0].dispose();
    maskers?.[1].dispose();
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
function readIntoOwnBuffer(stream: Readable): Socket {
  // Node's default pipe reader frees an unzeroed copy of every chunk; the G3 residue test
  // found a child's printed secret there. Called in the tick spawnChild returned.
  const socket = adoptWithOwnBuffer(stream, { writable: false, bufferBytes: READ_BUFFER_BYTES });
  if (socket === null) throw new Error('the child pipe has no handle');
  return socket;
}
