// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/sandbox entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "Access": "object",
        "DEVICE_ACCESS": "number",
        "DEVICE_PATHS": "object",
        "FILE_ACCESS": "number",
        "MODIFY_ACCESS": "number",
        "NetAccess": "object",
        "READ_ACCESS": "number",
        "SandboxError": "function",
        "SandboxErrorCode": "object",
        "Scope": "object",
        "WRITE_ACCESS": "number",
        "accessAt": "function",
        "canonicalPath": "function",
        "confineAndExec": "function",
        "confineSelf": "function",
        "handledAccess": "function",
        "isSandboxError": "function",
        "isWithin": "function",
        "landlockAbi": "function",
        "planForKernel": "function",
        "planRules": "function",
        "realFsView": "object",
      }
    `);
  });

  it('should keep the error codes a closed list', () => {
    expect(Object.keys(api.SandboxErrorCode)).toEqual(Object.values(api.SandboxErrorCode));
  });
});
