// SPDX-License-Identifier: AGPL-3.0-only
// The Win32 calls of architecture §6 on Windows, through koffi (architecture §3). Loaded on first
// use, so this module can be imported (and its pure neighbours tested) on other platforms.
// Handles are passed as intptr_t: plain numbers for the small values Windows hands out.
import koffi from 'koffi';
import { BOGUS_PIPE_PID, filetime, sidToString, utf16 } from './pure.ts';

const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const PROCESS_QUERY_INFORMATION = 0x0400;
const PROCESS_VM_READ = 0x0010;
/** x64 offsets: PEB.ProcessParameters; RTL_USER_PROCESS_PARAMETERS.CurrentDirectory.DosPath and .CommandLine. */
const PEB_PROCESS_PARAMETERS = 0x20;
const PARAMS_CURRENT_DIRECTORY = 0x38;
const PARAMS_COMMAND_LINE = 0x70;
const SYNCHRONIZE = 0x0010_0000;
const TOKEN_QUERY = 0x0008;
const TOKEN_USER_CLASS = 1;
const WAIT_TIMEOUT = 258;
const PROCESS_BASIC_INFORMATION = 0;
const PROCESS_COMMAND_LINE_INFORMATION = 60;
export const ERROR_INVALID_PARAMETER = 87;
const ERROR_INSUFFICIENT_BUFFER = 122;
const STATUS_INFO_LENGTH_MISMATCH = 0xc000_0004;
const STATUS_BUFFER_OVERFLOW = 0x8000_0005;
const STATUS_BUFFER_TOO_SMALL = 0xc000_0023;
/** The longest path Win32 hands out, in UTF-16 units. */
const MAX_PATH_CHARS = 32_768;

type Fn<A extends unknown[], R> = (...args: A) => R;
interface Api {
  OpenProcess: Fn<[number, number, number], number>;
  CloseHandle: Fn<[number], number>;
  GetLastError: Fn<[], number>;
  GetCurrentProcess: Fn<[], number>;
  GetNamedPipeClientProcessId: Fn<[number, number[]], number>;
  GetNamedPipeServerProcessId: Fn<[number, number[]], number>;
  QueryFullProcessImageNameW: Fn<[number, number, Buffer, number[]], number>;
  GetProcessTimes: Fn<[number, Buffer, Buffer, Buffer, Buffer], number>;
  WaitForSingleObject: Fn<[number, number], number>;
  OpenProcessToken: Fn<[number, number, number[]], number>;
  GetTokenInformation: Fn<[number, number, Buffer, number, number[]], number>;
  NtQueryInformationProcess: Fn<[number, number, Buffer, number, number[]], number>;
  ReadProcessMemory: Fn<[number, bigint, Buffer, number, number[]], number>;
}

let api: Api | undefined;

function load(): Api {
  if (api !== undefined) return api;
  const k32 = koffi.load('kernel32.dll');
  const adv = koffi.load('advapi32.dll');
  const nt = koffi.load('ntdll.dll');
  api = {
    OpenProcess: k32.func('intptr_t __stdcall OpenProcess(uint32_t access, int inherit, uint32_t pid)'),
    CloseHandle: k32.func('int __stdcall CloseHandle(intptr_t h)'),
    GetLastError: k32.func('uint32_t __stdcall GetLastError()'),
    GetCurrentProcess: k32.func('intptr_t __stdcall GetCurrentProcess()'),
    GetNamedPipeClientProcessId: k32.func(
      'int __stdcall GetNamedPipeClientProcessId(intptr_t pipe, _Out_ uint32_t *pid)',
    ),
    GetNamedPipeServerProcessId: k32.func(
      'int __stdcall GetNamedPipeServerProcessId(intptr_t pipe, _Out_ uint32_t *pid)',
    ),
    QueryFullProcessImageNameW: k32.func(
      'int __stdcall QueryFullProcessImageNameW(intptr_t h, uint32_t flags, void *name, _Inout_ uint32_t *size)',
    ),
    GetProcessTimes: k32.func(
      'int __stdcall GetProcessTimes(intptr_t h, void *creation, void *exit, void *kernel, void *user)',
    ),
    WaitForSingleObject: k32.func('uint32_t __stdcall WaitForSingleObject(intptr_t h, uint32_t ms)'),
    OpenProcessToken: adv.func(
      'int __stdcall OpenProcessToken(intptr_t h, uint32_t access, _Out_ intptr_t *token)',
    ),
    GetTokenInformation: adv.func(
      'int __stdcall GetTokenInformation(intptr_t token, int cls, void *info, uint32_t length, _Out_ uint32_t *returned)',
    ),
    NtQueryInformationProcess: nt.func(
      'uint32_t __stdcall NtQueryInformationProcess(intptr_t h, int cls, void *info, uint32_t length, _Out_ uint32_t *returned)',
    ),
    ReadProcessMemory: k32.func(
      'int __stdcall ReadProcessMemory(intptr_t h, uint64_t address, _Out_ uint8_t *buf, uintptr_t size, _Out_ uintptr_t *read)',
    ),
  };
  return api;
}

