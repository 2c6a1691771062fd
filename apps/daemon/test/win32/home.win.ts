// SPDX-License-Identifier: AGPL-3.0-only
// win32-acl.ts under Windows node.exe in Wine (tooling/test-windows.sh); TypeScript source, as
// spawn.win.ts. Wine keeps file ACLs only roughly (it adds SYSTEM and drops the protected flag),
// so the exact DACL is checked on a real Windows host only.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import koffi from 'koffi';
import { processIdentity } from '@cora/identity';
import {
  allowTrustees,
  ensurePrivateDirWin32,
  noErrorDialogsWin32,
  privateDirSddl,
  readSddl,
} from '../../src/shared/win32-acl.ts';

const k32 = koffi.load('kernel32.dll');
const adv = koffi.load('advapi32.dll');
const underWine = ((): boolean => {
  try {
    koffi.load('ntdll.dll').func('const char *wine_get_version()');
    return true;
  } catch {
    return false;
  }
})();
const GetErrorMode = k32.func('uint32_t __stdcall GetErrorMode()') as () => number;
const toSd = adv.func(
  'int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(str16 sddl, uint32_t rev, _Out_ void **sd, void *size)',
) as (s: string, r: number, sd: unknown[], size: null) => number;
const setFileSecurity = adv.func('int __stdcall SetFileSecurityW(str16 path, uint32_t info, void *sd)') as (
  p: string,
  i: number,
  sd: unknown,
) => number;

async function ownSid(): Promise<string> {
  const self = await processIdentity(process.pid);
  self.close();
  assert.ok(self.identity.sid !== undefined);
  return self.identity.sid;
}

void describe('the Windows vault home', () => {
  void it('should create the home with an entry for the user and accept it again', async () => {
    const sid = await ownSid();
    const root = mkdtempSync(join(tmpdir(), 'cora-home-'));
    try {
      const home = join(root, 'a', 'Cora');
      ensurePrivateDirWin32(home, sid);
      const sddl = readSddl(home);
      assert.ok(allowTrustees(sddl).includes(sid), sddl);
      if (!underWine) assert.equal(sddl, privateDirSddl(sid));
      ensurePrivateDirWin32(home, sid); // existing and private: accepted
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void it('should refuse an existing home that lets everyone in', async () => {
    const sid = await ownSid();
    const root = mkdtempSync(join(tmpdir(), 'cora-home-'));
    try {
      const home = join(root, 'Cora');
      mkdirSync(home);
      const sd: unknown[] = [null];
      assert.equal(toSd(`D:P(A;OICI;FA;;;${sid})(A;OICI;FA;;;WD)`, 1, sd, null), 1);
      assert.equal(setFileSecurity(home, 0x8000_0004, sd[0]), 1);
      assert.throws(() => {
        ensurePrivateDirWin32(home, sid);
      }, /lets WD in/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void it('should turn the error dialogs off', () => {
    const mode = noErrorDialogsWin32();
    assert.equal(GetErrorMode() & 0x8003, 0x8003);
    assert.equal(mode & 0x8003, 0x8003);
  });
});
