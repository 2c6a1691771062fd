// SPDX-License-Identifier: AGPL-3.0-only
// Private files on Windows (SECURITY.md "Windows"): the vault home `%LOCALAPPDATA%\Cora` (or
// CORA_HOME) with a protected DACL for the user alone, checked where Linux checks uid and mode
// (the home, a passphrase file); and no error dialogs for the service.
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { win32 } from 'node:path';
import type Koffi from 'koffi';

const DACL_SECURITY_INFORMATION = 0x4;
const PROTECTED_DACL_SECURITY_INFORMATION = 0x8000_0000;
const SDDL_REVISION_1 = 1;
const SEM_FAILCRITICALERRORS = 0x1;
const SEM_NOGPFAULTERRORBOX = 0x2;
const SEM_NOOPENFILEERRORBOX = 0x8000;
const SID = /^S-1-(?:\d{1,10}|0x[0-9A-F]{12})(?:-\d{1,10}){0,15}$/;
/** Trustees besides the user that may hold an allow entry: they can read every file anyway. */
const SYSTEM_TRUSTEES: ReadonlySet<string> = new Set(['SY', 'S-1-5-18', 'BA', 'S-1-5-32-544']);

/** The vault home on Windows: `CORA_HOME`, else `%LOCALAPPDATA%\Cora`; undefined without either. */
export function windowsVaultHome(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const coraHome = env['CORA_HOME'];
  if (coraHome !== undefined && coraHome !== '') return coraHome;
  const local = env['LOCALAPPDATA'];
  return local === undefined || local === '' ? undefined : win32.join(local, 'Cora');
}

/** The home's DACL: protected, full control for `sid` alone, inherited by what is created inside. */
export function privateDirSddl(sid: string): string {
  if (!SID.test(sid)) throw new TypeError(`not a SID: ${JSON.stringify(sid)}`);
  return `D:P(A;OICI;FA;;;${sid})`;
}

/**
 * The trustees of the allow entries of an SDDL string's DACL (deny entries only restrict). A
 * null DACL (`NO_ACCESS_CONTROL`) lets everyone in: it answers `WD` (Everyone).
 */
export function allowTrustees(sddl: string): string[] {
  if (/D:[A-Z]*NO_ACCESS_CONTROL/.test(sddl)) return ['WD'];
  const dacl = /D:[A-Z]*((?:\([^)]*\))*)/.exec(sddl)?.[1] ?? '';
  const trustees: string[] = [];
  for (const match of dacl.matchAll(/\(([^)]*)\)/g)) {
    const fields = (match[1] ?? '').split(';');
    if (fields[0] === 'A' || fields[0] === 'OA') trustees.push(fields[5] ?? '');
  }
  return trustees;
}

interface Api {
  koffi: typeof Koffi;
  toSd: (sddl: string, rev: number, sd: unknown[], size: null) => number;
  toSddl: (sd: Buffer, rev: number, info: number, out: unknown[], size: null) => number;
  setFileSecurity: (path: string, info: number, sd: unknown) => number;
  getFileSecurity: (path: string, info: number, sd: Buffer, len: number, needed: number[]) => number;
  localFree: (p: unknown) => unknown;
  getLastError: () => number;
  setErrorMode: (mode: number) => number;
}
let api: Api | undefined;

function load(): Api {
  if (api !== undefined) return api;
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const k32 = koffi.load('kernel32.dll');
  const adv = koffi.load('advapi32.dll');
  api = {
    koffi,
    toSd: adv.func(
      'int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(str16 sddl, uint32_t rev, _Out_ void **sd, void *size)',
    ),
    toSddl: adv.func(
      'int __stdcall ConvertSecurityDescriptorToStringSecurityDescriptorW(void *sd, uint32_t rev, uint32_t info, _Out_ void **out, void *size)',
    ),
    setFileSecurity: adv.func('int __stdcall SetFileSecurityW(str16 path, uint32_t info, void *sd)'),
    getFileSecurity: adv.func(
      'int __stdcall GetFileSecurityW(str16 path, uint32_t info, void *sd, uint32_t length, _Out_ uint32_t *needed)',
    ),
    localFree: k32.func('void * __stdcall LocalFree(void *p)'),
    getLastError: k32.func('uint32_t __stdcall GetLastError()'),
    setErrorMode: k32.func('uint32_t __stdcall SetErrorMode(uint32_t mode)'),
  };
  return api;
}

