// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/audit entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "AUDIT_COMMAND_LIMITS": "object",
        "AUDIT_EVENT_TYPES": "object",
        "AUDIT_OPS": "object",
        "AUDIT_REASONS": "object",
        "AuditError": "function",
        "AuditErrorCode": "object",
        "AuditLog": "function",
        "LOCK_REASONS": "object",
        "VAULT_OPS": "object",
        "asciiJson": "function",
        "callerSummary": "function",
        "exportLog": "function",
        "findLastRecords": "function",
        "isAuditError": "function",
        "logFiles": "function",
        "readRecords": "function",
        "validateEvent": "function",
        "verifyExport": "function",
        "verifyLog": "function",
      }
    `);
  });
});
