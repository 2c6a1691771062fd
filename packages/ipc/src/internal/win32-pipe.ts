// SPDX-License-Identifier: AGPL-3.0-only
// The service's named pipe on Windows (architecture §5), made through the OS API rather than
// Node's net server: Node cannot set a pipe's DACL or PIPE_REJECT_REMOTE_CLIENTS, and gives
// no handle for the peer lookup (`_handle.fd` is -1). Each connected instance is handed to
// libuv through node.exe's own `uv_open_osfhandle`, so reads and writes run on libuv's IOCP
// like any Node pipe; its HANDLE is kept on the socket for @cora/identity-win32.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import type Koffi from 'koffi';
import { IpcError } from '../errors.ts';

/** Where @cora/identity-win32 looks for a pipe socket's HANDLE (its `PIPE_HANDLE`). */
const PIPE_HANDLE = Symbol.for('@cora/identity-win32.pipeHandle');

const PIPE_ACCESS_DUPLEX = 0x3;
const FILE_FLAG_FIRST_PIPE_INSTANCE = 0x0008_0000;
const FILE_FLAG_OVERLAPPED = 0x4000_0000;
const PIPE_REJECT_REMOTE_CLIENTS = 0x8;
const PIPE_UNLIMITED_INSTANCES = 255;
const GENERIC_READ = 0x8000_0000;
const GENERIC_WRITE = 0x4000_0000;
const OPEN_EXISTING = 3;
/** The server may identify the client but not impersonate it (CreateFileW dwFlagsAndAttributes). */
const SECURITY_SQOS_PRESENT = 0x0010_0000;
const SECURITY_IDENTIFICATION = 0x0001_0000;
const INVALID_HANDLE = -1;
const INFINITE = 0xffff_ffff;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_ACCESS_DENIED = 5;
const ERROR_PIPE_BUSY = 231;
const ERROR_IO_PENDING = 997;
const ERROR_PIPE_CONNECTED = 535;
const PIPE_PREFIX = '\\\\.\\pipe\\';
const SID = /^S-1-(?:\d{1,10}|0x[0-9A-F]{12})(?:-\d{1,10}){0,15}$/;

interface Api {
  CreateNamedPipeW: (
    n: string,
    o: number,
    m: number,
    i: number,
    ob: number,
    ib: number,
    t: number,
    sa: SecurityAttributes,
  ) => number;
  ConnectNamedPipe: (h: number, ov: unknown) => number;
  CreateFileW: (n: string, a: number, s: number, sa: null, d: number, f: number, t: number) => number;
  WaitNamedPipeW: { async: (n: string, ms: number, cb: (e: unknown, r: number) => void) => void };
  CreateEventW: (sa: null, manual: number, initial: number, name: null) => number;
  WaitForSingleObject: { async: (h: number, ms: number, cb: (e: unknown, r: number) => void) => void };
  CancelIoEx: (h: number, ov: unknown) => number;
  CloseHandle: (h: number) => number;
  GetLastError: () => number;
  LocalFree: (p: unknown) => unknown;
  ConvertSddl: (sddl: string, rev: number, sd: unknown[], size: null) => number;
  uvOpenOsfhandle: (h: number) => number;
}

interface SecurityAttributes {
  nLength: number;
  lpSecurityDescriptor: unknown;
  bInheritHandle: number;
}

/** sizeof(SECURITY_ATTRIBUTES) on x64. */
const SA_SIZE = 24;
/** sizeof(OVERLAPPED) on x64; Internal (the NTSTATUS) at 0, hEvent at 24. */
const OVERLAPPED_SIZE = 32;

let api: Api | undefined;
let koffi: typeof Koffi;

