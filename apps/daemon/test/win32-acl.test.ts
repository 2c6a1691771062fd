// SPDX-License-Identifier: AGPL-3.0-only
// The pure half of win32-acl.ts; the ACL calls run under Wine (test/win32/home.win.ts).
import { describe, expect, it } from 'vitest';
import { allowTrustees, privateDirSddl, windowsVaultHome } from '../src/shared/win32-acl.ts';

const SID = 'S-1-5-21-1-2-3-1001';

describe('win32 vault home', () => {
  it('should be CORA_HOME, else %LOCALAPPDATA%\\Cora', () => {
    expect(windowsVaultHome({ CORA_HOME: 'D:\\v', LOCALAPPDATA: 'C:\\L' })).toBe('D:\\v');
    expect(windowsVaultHome({ LOCALAPPDATA: 'C:\\L' })).toBe('C:\\L\\Cora');
    expect(windowsVaultHome({})).toBeUndefined();
  });

  it('should give the user alone a protected, inherited full-control entry', () => {
    expect(privateDirSddl(SID)).toBe(`D:P(A;OICI;FA;;;${SID})`);
    expect(() => privateDirSddl(`${SID})(A;;FA;;;WD`)).toThrow(TypeError);
  });

  it('should list the trustees of allow entries only', () => {
    expect(allowTrustees(`D:P(A;OICI;FA;;;${SID})`)).toEqual([SID]);
    expect(allowTrustees('D:(A;OICI;FA;;;SY)(D;;FA;;;WD)(A;;0x1200a9;;;BU)')).toEqual(['SY', 'BU']);
    expect(allowTrustees(`O:${SID}G:S-1-5-21-1-2-3-513D:AI(A;ID;FA;;;AU)S:(ML;;NW;;;LW)`)).toEqual(['AU']);
    // A null DACL grants everyone everything: it must not pass for private.
    expect(allowTrustees('D:NO_ACCESS_CONTROL')).toEqual(['WD']);
    expect(allowTrustees('D:PNO_ACCESS_CONTROL')).toEqual(['WD']);
  });
});
