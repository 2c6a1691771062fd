// SPDX-License-Identifier: AGPL-3.0-only
// Starting a child on Windows (architecture §8): CreateProcessW with the environment block laid
// out in secure memory (internal/win32-env.ts), stdio on fresh pipes handed to libuv, the child in
// its own job object that kills it (and whatever it starts) when the service's handle closes.
// The same SpawnedChild as spawn.ts, so exec-handler.ts masks its output the same way.
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { isAbsolute } from 'node:path';
import type Koffi from 'koffi';
import type { SpawnedChild, SpawnOptions } from './spawn.ts';
import { SpawnError } from './spawn-error.ts';
import type { ChildExit } from './internal/spawn-wait.ts';
import { commandLine, windowsEnvBlock } from './internal/win32-env.ts';

const CREATE_SUSPENDED = 0x4;
const CREATE_NEW_PROCESS_GROUP = 0x200;
const CREATE_UNICODE_ENVIRONMENT = 0x400;
const CREATE_NO_WINDOW = 0x0800_0000;
const STARTF_USESTDHANDLES = 0x100;
const HANDLE_FLAG_INHERIT = 1;
const JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000;
const JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9;
const WAIT_OBJECT_0 = 0;
const CTRL_BREAK_EVENT = 1;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_PATH_NOT_FOUND = 3;
const ERROR_ACCESS_DENIED = 5;
const ERROR_DIRECTORY = 267;
const ERROR_BAD_EXE_FORMAT = 193;
/** How often live children are polled for their exit (one timer for all; no thread per child). */
const EXIT_POLL_MS = 25;
/** The exit code a child killed through its job gets (TerminateJobObject). */
export const KILLED_EXIT_CODE = 1;

interface Api {
  koffi: typeof Koffi;
  CreatePipe: (r: number[], w: number[], sa: null, size: number) => number;
  SetHandleInformation: (h: number, mask: number, flags: number) => number;
  CreateProcessW: (
    app: string,
    cmd: Buffer,
    pa: null,
    ta: null,
    inherit: number,
    flags: number,
    env: bigint,
    cwd: string,
    si: Buffer,
    pi: Buffer,
  ) => number;
  CreateJobObjectW: (sa: null, name: null) => number;
  SetInformationJobObject: (job: number, cls: number, info: Buffer, len: number) => number;
  AssignProcessToJobObject: (job: number, process: number) => number;
  TerminateJobObject: (job: number, code: number) => number;
  ResumeThread: (thread: number) => number;
  WaitForSingleObject: (h: number, ms: number) => number;
  GetExitCodeProcess: (h: number, code: number[]) => number;
  GenerateConsoleCtrlEvent: (event: number, group: number) => number;
  CloseHandle: (h: number) => number;
  GetLastError: () => number;
  uvOpenOsfhandle: (h: number) => number;
}

let api: Api | undefined;

function load(): Api {
  if (api !== undefined) return api;
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const k32 = koffi.load('kernel32.dll');
  const node = koffi.load(process.execPath);
  api = {
    koffi,
    CreatePipe: k32.func(
      'int __stdcall CreatePipe(_Out_ intptr_t *read, _Out_ intptr_t *write, void *sa, uint32_t size)',
    ),
    SetHandleInformation: k32.func(
      'int __stdcall SetHandleInformation(intptr_t h, uint32_t mask, uint32_t flags)',
    ),
    // The environment goes as an address (uint64): koffi's marshalling arena never holds a value.
    CreateProcessW: k32.func(
      'int __stdcall CreateProcessW(str16 app, void *cmd, void *pa, void *ta, int inherit, uint32_t flags, uint64_t env, str16 cwd, void *si, void *pi)',
    ),
    CreateJobObjectW: k32.func('intptr_t __stdcall CreateJobObjectW(void *sa, void *name)'),
    SetInformationJobObject: k32.func(
      'int __stdcall SetInformationJobObject(intptr_t job, int cls, void *info, uint32_t length)',
    ),
    AssignProcessToJobObject: k32.func(
      'int __stdcall AssignProcessToJobObject(intptr_t job, intptr_t process)',
    ),
    TerminateJobObject: k32.func('int __stdcall TerminateJobObject(intptr_t job, uint32_t code)'),
    ResumeThread: k32.func('uint32_t __stdcall ResumeThread(intptr_t thread)'),
    WaitForSingleObject: k32.func('uint32_t __stdcall WaitForSingleObject(intptr_t h, uint32_t ms)'),
    GetExitCodeProcess: k32.func('int __stdcall GetExitCodeProcess(intptr_t h, _Out_ uint32_t *code)'),
    GenerateConsoleCtrlEvent: k32.func(
      'int __stdcall GenerateConsoleCtrlEvent(uint32_t event, uint32_t group)',
    ),
    CloseHandle: k32.func('int __stdcall CloseHandle(intptr_t h)'),
    GetLastError: k32.func('uint32_t __stdcall GetLastError()'),
    uvOpenOsfhandle: node.func('int uv_open_osfhandle(intptr_t handle)'),
  };
  return api;
}