/** A failed Win32 call: `code` is GetLastError() (or the NTSTATUS for ntdll calls). */
export class Win32Error extends Error {
  override readonly name = 'Win32Error';
  readonly code: number;
  constructor(call: string, code: number) {
    super(`${call} failed with error ${code}`);
    this.code = code;
  }
}

function fail(call: string): never {
  throw new Win32Error(call, load().GetLastError());
}

/** The pid of the other end of a pipe instance (`end` is the end this handle is). */
export function pipePeerPid(pipe: number, end: 'server' | 'client'): number {
  const a = load();
  const pid = [0];
  const ok =
    end === 'server' ? a.GetNamedPipeClientProcessId(pipe, pid) : a.GetNamedPipeServerProcessId(pipe, pid);
  if (ok === 0) fail(end === 'server' ? 'GetNamedPipeClientProcessId' : 'GetNamedPipeServerProcessId');
  const value = pid[0] ?? 0;
  if (value === 0 || value === BOGUS_PIPE_PID) {
    throw new Win32Error('GetNamedPipeClientProcessId', ERROR_INVALID_PARAMETER);
  }
  return value;
}

/** A handle pinning process `pid` (its pid is not reused while the handle is open); close it. */
export function openProcess(pid: number): number {
  const h = load().OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, 0, pid);
  if (h === 0) fail('OpenProcess');
  return h;
}

export function closeHandle(h: number): void {
  load().CloseHandle(h);
}

/** Whether the process behind `h` still runs (a zero-timeout wait; exit codes can be 259). */
export function isAlive(h: number): boolean {
  return load().WaitForSingleObject(h, 0) === WAIT_TIMEOUT;
}

/** The Win32 path of the process's executable. */
export function imagePath(h: number): string {
  const buffer = Buffer.alloc(MAX_PATH_CHARS * 2);
  const size = [MAX_PATH_CHARS];
  if (load().QueryFullProcessImageNameW(h, 0, buffer, size) === 0) fail('QueryFullProcessImageNameW');
  return utf16(buffer, size[0] ?? 0);
}

/** Creation time, FILETIME ticks (100 ns since 1601): with the handle's pin, the pid-reuse check. */
export function creationTime(h: number): bigint {
  const times = [Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)] as const;
  if (load().GetProcessTimes(h, ...times) === 0) fail('GetProcessTimes');
  return filetime(times[0].readUInt32LE(0), times[0].readUInt32LE(4));
}

/** The pid of the process that created this one (it may have exited, and its pid been reused). */
export function parentPid(h: number): number {
  // PROCESS_BASIC_INFORMATION on x64: InheritedFromUniqueProcessId at offset 40 of 48 bytes.
  const info = Buffer.alloc(48);
  const status = load().NtQueryInformationProcess(h, PROCESS_BASIC_INFORMATION, info, 48, [0]);
  if (status !== 0) throw new Win32Error('NtQueryInformationProcess', status);
  return Number(info.readBigUInt64LE(40));
}

/** The process's command line (Windows 8.1+), or `null` when the OS does not say. */
export function commandLine(h: number): string | null {
  const a = load();
  let length = 4096;
  for (let attempt = 0; attempt < 3; attempt++) {
    const info = Buffer.alloc(length);
    const returned = [0];
    const status = a.NtQueryInformationProcess(h, PROCESS_COMMAND_LINE_INFORMATION, info, length, returned);
    if (status === 0) {
      // UNICODE_STRING { USHORT Length; USHORT MaximumLength; PWSTR Buffer; } then the text,
      // inside this buffer: read it through its offset.
      const bytes = info.readUInt16LE(0);
      const address = info.readBigUInt64LE(8);
      const offset = Number(address - koffi.address(info));
      if (offset < 16 || offset + bytes > info.length) return null;
      return info.toString('utf16le', offset, offset + bytes);
    }
    if (
      status !== STATUS_INFO_LENGTH_MISMATCH &&
      status !== STATUS_BUFFER_OVERFLOW &&
      status !== STATUS_BUFFER_TOO_SMALL
    ) {
      return null;
    }
    length = Math.max(length * 2, returned[0] ?? 0);
  }
  return null;
}

