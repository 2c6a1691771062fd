// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/ipc entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "APPROVAL_LIMITS": "object",
        "ATTACHMENT_PARTS": "object",
        "DEFAULT_MAX_FRAME_BYTES": "number",
        "EXEC_LIMITS": "object",
        "FrameDecoder": "function",
        "GRANT_ID_PATTERN": "object",
        "IpcClient": "function",
        "IpcError": "function",
        "IpcErrorCode": "object",
        "LocalErrorCode": "object",
        "MAX_HEADER_DEPTH": "number",
        "MAX_REQUEST_ID": "number",
        "PROTOCOL_VERSION": "number",
        "SUPPORTED_PROTOCOLS": "object",
        "WireErrorCode": "object",
        "adoptWithOwnBuffer": "function",
        "attachmentParts": "function",
        "connectIpc": "function",
        "createIpcServer": "function",
        "encodeFrame": "function",
        "isCarriableEnvVar": "function",
        "isIpcError": "function",
        "isWireErrorCode": "function",
        "packParts": "function",
        "socketPath": "function",
        "unpackParts": "function",
        "windowsPipePath": "function",
      }
    `);
  });
});
