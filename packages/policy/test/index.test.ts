// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/policy entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "BASE_ENV_NAMES": "object",
        "CALLER_REASONS": "object",
        "POLICY_LIMITS": "object",
        "POLICY_VERSION": "number",
        "PolicyError": "function",
        "PolicyErrorCode": "object",
        "ReasonCode": "object",
        "WINDOWS_BASE_ENV_NAMES": "object",
        "addTask": "function",
        "allowCaller": "function",
        "childEnvironment": "function",
        "denyCaller": "function",
        "describeConfinement": "function",
        "emptyPolicy": "function",
        "evaluate": "function",
        "explain": "function",
        "formatCallerSpec": "function",
        "isHookVariable": "function",
        "isInterpreter": "function",
        "isPolicyError": "function",
        "isValidTaskName": "function",
        "landlockAbiNeeded": "function",
        "parseCallerSpec": "function",
        "parseDuration": "function",
        "parsePolicy": "function",
        "removeTask": "function",
        "replaceTask": "function",
        "serializePolicy": "function",
        "targetsToResolve": "function",
      }
    `);
  });

  it('should keep the reason codes a closed list', () => {
    expect(Object.keys(api.ReasonCode)).toEqual(Object.values(api.ReasonCode));
  });
});
