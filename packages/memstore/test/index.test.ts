// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/memstore entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "AUDIT_KEY_BYTES": "number",
        "DEFAULT_LIMITS": "object",
        "MAX_VALUE_BYTES": "number",
        "MemStore": "function",
        "MemstoreError": "function",
        "MemstoreErrorCode": "object",
        "REDACTED": "string",
        "SecretBuf": "function",
        "decodeSecretsBlock": "function",
        "encodeSecretsBlock": "function",
        "isMemstoreError": "function",
        "isValidSecretName": "function",
        "wipeBytes": "function",
        "wipeSecretsBlock": "function",
      }
    `);
  });
});
