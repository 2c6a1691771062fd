// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/tui`: the Ink app of `cr tui` (architecture §2, issue 6): onboarding, dashboard, secrets,
 * tasks and explain, audit viewer and the approval queue. It talks to the service through
 * the client `cr` hands it (`@cora/ipc` requests, the CLI's own), and reads passphrases and
 * values as raw bytes into secure memory, never as strings (architecture §1 G3).
 * @packageDocumentation
 */
export { runTui, TUI_EXIT } from './run.ts';
export type { RunTuiOptions } from './run.ts';
export type {
  TuiBackend,
  TuiService,
  AgentBinary,
  DotenvImport,
  TargetCheck,
  ReadAuditOptions,
  AuditRecordLike,
  ApprovalHandlers,
  ApprovalSession,
} from './types.ts';
