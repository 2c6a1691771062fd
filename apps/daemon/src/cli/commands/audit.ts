// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr audit tail|show|verify|export` (architecture §10, §11). The log is the user's own file, so
 * tail and show read it directly. Verify and export need the MAC key, which only the unlocked
 * service holds: they go through it; while locked, verify checks the chain alone and says so.
 */
import { closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AUDIT_EVENT_TYPES,
  asciiJson,
  readRecords,
  validateEvent,
  verifyLog,
  type AuditCommand,
  type AuditRecord,
} from '@cora/audit';
import { quoteCommand, shellQuote, visible } from '@cora/display';
import { parseDuration } from '@cora/policy';
import type { AuditVerifyResult } from '@cora/ipc';
import { connectService, runningService, type Service } from '../client.ts';
import { CrError } from '../../shared/errors.ts';
import { coraHome } from '../../shared/paths.ts';

const AUDIT_FILE = 'audit.jsonl';
/** How often `tail --follow` looks for new records. */
const FOLLOW_POLL_MS = 250;

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** EPIPE: the reader went away (`cr audit tail | head -1`); end quietly with 0, as `cat` does. */
function exitIfReaderGone(error: unknown): void {
  if ((error as NodeJS.ErrnoException | null)?.code === 'EPIPE') process.exit(0);
}

/** A closed stdout ends the command instead of throwing from the next write (a stack trace). */
function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (error: Error) => {
    exitIfReaderGone(error);
    throw error;
  });
}

