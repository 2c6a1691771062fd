// SPDX-License-Identifier: AGPL-3.0-only
/**
 * One service per vault home on Windows (owner-lock.ts has the POSIX one). The service opens
 * `<home>\service.lock` for writing with a share mode of read only, for its whole life: while
 * it runs, no other process can open the file for writing, delete it or rename it (no
 * FILE_SHARE_DELETE), and Windows closes the handle when the process dies, so a stale lock
 * cannot exist. The holder writes its pid into the file; only the holder can write it, so what
 * a reader finds there while the file is held is the holder's pid.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type Koffi from 'koffi';
import { CrError } from './errors.ts';

const GENERIC_READ = 0x8000_0000;
const GENERIC_WRITE = 0x4000_0000;
const FILE_SHARE_READ = 0x1;
const FILE_SHARE_WRITE = 0x2;
const OPEN_EXISTING = 3;
const OPEN_ALWAYS = 4;
const FILE_ATTRIBUTE_NORMAL = 0x80;
/** Do not follow a final symlink or junction (a reparse point is opened itself). */
const FILE_FLAG_OPEN_REPARSE_POINT = 0x0020_0000;
const FILE_ATTRIBUTE_REPARSE_POINT = 0x400;
const INVALID_HANDLE = -1;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_PATH_NOT_FOUND = 3;
const ERROR_ACCESS_DENIED = 5;
const ERROR_SHARING_VIOLATION = 32;
/** A claim that met a probe of {@link ownerPidWin32} (which holds the file for a moment) retries. */
const CLAIM_ATTEMPTS = 20;
const CLAIM_RETRY_MS = 10;

interface Api {
  CreateFileW: (p: string, a: number, s: number, sa: null, c: number, f: number, t: number) => number;
  ReadFile: (h: number, b: Buffer, n: number, read: number[], o: null) => number;
  WriteFile: (h: number, b: Buffer, n: number, written: number[], o: null) => number;
  SetEndOfFile: (h: number) => number;
  GetFileAttributesW: (p: string) => number;
  CloseHandle: (h: number) => number;
  GetLastError: () => number;
}
let api: Api | undefined;

function load(): Api {
  if (api !== undefined) return api;
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const k32 = koffi.load('kernel32.dll');
  api = {
    CreateFileW: k32.func(
      'intptr_t __stdcall CreateFileW(str16 path, uint32_t access, uint32_t share, void *sa, uint32_t create, uint32_t flags, intptr_t tmpl)',
    ),
    ReadFile: k32.func(
      'int __stdcall ReadFile(intptr_t h, _Out_ uint8_t *buf, uint32_t n, _Out_ uint32_t *read, void *ov)',
    ),
    WriteFile: k32.func(
      'int __stdcall WriteFile(intptr_t h, const uint8_t *buf, uint32_t n, _Out_ uint32_t *written, void *ov)',
    ),
    SetEndOfFile: k32.func('int __stdcall SetEndOfFile(intptr_t h)'),
    GetFileAttributesW: k32.func('uint32_t __stdcall GetFileAttributesW(str16 path)'),
    CloseHandle: k32.func('int __stdcall CloseHandle(intptr_t h)'),
    GetLastError: k32.func('uint32_t __stdcall GetLastError()'),
  };
  return api;
}

function lockPath(home: string): string {
  return join(home, 'service.lock');
}

/** Refuse a lock path that is a link: it could point the lock at a file elsewhere. */
function refuseLink(a: Api, path: string): void {
  const attributes = a.GetFileAttributesW(path);
  if (attributes !== 0xffff_ffff && (attributes & FILE_ATTRIBUTE_REPARSE_POINT) !== 0) {
    throw new CrError('UNSAFE_PATH', `${path} is a link; remove it`);
  }
}

function open(a: Api, path: string, access: number, share: number, create: number): number {
  return a.CreateFileW(
    path,
    access,
    share,
    null,
    create,
    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT,
    0,
  );
}

/** An open or write the OS refused for another reason than the lock: its own error class. */
function lockFileError(action: string, path: string, error: number): CrError {
  return error === ERROR_ACCESS_DENIED
    ? new CrError(
        'PERMISSION_DENIED',
        `cannot ${action} ${path}: access denied; check the home's permissions`,
      )
    : new CrError('IO_ERROR', `cannot ${action} ${path} (Windows error ${String(error)})`);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The pid of the live owner of the vault in `home`, or null when no process holds its lock.
 * @param home - the Cora home
 * @returns the pid, or null
 * @throws CrError `UNSAFE_PATH` when the lock path is a link, `PERMISSION_DENIED` or
 *   `IO_ERROR` when it cannot be opened.
 */
export function ownerPidWin32(home: string): number | null {
  const a = load();
  const path = lockPath(home);
  refuseLink(a, path);
  // Opening for writing fails with a sharing violation exactly when a holder has it.
  const probe = open(a, path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, OPEN_EXISTING);
  if (probe !== INVALID_HANDLE) {
    a.CloseHandle(probe);
    return null;
  }
  const error = a.GetLastError();
  if (error === ERROR_FILE_NOT_FOUND || error === ERROR_PATH_NOT_FOUND) return null;
  if (error !== ERROR_SHARING_VIOLATION) throw lockFileError('open', path, error);
  const reader = open(a, path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, OPEN_EXISTING);
  if (reader === INVALID_HANDLE) return null; // the holder went meanwhile
  try {
    const buffer = Buffer.alloc(16);
    const read = [0];
    if (a.ReadFile(reader, buffer, buffer.length, read, null) === 0) return null;
    const text = buffer.subarray(0, read[0] ?? 0).toString('latin1');
    // The holder writes its pid right after it opens the file: empty means "starting".
    return /^\d{1,10}$/.test(text) ? Number(text) : null;
  } finally {
    a.CloseHandle(reader);
  }
}

/** The outcome of {@link claimOwnershipWin32} (owner-lock.ts's Claim; `fd` is the HANDLE). */
export type Win32Claim =
  { readonly owned: true; readonly fd: number } | { readonly owned: false; readonly holder: number | null };

/**
 * Take the vault's ownership for the life of this process: the handle stays open, never closed.
 * @param home - the Cora home (must exist)
 * @returns `{owned: true, fd: HANDLE}` or the pid that holds it
 * @throws CrError `UNSAFE_PATH` for a link, `PERMISSION_DENIED` or `IO_ERROR` when the file
 *   cannot be opened or written.
 */
export function claimOwnershipWin32(home: string): Win32Claim {
  const a = load();
  const path = lockPath(home);
  refuseLink(a, path);
  for (let attempt = 1; ; attempt++) {
    const handle = open(a, path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ, OPEN_ALWAYS);
    if (handle === INVALID_HANDLE) {
      const error = a.GetLastError();
      if (error !== ERROR_SHARING_VIOLATION) throw lockFileError('open', path, error);
      const holder = ownerPidWin32(home);
      // Busy but no pid: another claim is between its open and its write, or a probe holds it.
      if (holder === null && attempt < CLAIM_ATTEMPTS) {
        sleep(CLAIM_RETRY_MS);
        continue;
      }
      return { owned: false, holder };
    }
    const pid = Buffer.from(String(process.pid), 'latin1');
    const written = [0];
    if (a.SetEndOfFile(handle) === 0 || a.WriteFile(handle, pid, pid.length, written, null) === 0) {
      const error = a.GetLastError();
      a.CloseHandle(handle);
      throw lockFileError('write', path, error);
    }
    return { owned: true, fd: handle };
  }
}
