// SPDX-License-Identifier: AGPL-3.0-only
// One table drives both the strict valibot schemas and the canonical serialiser, so the key
// order on disk is the order of each type's definition (README "Record format").
import * as v from 'valibot';
import { AuditError } from '../errors.ts';
import {
  AUDIT_COMMAND_LIMITS,
  AUDIT_EVENT_TYPES,
  AUDIT_OPS,
  AUDIT_REASONS,
  LOCK_REASONS,
  VAULT_OPS,
  type AuditCommand,
  type AuditEvent,
  type AuditEventType,
  type AuditRecord,
  type CallerSummary,
} from '../types.ts';

const MAX_PATH = 4096;
/** Bound on name lists (secret names of a task, a bulk import). */
const MAX_NAMES = 10_000; // the vault's own cap: one import can name every secret

const SIGNAL_RE = /^SIG[A-Z0-9]{1,10}$/;
const TASK_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SECRET_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const CODE_RE = /^[A-Z][A-Z_]{1,31}$/;
const VERSION_RE = /^[0-9A-Za-z.+-]{1,32}$/;
const FILE_RE = /^[A-Za-z0-9._-]{1,255}$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HEX64_RE = /^[0-9a-f]{64}$/;
/** A grant id: 32 random bits made by the service (`GRANT_ID_PATTERN` of @cora/ipc). */
const GRANT_RE = /^[0-9a-f]{8}$/;

const uint = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const int = v.pipe(v.number(), v.safeInteger());
// Absolute path (POSIX `/…` or a Windows drive path `C:\…`), no NUL; JSON escaping takes care of the rest.
const path = v.pipe(
  v.string(),
  v.minLength(2),
  v.maxLength(MAX_PATH),
  v.check((s) => s.startsWith('/') || /^[A-Za-z]:\\/.test(s), 'must be an absolute path'),
  v.excludes('\0'),
);
/** A uid, or -1 on Windows, which has none (the caller's `sid` names the user there). */
const uidOrNone = v.pipe(v.number(), v.safeInteger(), v.minValue(-1));
/** A Windows SID string (ConvertSidToStringSidW's form). */
const sid = v.pipe(
  v.string(),
  v.maxLength(184),
  v.regex(/^S-1-(?:\d{1,10}|0x[0-9A-F]{12})(?:-\d{1,10}){0,15}$/),
);
const task = v.pipe(v.string(), v.regex(TASK_RE));
const secretName = v.pipe(v.string(), v.regex(SECRET_RE));
const names = v.pipe(v.array(secretName), v.maxLength(MAX_NAMES));
const iso = v.pipe(v.string(), v.regex(ISO_RE));
// A SHA-256 of a public file (the encrypted vault), never of a value.
const hex64 = v.pipe(v.string(), v.regex(HEX64_RE));
const caller = v.strictObject({
  pid: uint,
  uid: uidOrNone,
  sid: v.optional(sid),
  exe: path,
  script: v.optional(path),
  parentPid: v.optional(uint),
  parentExe: v.optional(path),
  cli: v.boolean(),
});

const utf8 = new TextEncoder();
/** Caller text kept by `command` (README "Record format"): bounded, never NUL (execve cannot carry it). */
const text = (maxBytes: number) => v.pipe(v.string(), v.maxBytes(maxBytes), v.excludes('\0'));
const L = AUDIT_COMMAND_LIMITS;
const command = v.pipe(
  v.strictObject({
    argv: v.pipe(
      v.array(text(L.maxArgBytes)),
      v.maxLength(L.maxArgs),
      v.check(
        (argv) => argv.reduce((sum, arg) => sum + utf8.encode(arg).length, 0) <= L.maxArgvBytes,
        `at most ${String(L.maxArgvBytes)} bytes in all`,
      ),
    ),
    argvMore: v.pipe(v.array(uint), v.maxLength(L.maxArgs)),
    argvOmitted: uint,
    cwd: text(L.maxCwdBytes),
    cwdMore: uint,
  }),
  v.forward(
    v.check((c) => c.argvMore.length === c.argv.length, 'one entry per argv item'),
    ['argvMore'],
  ),
);