/** koffi (a native addon) is loaded on first use only: this module is bundled into every platform's build. */
function load(): Api {
  if (api !== undefined) return api;
  koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const k32 = koffi.load('kernel32.dll');
  const adv = koffi.load('advapi32.dll');
  // node.exe exports libuv for addons: its uv_open_osfhandle makes a C-runtime fd of *its* CRT.
  const node = koffi.load(process.execPath);
  koffi.struct('CORA_SECURITY_ATTRIBUTES', {
    nLength: 'uint32_t',
    lpSecurityDescriptor: 'void *',
    bInheritHandle: 'int',
  });
  api = {
    CreateNamedPipeW: k32.func(
      'intptr_t __stdcall CreateNamedPipeW(str16 name, uint32_t open, uint32_t mode, uint32_t max, uint32_t out, uint32_t in, uint32_t timeout, CORA_SECURITY_ATTRIBUTES *sa)',
    ),
    ConnectNamedPipe: k32.func('int __stdcall ConnectNamedPipe(intptr_t h, void *ov)'),
    CreateFileW: k32.func(
      'intptr_t __stdcall CreateFileW(str16 name, uint32_t access, uint32_t share, void *sa, uint32_t disposition, uint32_t flags, intptr_t template)',
    ),
    WaitNamedPipeW: k32.func('int __stdcall WaitNamedPipeW(str16 name, uint32_t ms)'),
    CreateEventW: k32.func('intptr_t __stdcall CreateEventW(void *sa, int manual, int initial, void *name)'),
    WaitForSingleObject: k32.func('uint32_t __stdcall WaitForSingleObject(intptr_t h, uint32_t ms)'),
    CancelIoEx: k32.func('int __stdcall CancelIoEx(intptr_t h, void *ov)'),
    CloseHandle: k32.func('int __stdcall CloseHandle(intptr_t h)'),
    GetLastError: k32.func('uint32_t __stdcall GetLastError()'),
    LocalFree: k32.func('void * __stdcall LocalFree(void *p)'),
    ConvertSddl: adv.func(
      'int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(str16 sddl, uint32_t revision, _Out_ void **sd, void *size)',
    ),
    uvOpenOsfhandle: node.func('int uv_open_osfhandle(intptr_t handle)'),
  };
  return api;
}

/**
 * The service's pipe: `\\.\pipe\cora-<user SID>-<vault id>`, the vault id being the first 16
 * hex digits of the SHA-256 of the vault home's path, lower-cased (Windows paths are
 * case-insensitive), so each vault home has its own service, as `CORA_HOME` does on Linux.
 *
 * @throws TypeError when `sid` is not a SID string (it is part of a name and of an SDDL).
 */
export function windowsPipePath(sid: string, home: string): string {
  if (!isSid(sid)) throw new TypeError(`not a SID: ${JSON.stringify(sid)}`);
  const vault = createHash('sha256').update(home.toLowerCase(), 'utf8').digest('hex').slice(0, 16);
  return `${PIPE_PREFIX}cora-${sid}-${vault}`;
}

/** Whether `s` is a SID string of the form ConvertSidToStringSidW writes. */
export function isSid(s: string): boolean {
  return SID.test(s) && s.split('-').every((part, i) => i < 3 || Number(part) <= 0xffff_ffff);
}

/** The DACL of the pipe: protected (no inherited entries), generic-all for `sid` only. */
export function pipeSddl(sid: string): string {
  if (!isSid(sid)) throw new TypeError(`not a SID: ${JSON.stringify(sid)}`);
  return `D:P(A;;GA;;;${sid})`;
}

/** A HANDLE handed to libuv as a net.Socket (paused), with the HANDLE kept for the peer lookup. */
function socketOf(a: Api, handle: number, end: 'server' | 'client'): Socket {
  const fd = a.uvOpenOsfhandle(handle);
  if (fd < 0) {
    a.CloseHandle(handle);
    throw new IpcError('UNSAFE_SOCKET', 'cannot hand the pipe to libuv (uv_open_osfhandle failed)');
  }
  const socket = new Socket({
    fd,
    readable: true,
    writable: true,
    pauseOnCreate: true,
  } as ConstructorParameters<typeof Socket>[0] & { pauseOnCreate: boolean });
  return markPipe(socket, handle, end);
}

