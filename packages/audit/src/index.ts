// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/audit`: Cora's tamper-evident audit log (architecture §10, promise G7): a closed union of
 * events that cannot hold a value, canonical JSONL lines in a SHA-256 hash chain, HMAC-SHA256
 * with the vault's audit key while unlocked, group-committed fsynced appends, rotation, and
 * verify / export.
 * @packageDocumentation
 */
export {
  AUDIT_OPS,
  AUDIT_REASONS,
  LOCK_REASONS,
  AUDIT_EVENT_TYPES,
  VAULT_OPS,
  AUDIT_COMMAND_LIMITS,
  callerSummary,
} from './types.ts';
export type {
  AuditOp,
  AuditReason,
  LockReason,
  AuditEventType,
  CallerSummary,
  AuditCommand,
  AuditEvent,
  AuditRecord,
  RecordFields,
  ServiceStartEvent,
  ServiceStopEvent,
  ConnectEvent,
  StatusPollsEvent,
  CallerRefusedEvent,
  UnlockEvent,
  UnlockFailedEvent,
  AuthFailedEvent,
  LockEvent,
  TaskStartEvent,
  SecretInjectedEvent,
  SecretMissingEvent,
  TaskEndEvent,
  TargetRefusedEvent,
  TaskRefusedEvent,
  RateLimitedEvent,
  ApprovalRequestedEvent,
  ApprovalGrantedEvent,
  ApprovalDeniedEvent,
  ApprovalExpiredEvent,
  GrantRevokedEvent,
  SecretSetEvent,
  SecretDeletedEvent,
  PolicyChangedEvent,
  PasswdEvent,
  ProtocolErrorEvent,
  FileStartEvent,
  VaultOp,
  VaultWriteEvent,
  VaultStateEvent,
  VerifyProblemKind,
} from './types.ts';
export { validateEvent, asciiJson } from './internal/schema.ts';
export { AuditLog } from './log.ts';
export type { AuditLogOptions, AuditHead } from './log.ts';
export { logFiles, readRecords, verifyLog } from './verify.ts';
export { exportLog, verifyExport, type ExportReport } from './export.ts';
export { findLastRecords } from './find.ts';
export type { FoundRecord, FindOptions } from './find.ts';
export type { VerifyOptions, VerifyProblem, VerifyReport } from './verify.ts';
export { AuditError, AuditErrorCode, isAuditError } from './errors.ts';