type Kind = 'num' | 'str' | 'bool' | 'names' | 'caller' | 'command';
interface Field {
  readonly name: string;
  readonly kind: Kind;
  readonly schema: v.GenericSchema;
}
const f = (name: string, kind: Kind, schema: v.GenericSchema): Field => ({ name, kind, schema });
const CALLER = f('caller', 'caller', caller);
const TASK = f('task', 'str', task);
const REASON = f('reason', 'str', v.picklist(AUDIT_REASONS));
const OP = f('op', 'str', v.picklist(AUDIT_OPS));
const ID = f('id', 'num', uint);
const PID = f('pid', 'num', uint);
const COMMAND = f('command', 'command', v.optional(command));

/** Field order per type = on-disk key order after `type`. */
const FIELDS: Readonly<Record<AuditEventType, readonly Field[]>> = {
  'service-start': [PID, f('version', 'str', v.pipe(v.string(), v.regex(VERSION_RE)))],
  'service-stop': [f('reason', 'str', v.picklist(['signal', 'shutdown', 'error']))],
  connect: [CALLER],
  'status-polls': [CALLER, f('count', 'num', uint), f('since', 'str', iso)],
  'caller-refused': [CALLER, OP, REASON],
  unlock: [CALLER, f('secrets', 'num', uint)],
  'unlock-failed': [CALLER, REASON],
  'auth-failed': [CALLER, OP],
  lock: [f('reason', 'str', v.picklist(LOCK_REASONS)), f('caller', 'caller', v.optional(caller))],
  'task-start': [
    CALLER,
    TASK,
    f('target', 'str', path),
    f('secrets', 'names', names),
    f('output', 'str', v.picklist(['masked', 'passthrough'])),
    REASON,
    f('weak', 'bool', v.boolean()),
    COMMAND,
  ],
  'secret-injected': [TASK, PID, f('secrets', 'names', names)],
  'secret-missing': [CALLER, TASK, f('secret', 'str', secretName)],
  'task-end': [
    TASK,
    PID,
    f('code', 'num', v.nullable(int)),
    f('signal', 'str', v.nullable(v.pipe(v.string(), v.regex(SIGNAL_RE)))),
    f('durationMs', 'num', uint),
  ],
  'target-refused': [CALLER, TASK, f('target', 'str', v.nullable(path)), REASON],
  'task-refused': [CALLER, TASK, REASON],
  'rate-limited': [CALLER, TASK, f('limit', 'str', v.picklist(['max_spawns', 'ttl']))],
  'approval-requested': [
    ID,
    CALLER,
    TASK,
    f('target', 'str', path),
    f('secrets', 'names', names),
    f('timeoutMs', 'num', uint),
    COMMAND,
  ],
  'approval-granted': [
    ID,
    TASK,
    f('approver', 'caller', caller),
    f('scope', 'str', v.picklist(['once', 'window', 'session'])),
    f('until', 'str', v.nullable(iso)),
  ],
  'approval-denied': [ID, TASK, f('approver', 'caller', v.nullable(caller)), REASON],
  'approval-expired': [ID, TASK],
  'grant-revoked': [
    CALLER,
    f('grant', 'str', v.pipe(v.string(), v.regex(GRANT_RE))),
    f('approval', 'num', uint),
    TASK,
    f('exe', 'str', path),
    f('parentPid', 'num', uint),
    f('scope', 'str', v.picklist(['window', 'session'])),
    f('until', 'str', v.nullable(iso)),
  ],
  'secret-set': [CALLER, f('names', 'names', names), f('replaced', 'names', names)],
  'secret-deleted': [CALLER, f('name', 'str', secretName)],
  'policy-changed': [CALLER, f('tasks', 'num', uint), f('callers', 'num', uint)],
  passwd: [CALLER],
  'protocol-error': [
    f('pid', 'num', v.nullable(uint)),
    f('uid', 'num', v.optional(uidOrNone)),
    f('code', 'str', v.pipe(v.string(), v.regex(CODE_RE))),
  ],
  'file-start': [
    f('previous', 'str', v.nullable(v.pipe(v.string(), v.regex(FILE_RE)))),
    f('torn', 'num', uint),
  ],
  'vault-write': [
    f('phase', 'str', v.picklist(['intent', 'commit', 'abort'])),
    f('op', 'str', v.picklist(VAULT_OPS)),
    f('generation', 'num', uint),
    f('sha256', 'str', hex64),
    f('previous', 'str', v.nullable(hex64)),
    f('recovered', 'bool', v.boolean()),
  ],
  'vault-state': [
    f('reason', 'str', v.picklist(['carry', 'first-use', 'adopted'])),
    f('generation', 'num', uint),
    f('sha256', 'str', hex64),
    f('vouched', 'num', v.nullable(uint)),
  ],
};