/** Record `handle` on `socket` for @cora/identity-win32 (again after a socket is adopted). */
export function markPipe(socket: Socket, handle: number, end: 'server' | 'client'): Socket {
  Object.defineProperty(socket, PIPE_HANDLE, { value: Object.freeze({ handle, end }), configurable: true });
  return socket;
}

/** The HANDLE recorded by {@link markPipe}, or undefined. */
export function pipeHandleOf(socket: Socket): { handle: number; end: 'server' | 'client' } | undefined {
  return (socket as unknown as Record<symbol, { handle: number; end: 'server' | 'client' } | undefined>)[
    PIPE_HANDLE
  ];
}

/** One listening instance: the pipe HANDLE, its OVERLAPPED (native memory: the kernel writes it later) and event. */
interface Instance {
  readonly handle: number;
  readonly overlapped: unknown;
  readonly event: number;
}

function freeInstance(a: Api, instance: Instance, closePipe: boolean): void {
  if (closePipe) a.CloseHandle(instance.handle);
  a.CloseHandle(instance.event);
  koffi.free(instance.overlapped);
}

/**
 * Accepts clients on `path`: one instance always waits (so the name never disappears between
 * clients), each connected instance becomes a paused net.Socket handed to `onConnection`.
 */
export class PipeListener {
  readonly path: string;
  readonly #sddl: string;
  readonly #onConnection: (socket: Socket) => void;
  #waiting: Instance | null = null;
  #closing = false;
  #done: Promise<void> = Promise.resolve();

  constructor(path: string, sid: string, onConnection: (socket: Socket) => void) {
    if (!path.startsWith(PIPE_PREFIX)) throw new TypeError(`a pipe path starts with ${PIPE_PREFIX}`);
    this.path = path;
    this.#sddl = pipeSddl(sid);
    this.#onConnection = onConnection;
  }

  /**
   * Create the first instance (FILE_FLAG_FIRST_PIPE_INSTANCE: fails when the name exists, so a
   * squatter's pipe is never joined) and start accepting.
   * @throws IpcError `ALREADY_RUNNING` when the pipe exists; `UNSAFE_SOCKET` when it cannot be made.
   */
  listen(): void {
    this.#waiting = this.#create(true);
    this.#done = this.#loop();
  }