/** A pipe: our end (not inheritable) and the child's end (inheritable until the child has it). */
function makePipe(a: Api, childReads: boolean): { ours: number; theirs: number } {
  const r = [0];
  const w = [0];
  if (a.CreatePipe(r, w, null, 64 * 1024) === 0) {
    throw new SpawnError('SPAWN_FAILED', a.GetLastError(), '', 'cannot create a pipe for the child');
  }
  const [ours, theirs] = childReads ? [w[0] ?? 0, r[0] ?? 0] : [r[0] ?? 0, w[0] ?? 0];
  a.SetHandleInformation(theirs, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
  return { ours, theirs };
}

function streamOf(a: Api, handle: number, readable: boolean): Socket {
  const fd = a.uvOpenOsfhandle(handle);
  if (fd < 0) {
    a.CloseHandle(handle);
    throw new SpawnError('SPAWN_FAILED', 0, '', 'cannot hand a child pipe to libuv');
  }
  return new Socket({ fd, readable, writable: !readable });
}

/** A job that kills every process in it when its last handle closes (the service dies). */
function killOnCloseJob(a: Api): number {
  const job = a.CreateJobObjectW(null, null);
  if (job === 0) throw new SpawnError('SPAWN_FAILED', a.GetLastError(), '', 'cannot create a job object');
  // JOBOBJECT_EXTENDED_LIMIT_INFORMATION (144 bytes on x64): BasicLimitInformation.LimitFlags at 16.
  const info = Buffer.alloc(144);
  info.writeUInt32LE(JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, 16);
  if (a.SetInformationJobObject(job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, info, info.length) === 0) {
    const code = a.GetLastError();
    a.CloseHandle(job);
    throw new SpawnError('SPAWN_FAILED', code, '', 'cannot set the job object to kill on close');
  }
  return job;
}

function failure(errno: number, file: string, cwd: string): SpawnError {
  if (errno === ERROR_DIRECTORY) return new SpawnError('BAD_CWD', errno, cwd, `cannot run in ${cwd}`);
  if (errno === ERROR_FILE_NOT_FOUND || errno === ERROR_PATH_NOT_FOUND) {
    return new SpawnError('COMMAND_NOT_FOUND', errno, file, `${file}: not found`);
  }
  if (errno === ERROR_ACCESS_DENIED || errno === ERROR_BAD_EXE_FORMAT) {
    return new SpawnError('NOT_EXECUTABLE', errno, file, `${file}: not an executable`);
  }
  return new SpawnError('SPAWN_FAILED', errno, file, `cannot start ${file} (error ${errno})`);
}

interface Waiting {
  readonly process: number;
  readonly done: (exit: ChildExit) => void;
}
const waiting = new Set<Waiting>();
let poller: NodeJS.Timeout | null = null;
/** The job object of every child not yet reaped (for {@link killAllChildrenWin32}). */
const liveJobs = new Set<number>();

/**
 * Terminate the job of every child still running, and so everything each one started (lock:
 * no process the service started keeps a secret past it, architecture §9).
 * @returns how many jobs were terminated
 */
export function killAllChildrenWin32(): number {
  if (liveJobs.size === 0) return 0;
  const a = load();
  for (const job of liveJobs) a.TerminateJobObject(job, KILLED_EXIT_CODE);
  return liveJobs.size;
}

function watchExit(a: Api, w: Waiting): void {
  waiting.add(w);
  poller ??= setInterval(() => {
    for (const entry of waiting) {
      if (a.WaitForSingleObject(entry.process, 0) !== WAIT_OBJECT_0) continue;
      waiting.delete(entry);
      const code = [0];
      a.GetExitCodeProcess(entry.process, code);
      entry.done({ code: code[0] ?? 0, signal: null });
    }
    if (waiting.size === 0 && poller !== null) {
      clearInterval(poller);
      poller = null;
    }
  }, EXIT_POLL_MS);
}

/**
 * Start `file` on Windows: CreateProcessW (suspended, new process group, no console window)
 * with exactly `env` (UTF-16LE, sorted, built in one SecretBuf, wiped as soon as CreateProcessW
 * has copied it into the child), stdio on fresh pipes (only those three handles are
 * inheritable: libuv makes every handle of its own non-inheritable, and this runs on the one JS
 * thread), assigned to a job object with KILL_ON_JOB_CLOSE before it runs, then resumed.
 *
 * Signals: SIGINT and SIGBREAK send Ctrl-Break to the child's process group
 * (GenerateConsoleCtrlEvent; it only reaches a child that shares a console with the service);
 * every other signal terminates the whole job (exit code {@link KILLED_EXIT_CODE}). Windows
 * reports no signal: `exited` has the exit code and `signal: null`.
 *
 * Not on Windows (a SpawnError `SPAWN_FAILED`): `fd` (a pinned target's descriptor),
 * `confine`'s clean HOME and Landlock (its `detached: kill` is the job's own behaviour), `pty`
 * and `stdio` (passed descriptors).
 *
 * @param options - file, argv, env, cwd
 * @returns the running child
 * @throws TypeError for a relative `file`/`cwd` or a bad env entry (named, never its value).
 * @throws SpawnError `COMMAND_NOT_FOUND`, `NOT_EXECUTABLE`, `BAD_CWD`, `SPAWN_FAILED`.
 */
export function spawnChildWin32(options: SpawnOptions): SpawnedChild {
  const { file, argv, env, cwd } = options;
  if (!isAbsolute(file)) throw new TypeError('file must be an absolute path');
  if (!isAbsolute(cwd)) throw new TypeError('cwd must be an absolute path');
  // `detached: kill` needs nothing more: the job kills what the child leaves when it exits.
  const confine = options.confine;
  const confined =
    confine !== undefined &&
    (confine.home !== undefined || confine.write !== undefined || confine.connect !== undefined);
  if (options.fd !== undefined || confined || options.pty !== undefined || options.stdio !== undefined) {
    throw new SpawnError(
      'SPAWN_FAILED',
      0,
      file,
      'a pinned target, a clean HOME, Landlock, a pty and passed stdio are not offered on Windows',
    );
  }
  const line = Buffer.from(`${commandLine(argv)}\0`, 'utf16le');
  const block = windowsEnvBlock(env);
  const a = load();
  const opened: number[] = [];
  let job = 0;
  try {
    const stdin = makePipe(a, true);
    opened.push(stdin.ours, stdin.theirs);
    const stdout = makePipe(a, false);
    opened.push(stdout.ours, stdout.theirs);
    const stderr = makePipe(a, false);
    opened.push(stderr.ours, stderr.theirs);
    job = killOnCloseJob(a);

    // STARTUPINFOW (104 bytes on x64): cb, dwFlags at 60, hStdInput/Output/Error at 80/88/96.
    const si = Buffer.alloc(104);
    si.writeUInt32LE(104, 0);
    si.writeUInt32LE(STARTF_USESTDHANDLES, 60);
    si.writeBigInt64LE(BigInt(stdin.theirs), 80);
    si.writeBigInt64LE(BigInt(stdout.theirs), 88);
    si.writeBigInt64LE(BigInt(stderr.theirs), 96);
    // PROCESS_INFORMATION: hProcess, hThread, dwProcessId, dwThreadId.
    const pi = Buffer.alloc(24);
    const flags = CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP | CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW;
    const created = block.use((bytes) =>
      a.CreateProcessW(file, line, null, null, 1, flags, a.koffi.address(bytes), cwd, si, pi),
    );
    const errno = created === 0 ? a.GetLastError() : 0;
    // CreateProcessW has copied the block into the child (architecture §8: per-spawn copies of
    // secrets are wiped once the child has started).
    block.wipe();
    if (created === 0) throw failure(errno, file, cwd);
    const process = Number(pi.readBigInt64LE(0));
    const thread = Number(pi.readBigInt64LE(8));
    const pid = pi.readUInt32LE(16);
    if (a.AssignProcessToJobObject(job, process) === 0) {
      const code = a.GetLastError();
      a.TerminateJobObject(job, KILLED_EXIT_CODE);
      a.CloseHandle(thread);
      a.CloseHandle(process);
      // Not in the job: end it directly (it never ran: still suspended).
      throw new SpawnError('SPAWN_FAILED', code, file, 'cannot put the child in its job object');
    }
    a.ResumeThread(thread);
    a.CloseHandle(thread);
    // The child has its copies; ours of its ends go now, or its pipes would never end.
    for (const h of [stdin.theirs, stdout.theirs, stderr.theirs]) a.CloseHandle(h);
    opened.length = 0;

    const childJob = job;
    job = 0;
    liveJobs.add(childJob);
    let reaped = false;
    const exited = new Promise<ChildExit>((resolve) => {
      watchExit(a, {
        process,
        done: (exit) => {
          reaped = true;
          liveJobs.delete(childJob);
          a.CloseHandle(process);
          a.CloseHandle(childJob);
          resolve(exit);
        },
      });
    });
    const inStream = streamOf(a, stdin.ours, false);
    inStream.on('error', () => {
      // The child stopped reading (EPIPE): as on Linux, swallowed.
    });
    return {
      pid,
      stdin: inStream,
      stdout: streamOf(a, stdout.ours, true),
      stderr: streamOf(a, stderr.ours, true),
      terminalFd: null,
      exited,
      kill(signal: NodeJS.Signals): void {
        if (reaped) return;
        if (
          (signal === 'SIGINT' || signal === 'SIGBREAK') &&
          a.GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) !== 0
        ) {
          return;
        }
        a.TerminateJobObject(childJob, KILLED_EXIT_CODE);
      },
    };
  } catch (error) {
    block.wipe();
    for (const h of opened) a.CloseHandle(h);
    if (job !== 0) a.CloseHandle(job);
    throw error;
  }
}