const SCHEMAS: ReadonlyMap<string, v.GenericSchema> = new Map(
  AUDIT_EVENT_TYPES.map((type) => [
    type,
    v.strictObject({
      type: v.literal(type),
      ...Object.fromEntries(FIELDS[type].map((field) => [field.name, field.schema])),
    }),
  ]),
);

/**
 * Check `input` against the closed schema of its `type`.
 *
 * @param input - anything
 * @returns the same object, typed as an {@link AuditEvent}
 * @throws AuditError `INVALID_EVENT` naming the offending field (never its value).
 * @example
 * ```ts
 * const event = validateEvent({ type: 'approval-expired', id: 7, task: 'deploy' });
 * ```
 */
export function validateEvent(input: unknown): AuditEvent {
  checkEvent(input);
  return input as AuditEvent;
}

/**
 * Check `input` like {@link validateEvent} and return a deep copy of the values that were
 * checked: each property is read once, so a getter, a proxy or a later mutation of the
 * caller's object cannot put an unchecked value into the log (the writer serialises this copy).
 */
export function snapshotEvent(input: unknown): AuditEvent {
  return checkEvent(input);
}

function checkEvent(input: unknown): AuditEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new AuditError('INVALID_EVENT', 'an audit event must be a plain object');
  }
  const type: unknown = (input as { type?: unknown }).type;
  const schema = typeof type === 'string' ? SCHEMAS.get(type) : undefined;
  if (schema === undefined) throw new AuditError('INVALID_EVENT', 'type: not an audit event type');
  const result = v.safeParse(schema, input);
  if (!result.success) {
    const issue = result.issues[0];
    const where =
      v.getDotPath(issue) ?? (issue.kind === 'schema' && issue.type === 'strict_object' ? 'key' : 'event');
    // The issue's own message may quote the received value: use its kind and expectation only
    // (a `check` has no expectation; its message is one of ours and quotes nothing).
    const expected = issue.type === 'check' ? issue.message : issue.expected;
    throw new AuditError(
      'INVALID_EVENT',
      `${String(type)}.${where}: invalid (${issue.type}${expected === null ? '' : `, expected ${clip(expected)}`})`,
    );
  }
  return result.output as AuditEvent;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function serCaller(c: CallerSummary): string {
  let out = `{"pid":${String(c.pid)},"uid":${String(c.uid)}`;
  if (c.sid !== undefined) out += `,"sid":${JSON.stringify(c.sid)}`;
  out += `,"exe":${JSON.stringify(c.exe)}`;
  if (c.script !== undefined) out += `,"script":${JSON.stringify(c.script)}`;
  if (c.parentPid !== undefined) out += `,"parentPid":${String(c.parentPid)}`;
  if (c.parentExe !== undefined) out += `,"parentExe":${JSON.stringify(c.parentExe)}`;
  return `${out},"cli":${c.cli ? 'true' : 'false'}}`;
}

/**
 * `value` as JSON with every character outside printable ASCII written as `\uXXXX` (one per
 * UTF-16 unit, lower-case hex like JSON.stringify's own escapes): the same data for a JSON
 * reader, and text that cannot steer a terminal that shows it. The rule is fixed by ASCII, not
 * by Unicode classes, so the canonical form of a record does not change with the ICU version.
 *
 * @param value - anything JSON.stringify takes
 * @returns one line of printable ASCII
 * @throws TypeError when `value` has no JSON form
 * @example
 * ```ts
 * asciiJson(['a\u202eb']); // '["a\\u202eb"]'
 * ```
 */