/** The user SID of a process's token (`S-1-5-21-…`); `h` -1 (GetCurrentProcess) is this process. */
export function tokenUserSid(h: number): string {
  const a = load();
  const token = [0];
  if (a.OpenProcessToken(h, TOKEN_QUERY, token) === 0) fail('OpenProcessToken');
  const t = token[0] ?? 0;
  try {
    const info = Buffer.alloc(256);
    const returned = [0];
    if (a.GetTokenInformation(t, TOKEN_USER_CLASS, info, info.length, returned) === 0) {
      const code = a.GetLastError();
      throw new Win32Error('GetTokenInformation', code === 0 ? ERROR_INSUFFICIENT_BUFFER : code);
    }
    // TOKEN_USER { SID_AND_ATTRIBUTES { PSID Sid; DWORD Attributes; } }: the SID lies in `info`.
    const offset = Number(info.readBigUInt64LE(0) - koffi.address(info));
    if (offset < 16 || offset + 8 > info.length)
      throw new Win32Error('GetTokenInformation', ERROR_INVALID_PARAMETER);
    const count = info[offset + 1] ?? 0;
    const end = offset + 8 + 4 * count;
    if (end > info.length) throw new Win32Error('GetTokenInformation', ERROR_INVALID_PARAMETER);
    return sidToString(info.subarray(offset, end));
  } finally {
    a.CloseHandle(t);
  }
}

/** This process's own token user SID (what a pipe's DACL and the caller check are made of). */
export function ownSid(): string {
  return tokenUserSid(load().GetCurrentProcess());
}

/** What {@link processParameters} read from a process's own parameter block. */
export interface ProcessParameters {
  readonly commandLine: string | null;
  /** The current directory, with its trailing backslash removed (but `C:\\` kept). */
  readonly cwd: string | null;
}

/**
 * The command line and current directory a process holds in its parameter block (PEB →
 * RTL_USER_PROCESS_PARAMETERS, x64 layout), read through a second handle with PROCESS_VM_READ.
 * Where `NtQueryInformationProcess(ProcessCommandLineInformation)` is missing (Wine; Windows
 * before 8.1) this is the only source of argv, and it gives the cwd on every version. Both are
 * the process's own word (it can rewrite them): evidence as weak as argv itself. The caller
 * keeps a pinning handle open, so `pid` still names the same process.
 *
 * @param pid - a process pinned by the caller
 * @returns the strings; null for what could not be read
 */
export function processParameters(pid: number): ProcessParameters {
  const a = load();
  const h = a.OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, 0, pid);
  if (h === 0) return { commandLine: null, cwd: null };
  try {
    const info = Buffer.alloc(48);
    if (a.NtQueryInformationProcess(h, PROCESS_BASIC_INFORMATION, info, 48, [0]) !== 0) {
      return { commandLine: null, cwd: null };
    }
    const peb = info.readBigUInt64LE(8);
    const params = readPointer(a, h, peb + BigInt(PEB_PROCESS_PARAMETERS));
    if (params === null || params === 0n) return { commandLine: null, cwd: null };
    const line = readUnicodeString(a, h, params + BigInt(PARAMS_COMMAND_LINE));
    const dir = readUnicodeString(a, h, params + BigInt(PARAMS_CURRENT_DIRECTORY));
    return { commandLine: line, cwd: dir === null ? null : dir.replace(/(?<!^[A-Za-z]:)\\$/, '') };
  } finally {
    a.CloseHandle(h);
  }
}

function readPointer(a: Api, h: number, address: bigint): bigint | null {
  const out = Buffer.alloc(8);
  const read = [0];
  if (a.ReadProcessMemory(h, address, out, 8, read) === 0 || read[0] !== 8) return null;
  return out.readBigUInt64LE(0);
}

/** A UNICODE_STRING { USHORT Length; USHORT MaximumLength; PWSTR Buffer } of another process. */
function readUnicodeString(a: Api, h: number, address: bigint): string | null {
  const header = Buffer.alloc(16);
  const read = [0];
  if (a.ReadProcessMemory(h, address, header, 16, read) === 0 || read[0] !== 16) return null;
  const bytes = header.readUInt16LE(0);
  const buffer = header.readBigUInt64LE(8);
  if (bytes === 0 || bytes % 2 !== 0 || buffer === 0n) return null;
  const text = Buffer.alloc(bytes);
  if (a.ReadProcessMemory(h, buffer, text, bytes, read) === 0 || read[0] !== bytes) return null;
  return text.toString('utf16le');
}