function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * A field of a record for the one-line form: callers as `exe[pid]`, lists joined. Paths and
 * names came from other processes, so every string goes through `visible` (a path holding
 * `ESC[2J` must not clear the reader's screen).
 */
function show(value: unknown): string {
  if (Array.isArray(value)) return value.map(show).join(',');
  if (typeof value === 'object' && value !== null) {
    const caller = value as { exe?: unknown; pid?: unknown };
    if (typeof caller.exe === 'string') return `${visible(caller.exe)}[${String(caller.pid)}]`;
    return visible(JSON.stringify(value));
  }
  return visible(String(value));
}

/** A record's `command`, shell-quoted as the approver saw it: `'a b'` and `a b` differ, escapes show. */
function commandFields(c: AuditCommand): string {
  const argv = quoteCommand(c.argv, { more: c.argvMore, omitted: c.argvOmitted });
  return `cwd=${shellQuote(c.cwd, { more: c.cwdMore })} command=${argv}`;
}

/**
 * One record as one line for people: time, seq, type, then the type's own fields.
 * @param record - a parsed record
 * @returns the line
 */
function formatRecord(record: AuditRecord): string {
  const skip = new Set(['v', 'seq', 'time', 'type', 'prev', 'mac']);
  const fields = Object.entries(record)
    .filter(([key, value]) => !skip.has(key) && value !== undefined)
    .map(([key, value]) =>
      key === 'command' ? commandFields(value as AuditCommand) : `${visible(key)}=${show(value)}`,
    );
  const sealed = record.mac === null ? ' (unsealed)' : '';
  return `${visible(record.time)} #${String(record.seq)} ${visible(record.type)}${sealed} ${fields.join(' ')}`.trimEnd();
}

function print(record: AuditRecord, json: boolean): void {
  // JSON: the same data, with everything outside printable ASCII as \u escapes (safe on a terminal).
  out(json ? asciiJson(record) : formatRecord(record));
}

export interface ReadOptions {
  json?: boolean;
}

export async function cmdTail(options: ReadOptions & { lines?: number; follow?: boolean }): Promise<void> {
  endQuietlyWhenStdoutCloses();
  const home = coraHome();
  const count = options.lines ?? 20;
  const last: AuditRecord[] = [];
  for await (const record of readRecords(home)) {
    last.push(record);
    if (last.length > count) last.shift();
  }
  for (const record of last) print(record, options.json === true);
  if (options.follow === true) await follow(home, last.at(-1)?.seq ?? 0, options.json === true);
}

/**
 * Records appended after `afterSeq`, as they come (also across a rotation: the file is re-read
 * from the start when its inode changes or it shrinks). Used by `cr audit tail --follow` and
 * the TUI's audit view. Torn or foreign lines are skipped (verify reports them).
 *
 * @param home - the Cora home (the log's directory)
 * @param afterSeq - yield only records with a higher seq
 * @param signal - ends the iteration (checked every poll)
 * @returns the new records, in order
 */
export async function* followRecords(
  home: string,
  afterSeq: number,
  signal: AbortSignal,
): AsyncGenerator<AuditRecord> {
  const path = join(home, AUDIT_FILE);
  let seq = afterSeq;
  let ino = -1;
  let offset = 0;
  let partial = '';
  while (!signal.aborted) {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      stat = null;
    }
    if (stat !== null) {
      if (stat.ino !== ino || stat.size < offset) {
        ino = stat.ino;
        offset = 0;
        partial = '';
      }
      if (stat.size > offset) {
        const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
        const fresh: AuditRecord[] = [];
        try {
          const buffer = Buffer.alloc(stat.size - offset);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          offset += bytesRead;
          const text = partial + buffer.subarray(0, bytesRead).toString('utf8');
          const lines = text.split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            const record = parseLine(line);
            if (record !== null && record.seq > seq) {
              seq = record.seq;
              fresh.push(record);
            }
          }
        } finally {
          await handle.close();
        }
        // Yield after closing: the consumer may stop iterating at any record.
        for (const record of fresh) {
          yield record;
          // The consumer may have aborted while it held the record (the loop test cannot tell).
          if (aborted(signal)) return;
        }
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, FOLLOW_POLL_MS);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Print records as they are appended ({@link followRecords}) until SIGINT / SIGTERM. */
async function follow(home: string, afterSeq: number, json: boolean): Promise<void> {
  const abort = new AbortController();
  const onSignal = (): void => {
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for await (const record of followRecords(home, afterSeq, abort.signal)) print(record, json);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The fields every line adds around its event (`@cora/audit` README "Record format"). */
const RECORD_FIELDS: ReadonlySet<string> = new Set(['v', 'seq', 'time', 'prev', 'mac']);

/** A line that holds a record of a known shape (the chain and MAC are verify's job), or null. */
function parseLine(line: string): AuditRecord | null {
  try {
    const value = JSON.parse(line) as unknown;
    if (typeof value !== 'object' || value === null) return null;
    const record = value as Record<string, unknown>;
    if (typeof record['seq'] !== 'number' || typeof record['time'] !== 'string') return null;
    // The readers rely on each field's shape.
    validateEvent(Object.fromEntries(Object.entries(record).filter(([key]) => !RECORD_FIELDS.has(key))));
    return value as AuditRecord;
  } catch {
    // A torn, foreign or malformed line: verify reports it; tail skips it.
  }
  return null;
}

/**
 * `--since`: an ISO date/time, or a duration back from now (`30m`, `2h`, `7d`).
 * @param text - the option value
 * @returns ms since the epoch
 */
function sinceOf(text: string): number {
  const ago = parseDuration(text);
  if (ago !== null) return Date.now() - ago;
  const at = Date.parse(text);
  if (Number.isNaN(at))
    throw new CrError(
      'USAGE',
      `--since takes a date (2026-11-23T10:00Z) or a duration (2h, 1h30m), got '${text}'`,
    );
  return at;
}

/** `--type` names one of the log's event types; a typo is an error, not an empty result. */
function typeOf(text: string | undefined): string | undefined {
  if (text === undefined || (AUDIT_EVENT_TYPES as readonly string[]).includes(text)) return text;
  throw new CrError(
    'USAGE',
    `--type: no event type '${text}'; the types are ${AUDIT_EVENT_TYPES.join(', ')}`,
  );
}

export async function cmdShow(
  options: ReadOptions & { task?: string; since?: string; type?: string },
): Promise<void> {
  const type = typeOf(options.type);
  const since = options.since === undefined ? null : sinceOf(options.since);
  endQuietlyWhenStdoutCloses();
  for await (const record of readRecords(coraHome())) {
    if (type !== undefined && record.type !== type) continue;
    if (options.task !== undefined && (record as { task?: unknown }).task !== options.task) continue;
    if (since !== null && Date.parse(record.time) < since) continue;
    print(record, options.json === true);
  }
}

function printReport(report: AuditVerifyResult, json: boolean): void {
  if (json) {
    out(JSON.stringify(report, null, 2));
    return;
  }
  const problem = report.firstProblem;
  if (problem !== null) {
    out(
      `FAILED at ${problem.file}:${String(problem.line)}${problem.seq === null ? '' : ` (seq ${String(problem.seq)})`}: ${problem.kind}: ${problem.message}`,
    );
  } else {
    out(
      `OK: ${String(report.records)} records in ${String(report.files.length)} file(s); ` +
        (report.macChecked
          ? `MACs checked, sealed up to seq ${String(report.lastSealedSeq ?? 0)}, ${String(report.unsealed)} unsealed after it`
          : 'chain only (MACs not checked: the vault is locked; cr unlock, then verify again)'),
    );
  }
  if (report.firstProblem === null && !report.macChecked) {
    out(
      'without the key anyone can rebuild a chain: this finds accidents and naive edits, not a careful forger',
    );
  }
  if (report.torn !== null) {
    out(
      `torn tail: ${String(report.torn.bytes)} bytes at offset ${String(report.torn.offset)} of ${report.torn.file} (a crash mid-write; not part of the chain)`,
    );
  }
}

/**
 * What `cr audit verify` reports: the running service checks against the head it wrote (and,
 * unlocked, every MAC); with none running, the chain is checked here.
 * @param home - the Cora home (the log's directory)
 * @param service - the running service, or null
 * @returns the report (`ok` false with `firstProblem` set on a problem)
 */
export async function auditReport(home: string, service: Service | null): Promise<AuditVerifyResult> {
  if (service !== null) return await service.verifyAudit();
  const local = await verifyLog(home);
  return { ...local, files: [...local.files] };
}

export async function cmdVerify(options: ReadOptions): Promise<void> {
  endQuietlyWhenStdoutCloses();
  const home = coraHome();
  const service = await connectService(home);
  let report: AuditVerifyResult;
  try {
    report = await auditReport(home, service);
  } finally {
    service?.close();
  }
  printReport(report, options.json === true);
  if (!report.ok)
    throw new CrError('AUDIT_INVALID', 'the audit log does not verify (see the first bad line above)');
}

export async function cmdExport(options: { output?: string }): Promise<void> {
  const service = await runningService(
    coraHome(),
    'exports are signed by the unlocked service; run cr unlock',
  );
  let fd = 1;
  if (options.output !== undefined) {
    fd = openSync(
      options.output,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  }
  try {
    const result = await service.exportAudit((line) => {
      try {
        writeSync(fd, `${line}\n`);
      } catch (error) {
        if (fd === 1) exitIfReaderGone(error);
        throw error;
      }
    });
    note(`exported ${String(result.count)} records; head ${result.head}`);
  } finally {
    service.close();
    if (fd !== 1) closeSync(fd);
  }
}