export function asciiJson(value: unknown): string {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError('value has no JSON form (undefined, a function or a symbol)');
  return json.replace(/[^\x20-\x7e]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function serCommand(c: AuditCommand): string {
  const argv = c.argv.map(asciiJson).join(',');
  const more = c.argvMore.map((n) => n.toString(10)).join(',');
  return (
    `{"argv":[${argv}],"argvMore":[${more}],"argvOmitted":${c.argvOmitted.toString(10)},` +
    `"cwd":${asciiJson(c.cwd)},"cwdMore":${c.cwdMore.toString(10)}}`
  );
}

function serValue(kind: Kind, value: unknown): string {
  if (value === null) return 'null';
  switch (kind) {
    case 'num':
      return (value as number).toString(10);
    case 'str':
      return JSON.stringify(value);
    case 'bool':
      return value === true ? 'true' : 'false';
    case 'names':
      return `[${(value as readonly string[]).map((n) => JSON.stringify(n)).join(',')}]`;
    case 'caller':
      return serCaller(value as CallerSummary);
    case 'command':
      return serCommand(value as AuditCommand);
  }
}

/**
 * The canonical bytes of a record up to and excluding `,"mac":…}` (the MAC input): `{"v":1,
 * "seq":…,"time":…,"type":…, <fields in definition order>, "prev":…` with no whitespace and
 * no closing brace. `event` must have passed {@link validateEvent}.
 */
export function serialiseBody(event: AuditEvent, seq: number, time: string, prev: string): string {
  let out = `{"v":1,"seq":${String(seq)},"time":"${time}","type":"${event.type}"`;
  const record = event as unknown as Readonly<Record<string, unknown>>;
  for (const field of FIELDS[event.type]) {
    const value = record[field.name];
    if (value === undefined) continue; // only optional fields can be absent after validation
    out += `,"${field.name}":${serValue(field.kind, value)}`;
  }
  return `${out},"prev":"${prev}"`;
}

/** The full line (without `\n`) from a body and its mac. */
export function finishLine(body: string, mac: string | null): string {
  return mac === null ? `${body},"mac":null}` : `${body},"mac":"${mac}"}`;
}

/** Why a line is not a valid record. */
export interface ParseFailure {
  readonly kind: 'bad-json' | 'bad-record';
  readonly message: string;
  readonly seq: number | null;
}

/** A parsed, validated, canonical line. */
export interface ParsedLine {
  readonly record: AuditRecord;
  /** The MAC input (the line up to `,"mac":`). */
  readonly body: string;
}

/** Parse one line (text without `\n`), check the schema and that it is canonical. */
export function parseLine(text: string): ParsedLine | ParseFailure {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'bad-json', message: 'not a JSON object', seq: null };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { kind: 'bad-json', message: 'not a JSON object', seq: null };
  }
  const { v: version, seq, time, prev, mac, ...event } = raw as Record<string, unknown>;
  const seqOk = typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1;
  const bad = (message: string): ParseFailure => ({ kind: 'bad-record', message, seq: seqOk ? seq : null });
  if (version !== 1) return bad('v: must be 1');
  if (!seqOk) return bad('seq: must be a positive safe integer');
  if (typeof time !== 'string' || !ISO_RE.test(time)) return bad('time: must be ISO-8601 UTC with ms');
  if (typeof prev !== 'string' || !HEX64_RE.test(prev)) return bad('prev: must be 64 hex digits');
  if (mac !== null && (typeof mac !== 'string' || !HEX64_RE.test(mac)))
    return bad('mac: must be 64 hex digits or null');
  let checked: AuditEvent;
  try {
    checked = validateEvent(event);
  } catch (error) {
    return bad(error instanceof Error ? error.message : 'invalid event');
  }
  const body = serialiseBody(checked, seq, time, prev);
  if (finishLine(body, mac) !== text)
    return bad('not in canonical form (key order, spacing or escaping changed)');
  return { record: { ...checked, v: 1, seq, time, prev, mac } as AuditRecord, body };
}