  async close(): Promise<void> {
    if (this.#closing) return this.#done;
    this.#closing = true;
    const waiting = this.#waiting;
    if (waiting !== null) load().CancelIoEx(waiting.handle, waiting.overlapped);
    return this.#done;
  }

  #create(first: boolean): Instance {
    const a = load();
    const sd: unknown[] = [null];
    if (a.ConvertSddl(this.#sddl, 1, sd, null) === 0) {
      throw new IpcError('UNSAFE_SOCKET', `cannot build the pipe's DACL (error ${a.GetLastError()})`);
    }
    let handle: number;
    try {
      const sa: SecurityAttributes = { nLength: SA_SIZE, lpSecurityDescriptor: sd[0], bInheritHandle: 0 };
      handle = a.CreateNamedPipeW(
        this.path,
        PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
        PIPE_REJECT_REMOTE_CLIENTS, // byte mode, blocking semantics for ReadFile without OVERLAPPED
        PIPE_UNLIMITED_INSTANCES,
        64 * 1024,
        64 * 1024,
        0,
        sa,
      );
    } finally {
      a.LocalFree(sd[0]);
    }
    if (handle === INVALID_HANDLE || handle === 0) {
      const code = a.GetLastError();
      if (first && (code === ERROR_ACCESS_DENIED || code === ERROR_PIPE_BUSY)) {
        throw new IpcError(
          'ALREADY_RUNNING',
          `a Cora service (or another process) already holds ${this.path}`,
        );
      }
      throw new IpcError('UNSAFE_SOCKET', `cannot create the pipe ${this.path} (error ${code})`);
    }
    const event = a.CreateEventW(null, 1, 0, null);
    const overlapped: unknown = koffi.alloc('uint8_t', OVERLAPPED_SIZE);
    koffi.encode(overlapped, 0, 'uint8_t', new Array<number>(OVERLAPPED_SIZE).fill(0), OVERLAPPED_SIZE);
    koffi.encode(overlapped, 24, 'intptr_t', event);
    return { handle, overlapped, event };
  }

  async #loop(): Promise<void> {
    const a = load();
    while (!this.#stopping()) {
      const instance = this.#waiting;
      if (instance === null) {
        // Out of handles (or memory) last time: wait a little and try again, never give up.
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (!this.#stopping()) this.#waiting = this.#tryCreate();
        continue;
      }
      const connected = await this.#connect(a, instance);
      if (this.#stopping()) break;
      // The next instance exists before this one is handed over: no moment without one.
      this.#waiting = this.#tryCreate();
      freeInstance(a, instance, !connected);
      if (connected) {
        try {
          this.#onConnection(socketOf(a, instance.handle, 'server'));
        } catch {
          // A client that could not be adopted is dropped; the service goes on.
        }
      }
    }
    const left = this.#waiting;
    this.#waiting = null;
    if (left !== null) freeInstance(a, left, true);
  }

  /** Read through a method: the loop's narrowing does not see close() run across an await. */
  #stopping(): boolean {
    return this.#closing;
  }

  #tryCreate(): Instance | null {
    try {
      return this.#create(false);
    } catch {
      return null;
    }
  }

  /** Wait for a client on `instance` (on a koffi worker thread); false when cancelled or failed. */
  async #connect(a: Api, instance: Instance): Promise<boolean> {
    if (a.ConnectNamedPipe(instance.handle, instance.overlapped) !== 0) return true;
    const code = a.GetLastError();
    if (code === ERROR_PIPE_CONNECTED) return true;
    if (code !== ERROR_IO_PENDING) return false;
    await new Promise<void>((resolve) => {
      a.WaitForSingleObject.async(instance.event, INFINITE, () => {
        resolve();
      });
    });
    // Internal (the NTSTATUS of the operation) is 0 when a client connected.
    return !this.#stopping() && Number(koffi.decode(instance.overlapped, 'uint64_t')) === 0;
  }
}

/**
 * Open the service's pipe as a client (overlapped, identification-only impersonation), waiting
 * while every instance is busy, and hand it to libuv paused. Nothing is sent here.
 * @throws IpcError `NOT_RUNNING` (no such pipe), `TIMEOUT`, `CONNECTION_CLOSED`.
 */
export async function connectPipe(path: string, timeoutMs: number): Promise<Socket> {
  if (!path.startsWith(PIPE_PREFIX)) throw new TypeError(`a pipe path starts with ${PIPE_PREFIX}`);
  const a = load();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const handle = a.CreateFileW(
      path,
      GENERIC_READ | GENERIC_WRITE,
      0,
      null,
      OPEN_EXISTING,
      FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
      0,
    );
    if (handle !== INVALID_HANDLE && handle !== 0) return socketOf(a, handle, 'client');
    const code = a.GetLastError();
    if (code === ERROR_FILE_NOT_FOUND) {
      throw new IpcError('NOT_RUNNING', `no Cora service is running on ${path}`);
    }
    const left = deadline - Date.now();
    if (code !== ERROR_PIPE_BUSY) {
      throw new IpcError('CONNECTION_CLOSED', `cannot connect to ${path} (error ${code})`);
    }
    if (left <= 0) throw new IpcError('TIMEOUT', `connecting to ${path} took more than ${timeoutMs} ms`);
    await new Promise<void>((resolve) => {
      a.WaitNamedPipeW.async(path, Math.min(left, 1000), () => {
        resolve();
      });
    });
  }
}
