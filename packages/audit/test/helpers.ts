// SPDX-License-Identifier: AGPL-3.0-only
import { readFile } from 'node:fs/promises';
import { SecretBuf } from '@cora/memstore';
import {
  isAuditError,
  readRecords,
  type AuditCommand,
  type AuditErrorCode,
  type AuditEvent,
  type AuditEventType,
  type AuditRecord,
  type CallerSummary,
} from '../src/index.ts';

export const CALLER: CallerSummary = {
  pid: 4242,
  uid: 1000,
  exe: '/usr/bin/node',
  script: '/home/me/agent.js',
  parentPid: 4000,
  parentExe: '/usr/bin/bash',
  cli: false,
};

/** A command as the service records it: masked, one argument cut, escapes kept as data. */
export const COMMAND: AuditCommand = {
  argv: ['git', 'push', '--force', 'x\x1b[2Jy', '<concealed:GITHUB_TOKEN>'],
  argvMore: [0, 0, 0, 0, 0],
  argvOmitted: 0,
  cwd: '/home/me/project',
  cwdMore: 0,
};

/** One valid event per type (every optional field present where there is one). */
export const FIXTURES: { readonly [K in AuditEventType]: Extract<AuditEvent, { type: K }> } = {
  'service-start': { type: 'service-start', pid: 100, version: '0.1.0' },
  'service-stop': { type: 'service-stop', reason: 'shutdown' },
  connect: { type: 'connect', caller: CALLER },
  'caller-refused': { type: 'caller-refused', caller: CALLER, op: 'exec', reason: 'CALLER_NOT_ALLOWED' },
  unlock: { type: 'unlock', caller: { ...CALLER, cli: true }, secrets: 3 },
  'unlock-failed': { type: 'unlock-failed', caller: CALLER, reason: 'AUTH_FAILED' },
  'auth-failed': { type: 'auth-failed', caller: CALLER, op: 'secrets.set' },
  lock: { type: 'lock', reason: 'request', caller: CALLER },
  'task-start': {
    type: 'task-start',
    caller: CALLER,
    task: 'deploy',
    target: '/usr/bin/git',
    secrets: ['GITHUB_TOKEN', 'NPM_TOKEN'],
    output: 'masked',
    reason: 'ALLOWED',
    weak: true,
    command: COMMAND,
  },
  'secret-injected': { type: 'secret-injected', task: 'deploy', pid: 5000, secrets: ['GITHUB_TOKEN'] },
  'secret-missing': { type: 'secret-missing', caller: CALLER, task: 'deploy', secret: 'NPM_TOKEN' },
  'task-end': {
    type: 'task-end',
    task: 'deploy',
    pid: 5000,
    code: null,
    signal: 'SIGKILL',
    durationMs: 1234,
  },
  'target-refused': {
    type: 'target-refused',
    caller: CALLER,
    task: 'deploy',
    target: '/usr/bin/curl',
    reason: 'TARGET_NOT_ALLOWED',
  },
  'task-refused': { type: 'task-refused', caller: CALLER, task: 'nope', reason: 'UNKNOWN_TASK' },
  'rate-limited': { type: 'rate-limited', caller: CALLER, task: 'deploy', limit: 'max_spawns' },
  'approval-requested': {
    type: 'approval-requested',
    id: 7,
    caller: CALLER,
    task: 'deploy',
    target: '/usr/bin/git',
    secrets: ['GITHUB_TOKEN'],
    timeoutMs: 60_000,
    command: COMMAND,
  },
  'approval-granted': {
    type: 'approval-granted',
    id: 7,
    task: 'deploy',
    approver: { ...CALLER, pid: 4343, cli: true },
    scope: 'window',
    until: '2026-11-23T12:00:00.000Z',
  },
  'approval-denied': { type: 'approval-denied', id: 8, task: 'deploy', approver: null, reason: 'CANCELLED' },
  'approval-expired': { type: 'approval-expired', id: 9, task: 'deploy' },
  'grant-revoked': {
    type: 'grant-revoked',
    caller: CALLER,
    grant: '0a1b2c3d',
    approval: 7,
    task: 'deploy',
    exe: '/usr/bin/node',
    parentPid: 4000,
    scope: 'window',
    until: '2026-11-23T00:15:00.000Z',
  },
  'secret-set': { type: 'secret-set', caller: CALLER, names: ['A', 'B_2'], replaced: ['A'] },
  'secret-deleted': { type: 'secret-deleted', caller: CALLER, name: 'A' },
  'policy-changed': { type: 'policy-changed', caller: CALLER, tasks: 4, callers: 2 },
  passwd: { type: 'passwd', caller: CALLER },
  'protocol-error': { type: 'protocol-error', pid: 4242, uid: 1000, code: 'NOT_ALLOWED' },
  'file-start': { type: 'file-start', previous: 'audit-000000000001.jsonl', torn: 0 },
  'vault-write': {
    type: 'vault-write',
    phase: 'intent',
    op: 'secrets.set',
    generation: 4,
    sha256: 'ab'.repeat(32),
    previous: 'cd'.repeat(32),
    recovered: false,
  },
  'vault-state': {
    type: 'vault-state',
    reason: 'carry',
    generation: 4,
    sha256: 'ab'.repeat(32),
    vouched: null,
  },
  'status-polls': { type: 'status-polls', caller: CALLER, count: 3600, since: '2026-12-04T10:00:00.000Z' },
};

/** A 32-byte test key; `use` lends its bytes to node:crypto for cross-checks in tests only. */
export function testKey(): SecretBuf {
  return SecretBuf.random(32);
}

/** A stream of events for filling logs (no file-start: the log writes those). */
export function someEvents(n: number): AuditEvent[] {
  const kinds = Object.values(FIXTURES).filter((e) => e.type !== 'file-start' && e.type !== 'unlock');
  return Array.from({ length: n }, (_, i) => kinds[i % kinds.length]!);
}

/** Every chunk of a byte stream, copied (exports are small in tests). */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of source) out.push(Buffer.from(chunk));
  return out;
}

/** The whole lines of a log file as text (the last `\n` dropped). */
export async function fileLinesOf(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
}

/** File names (no directory) of absolute paths under `dir`. */
export function baseNames(dir: string, paths: readonly string[]): string[] {
  return paths.map((p) => p.slice(dir.length + 1));
}

/** Every record readRecords yields. */
export async function allRecords(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const record of readRecords(dir)) out.push(record);
  return out;
}

/** `rejects.toSatisfy` predicate for an AuditError of one code. */
export const hasCode =
  (code: AuditErrorCode) =>
  (error: unknown): boolean =>
    isAuditError(error, code);
