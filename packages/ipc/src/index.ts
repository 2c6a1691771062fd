// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/ipc`: Cora's local socket protocol (architecture §5): frames with a JSON header and a
 * binary attachment for secrets, strict message schemas, a closed list of error codes, a
 * hardened Unix-socket server and a client that checks the server before it speaks.
 * @packageDocumentation
 */
export { createIpcServer } from './server.ts';
export type {
  IpcServer,
  IpcServerOptions,
  IpcServerLimits,
  IpcHandler,
  IpcHandlers,
  OptionalRequestType,
  RequestContext,
  RequestInput,
  InputListener,
} from './server-types.ts';
export { IpcClient } from './client.ts';
export { connectIpc, type ConnectOptions } from './connect.ts';
export type { RequestOptions, ExecOptions, ExecHandle, ApproveOptions, ApproveHandle } from './client.ts';
export { socketPath } from './paths.ts';
export { windowsPipePath } from './internal/win32-pipe.ts';
export { adoptWithOwnBuffer } from './own-read.ts';
export type { OwnBufferOptions } from './own-read.ts';
export { encodeFrame, FrameDecoder, packParts, unpackParts, DEFAULT_MAX_FRAME_BYTES } from './frame.ts';
export type { DecodedFrame, FrameDecoderOptions, PushResult } from './frame.ts';
export {
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOLS,
  MAX_REQUEST_ID,
  MAX_HEADER_DEPTH,
  ATTACHMENT_PARTS,
  attachmentParts,
  EXEC_LIMITS,
  APPROVAL_LIMITS,
  isCarriableEnvVar,
  GRANT_ID_PATTERN,
} from './messages.ts';
export type {
  EmptyParams,
  RequestParams,
  MessageType,
  RequestType,
  RequestHeader,
  HelloResult,
  StatusResult,
  StatusLock,
  StatusLockReason,
  LockResult,
  UnlockResult,
  InitResult,
  SecretMeta,
  SecretsSetResult,
  SecretsDeleteResult,
  SecretsImportResult,
  PasswdResult,
  PolicyGetResult,
  PolicySetResult,
  PolicyExplainStep,
  PolicyExplainResult,
  PolicyVerifyGate,
  PolicyVerifyProcess,
  PolicyVerifyResult,
  PolicyVerifyRule,
  ExecParams,
  ExecResult,
  ApprovalInfo,
  ApprovalEnvVar,
  ApprovalFile,
  ApprovalResolved,
  ApprovalDecision,
  ApproveResult,
  AuditProblem,
  AuditVerifyResult,
  AuditExportResult,
  GrantInfo,
  GrantsRevokeResult,
  ExecSignal,
  InputParams,
  InputType,
  InputHeader,
  Results,
  ErrorBody,
  OkReply,
  ErrorReply,
  ReplyHeader,
  EventHeader,
} from './messages.ts';
export type { RateLimit } from './internal/rate.ts';
export {
  IpcError,
  IpcErrorCode,
  WireErrorCode,
  LocalErrorCode,
  isIpcError,
  isWireErrorCode,
} from './errors.ts';