/** The DACL of `path` (a file or a directory) as an SDDL string. */
export function readSddl(path: string): string {
  const a = load();
  let buffer = Buffer.alloc(1024);
  const needed = [0];
  if (a.getFileSecurity(path, DACL_SECURITY_INFORMATION, buffer, buffer.length, needed) === 0) {
    buffer = Buffer.alloc(needed[0] ?? 0);
    if (
      needed[0] === 0 ||
      a.getFileSecurity(path, DACL_SECURITY_INFORMATION, buffer, buffer.length, needed) === 0
    ) {
      throw new Error(`cannot read the ACL of ${path} (error ${a.getLastError()})`);
    }
  }
  const out: unknown[] = [null];
  if (a.toSddl(buffer, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, out, null) === 0) {
    throw new Error(`cannot decode the ACL of ${path} (error ${a.getLastError()})`);
  }
  try {
    return a.koffi.decode(out[0], 'char16_t', -1) as string;
  } finally {
    a.localFree(out[0]);
  }
}

/**
 * Create `dir` (and parents) when missing and give it {@link privateDirSddl}; then check that no
 * one but `sid` (and SYSTEM / Administrators, who can read every file anyway) is allowed in. An
 * existing directory is not re-ACLed: a wider one is refused, as Linux refuses a mode over 0700.
 *
 * @throws Error naming the directory and the trustee that should not be there.
 */
export function ensurePrivateDirWin32(dir: string, sid: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    restrictToUserWin32(dir, sid);
  }
  const others = othersAllowed(dir, sid);
  if (others.length > 0) {
    throw new Error(
      `${dir} lets ${others.join(', ')} in: give it to your user alone (icacls ${dir} /inheritance:r /grant:r %USERNAME%:F)`,
    );
  }
}

/**
 * Give `path` the DACL {@link privateDirSddl}: the user alone, protected from inheritance.
 * @param path - a file or directory
 * @param sid - the user's SID
 * @throws Error when the ACL cannot be built or set
 */
export function restrictToUserWin32(path: string, sid: string): void {
  const a = load();
  const sd: unknown[] = [null];
  if (a.toSd(privateDirSddl(sid), SDDL_REVISION_1, sd, null) === 0) {
    throw new Error(`cannot build the ACL for ${path} (error ${a.getLastError()})`);
  }
  try {
    if (
      a.setFileSecurity(path, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, sd[0]) === 0
    ) {
      throw new Error(`cannot set the ACL of ${path} (error ${a.getLastError()})`);
    }
  } finally {
    a.localFree(sd[0]);
  }
}

/**
 * Who besides `sid` (and SYSTEM / Administrators) the DACL of `path` allows in: the Windows
 * counterpart of Linux's "owned by us, no group or other bits" check.
 * @param path - a file or directory
 * @param sid - the user's SID
 * @returns the other trustees (SDDL names or SIDs); empty when the path is private
 * @throws Error when the DACL cannot be read
 */
export function othersAllowed(path: string, sid: string): string[] {
  return allowTrustees(readSddl(path)).filter((t) => t !== sid && !SYSTEM_TRUSTEES.has(t));
}

/**
 * No error dialogs for the service (SetErrorMode: critical errors, GP faults, open-file errors):
 * a crash ends the process at once instead of waiting on a dialog that a dump tool can attach
 * to. It does not stop Windows Error Reporting's LocalDumps (configured per executable name in
 * the registry; excluding node.exe would change every Node program of the user): SECURITY.md.
 * @returns the mode now in force
 */
export function noErrorDialogsWin32(): number {
  const a = load();
  const mode = SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX;
  const previous = a.setErrorMode(mode);
  a.setErrorMode(previous | mode);
  return previous | mode;
}
