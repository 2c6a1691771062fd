// SPDX-License-Identifier: AGPL-3.0-only
import * as v from 'valibot';
import { IpcError, WireErrorCode } from '../errors.ts';
import {
  APPROVAL_LIMITS,
  EXEC_LIMITS,
  GRANT_ID_PATTERN,
  isCarriableEnvVar,
  MAX_HEADER_DEPTH,
  MAX_REQUEST_ID,
  SUPPORTED_PROTOCOLS,
  type ErrorReply,
  type EventHeader,
  type InputHeader,
  type InputType,
  type MessageType,
  type RequestHeader,
  type Results,
} from '../messages.ts';
import { parseHeaderJson } from './json.ts';

// Every object schema is strict: an unknown field is refused, not ignored (architecture §5).

const RequestId = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_REQUEST_ID));
const ReplyId = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_REQUEST_ID));
const Uint = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const Version = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff));
/** Names are checked against the architecture §4 rule by the handler (INVALID_NAME), not here. */
const Name = v.pipe(v.string(), v.minLength(1), v.maxLength(1024));
const Iso = v.pipe(v.string(), v.isoTimestamp());
/** architecture §4 / memstore DEFAULT_LIMITS: at most 10 000 secrets. */
const MAX_NAMES = 10_000;

/** No NUL: it cannot cross execve and would silently cut a string short. */
const noNul = v.check((s: string) => !s.includes('\0'), 'contains NUL');
/** A command-line item and the command line, within {@link EXEC_LIMITS}. */
const Arg = v.pipe(v.string(), v.maxBytes(EXEC_LIMITS.maxArgBytes), noNul);
const Argv = v.pipe(v.array(Arg), v.minLength(1), v.maxLength(EXEC_LIMITS.maxArgs));
// Absolute in this platform's form: `/…`, or a drive path (`C:\…`) on Windows. A Windows
// path sent to a POSIX service would be taken as relative, and the other way round.
const absolute: (s: string) => boolean =
  process.platform === 'win32' ? (s) => /^[A-Za-z]:\\/.test(s) : (s) => s.startsWith('/');
const AbsPath = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxBytes(4096),
  v.check(absolute, 'must be an absolute path'),
  noNul,
);
/** The caller's environment: each pair as {@link isCarriableEnvVar} says, at most maxEnvVars. */
const Env = v.pipe(
  // v.record alone takes an array (['A=1'] would arrive as a variable named "0").
  v.custom<Record<string, unknown>>(isRecord, 'must be an object'),
  v.record(v.string(), v.string()),
  v.check(
    (env: Record<string, string>) => Object.keys(env).length <= EXEC_LIMITS.maxEnvVars,
    `more than ${EXEC_LIMITS.maxEnvVars} variables`,
  ),
  v.check(
    (env: Record<string, string>) =>
      Object.entries(env).every(([name, value]) => isCarriableEnvVar(name, value)),
    'a variable name or value it cannot carry (=, NUL, or too long)',
  ),
);
/** A JSON object (not an array, not null); the policy package validates the rest. */
const JsonObject = v.custom<unknown>(isRecord, 'must be a JSON object');
const Signal = v.picklist(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGKILL']);
const TermSize = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(0xffff));
const Text = v.pipe(v.string(), v.maxLength(1024));
/** Linux's PID_MAX_LIMIT (2^22) is the largest pid any platform Cora serves hands out. */
const Pid = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4_194_304));

function request<const T extends MessageType | InputType, const E extends v.ObjectEntries>(
  type: T,
  entries: E,
) {
  return v.strictObject({ v: v.exactOptional(Version), id: RequestId, type: v.literal(type), ...entries });
}

const REQUEST_SCHEMAS: { readonly [T in MessageType]: v.GenericSchema<unknown, RequestHeader<T>> } = {
  hello: request('hello', { protocol: Version, client: v.pipe(v.string(), v.maxLength(256)) }),
  status: request('status', {}),
  lock: request('lock', { stop: v.exactOptional(v.boolean()) }),
  unlock: request('unlock', {
    acceptVault: v.exactOptional(v.boolean()),
    idleTimeoutMs: v.exactOptional(Uint),
    lifetimeMs: v.exactOptional(Uint),
  }),
  init: request('init', { by: v.picklist(['cli', 'tui']) }),
  'secrets.list': request('secrets.list', {}),
  'secrets.set': request('secrets.set', { name: Name }),
  'secrets.delete': request('secrets.delete', { name: Name, force: v.exactOptional(v.boolean()) }),
  'secrets.import': request('secrets.import', {
    names: v.pipe(v.array(Name), v.minLength(1), v.maxLength(MAX_NAMES)),
  }),
  passwd: request('passwd', {}),
  'policy.get': request('policy.get', {}),
  'policy.set': request('policy.set', {
    policy: JsonObject,
    allowMissingSecrets: v.exactOptional(v.boolean()),
    allowInterpreterTargets: v.exactOptional(v.boolean()),
  }),
  'policy.explain': request('policy.explain', {
    task: Name,
    argv: Argv,
    caller: v.exactOptional(AbsPath),
    under: v.exactOptional(AbsPath),
  }),
  'policy.verify': request('policy.verify', { pid: Pid }),
  exec: request('exec', {
    task: Name,
    argv: Argv,
    cwd: AbsPath,
    env: Env,
    tty: v.exactOptional(v.boolean()),
    cols: v.exactOptional(TermSize),
    rows: v.exactOptional(TermSize),
  }),
  approve: request('approve', {}),
  'audit.verify': request('audit.verify', {}),
  'audit.export': request('audit.export', {}),
  'grants.list': request('grants.list', {}),
  'grants.revoke': v.union([
    request('grants.revoke', { grant: v.pipe(v.string(), v.regex(GRANT_ID_PATTERN)) }),
    request('grants.revoke', { all: v.literal(true) }),
  ]),
};

const INPUT_SCHEMAS: { readonly [T in InputType]: v.GenericSchema<unknown, InputHeader<T>> } = {
  'exec.stdin': request('exec.stdin', { ref: RequestId, eof: v.exactOptional(v.literal(true)) }),
  'exec.signal': request('exec.signal', { ref: RequestId, signal: Signal }),
  'exec.resize': request('exec.resize', { ref: RequestId, cols: TermSize, rows: TermSize }),
  'approve.decide': request('approve.decide', {
    ref: RequestId,
    approval: RequestId,
    decision: v.picklist(['allow-once', 'allow-window', 'deny']),
  }),
};

const SecretMetaSchema = v.strictObject({
  name: Name,
  created: Iso,
  updated: Iso,
  length: v.exactOptional(Uint),
});

const Hash = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const Path = v.pipe(v.string(), v.maxBytes(4096));
const SeqNumber = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));

/** Payload of the `pending` event of `approve` (checked by the client). */
export const ApprovalInfoSchema = v.pipe(
  v.strictObject({
    id: RequestId,
    task: Name,
    target: Path,
    argv: v.pipe(
      v.array(v.pipe(v.string(), v.maxBytes(APPROVAL_LIMITS.maxArgBytes), noNul)),
      v.minLength(1),
      v.maxLength(EXEC_LIMITS.maxArgs),
      v.check(
        (argv) => argv.reduce((sum, arg) => sum + Buffer.byteLength(arg), 0) <= APPROVAL_LIMITS.maxArgvBytes,
        `more than ${String(APPROVAL_LIMITS.maxArgvBytes)} bytes of arguments`,
      ),
    ),
    argvMore: v.pipe(v.array(Uint), v.maxLength(EXEC_LIMITS.maxArgs)),
    argvOmitted: Uint,
    cwd: Path,
    cwdMore: Uint,
    secrets: v.pipe(v.array(Name), v.maxLength(MAX_NAMES)),
    caller: v.strictObject({ pid: Uint, exe: Path, script: v.nullable(Path) }),
    ancestry: v.pipe(
      v.array(v.strictObject({ pid: Uint, exe: Path })),
      v.maxLength(APPROVAL_LIMITS.maxAncestors),
    ),
    window: v.nullable(v.pipe(v.string(), v.minLength(1), v.maxLength(32))),
    expiresAt: Iso,
    env: v.pipe(
      v.array(
        v.strictObject({
          name: v.pipe(v.string(), v.minLength(1), v.maxBytes(EXEC_LIMITS.maxEnvNameBytes), noNul),
          value: v.pipe(v.string(), v.maxBytes(APPROVAL_LIMITS.maxEnvValueBytes), noNul),
          more: Uint,
        }),
      ),
      v.maxLength(APPROVAL_LIMITS.maxEnv),
    ),
    envOmitted: Uint,
    files: v.pipe(
      v.array(
        v.strictObject({
          where: v.picklist(['home', 'cwd']),
          path: v.pipe(v.string(), v.minLength(1), v.maxBytes(APPROVAL_LIMITS.maxFilePathBytes), noNul),
          modified: Iso,
        }),
      ),
      v.maxLength(APPROVAL_LIMITS.maxFiles),
    ),
    confine: v.exactOptional(
      v.pipe(
        v.array(v.pipe(v.string(), v.minLength(1), v.maxBytes(APPROVAL_LIMITS.maxConfineBytes), noNul)),
        v.maxLength(8),
      ),
    ),
    output: v.exactOptional(v.picklist(['masked', 'passthrough'])),
  }),
  v.forward(
    v.check((info) => info.argvMore.length === info.argv.length, 'one argvMore entry per argument'),
    ['argvMore'],
  ),
);

/** Payload of the `resolved` event of `approve`. */
export const ApprovalResolvedSchema = v.strictObject({
  id: RequestId,
  outcome: v.picklist(['granted', 'denied', 'expired', 'cancelled']),
});

/** Grants live in memory while unlocked; far more than one per task and caller is a bug. */
const MAX_GRANTS = 10_000;
const GrantInfoSchema = v.strictObject({
  id: v.pipe(v.string(), v.regex(GRANT_ID_PATTERN)),
  task: Name,
  caller: AbsPath,
  parentPid: Uint,
  scope: v.picklist(['window', 'session']),
  grantedAt: Iso,
  expiresAt: v.nullable(Iso),
  approval: RequestId,
  approver: v.nullable(v.strictObject({ pid: Uint, exe: Path })),
});
const Grants = v.pipe(v.array(GrantInfoSchema), v.maxLength(MAX_GRANTS));

/** A policy holds at most 1000 rules in each list and 1000 tasks (`@cora/policy` limits). */
const MAX_VERIFY_ITEMS = 2000;
const Gate = v.strictObject({ allowed: v.boolean(), reason: Text, detail: Text });
const PolicyVerifySchema = v.strictObject({
  process: v.strictObject({
    pid: Pid,
    uid: Uint,
    startTime: v.pipe(v.string(), v.regex(/^\d{1,20}$/)),
    exe: Path,
    exeSha256: v.nullable(Hash),
    script: v.nullable(Path),
    ancestry: v.pipe(
      v.array(v.strictObject({ pid: Pid, uid: Uint, exe: v.nullable(Path) })),
      v.maxLength(APPROVAL_LIMITS.maxAncestors),
    ),
    pinned: v.boolean(),
  }),
  cli: v.strictObject({ match: v.boolean(), detail: Text }),
  rules: v.pipe(
    v.array(
      v.strictObject({
        list: v.picklist(['callers', 'status_callers']),
        exe: Path,
        script: v.nullable(Path),
        uid: v.nullable(Uint),
        sha256: v.nullable(Hash),
        match: v.boolean(),
        reason: Text,
        pin: v.nullable(v.boolean()),
        detail: Text,
      }),
    ),
    v.maxLength(MAX_VERIFY_ITEMS),
  ),
  requests: Gate,
  status: Gate,
  tasks: v.pipe(
    v.array(v.strictObject({ task: Name, via: v.boolean(), detail: Text })),
    v.maxLength(MAX_VERIFY_ITEMS),
  ),
});

const RESULT_SCHEMAS: { readonly [T in MessageType]: v.GenericSchema<unknown, Results[T]> } = {
  hello: v.strictObject({ protocol: Version, server: v.pipe(v.string(), v.maxLength(256)) }),
  status: v.strictObject({
    state: v.picklist(['locked', 'unlocked']),
    secrets: Uint,
    pid: Uint,
    socket: v.pipe(v.string(), v.maxLength(4096)),
    idleDeadline: v.nullable(Iso),
    version: v.pipe(v.string(), v.maxLength(256)),
    lifetimeDeadline: v.exactOptional(v.nullable(Iso)),
    unlockedAt: v.exactOptional(v.nullable(Iso)),
    lastLock: v.exactOptional(
      v.nullable(
        v.strictObject({
          reason: v.picklist([
            'request',
            'stop',
            'idle',
            'lifetime',
            'suspend',
            'signal',
            'shutdown',
            'error',
          ]),
          at: Iso,
        }),
      ),
    ),
  }),
  lock: v.strictObject({ state: v.literal('locked') }),
  unlock: v.strictObject({ state: v.literal('unlocked'), secrets: Uint }),
  init: v.strictObject({ created: v.literal(true), generation: Uint }),
  'secrets.list': v.pipe(v.array(SecretMetaSchema), v.maxLength(1_000_000)),
  'secrets.set': v.strictObject({ name: Name, replaced: v.boolean() }),
  'secrets.delete': v.strictObject({ name: Name }),
  'secrets.import': v.strictObject({ created: v.array(Name), replaced: v.array(Name) }),
  passwd: v.strictObject({ changed: v.literal(true) }),
  'policy.get': v.strictObject({ policy: JsonObject }),
  'policy.set': v.strictObject({ ok: v.literal(true) }),
  'policy.explain': v.strictObject({
    steps: v.pipe(
      v.array(
        v.strictObject({
          step: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
          ok: v.boolean(),
          detail: Text,
        }),
      ),
      v.maxLength(64),
    ),
    outcome: v.picklist(['allow', 'deny', 'needs-approval']),
    reason: Text,
  }),
  'policy.verify': PolicyVerifySchema,
  exec: v.strictObject({
    code: v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255))),
    signal: v.nullable(v.pipe(v.string(), v.minLength(1), v.maxLength(32))),
  }),
  approve: v.strictObject({ ended: v.picklist(['locked', 'replaced']) }),
  'audit.verify': v.strictObject({
    ok: v.boolean(),
    records: Uint,
    files: v.pipe(v.array(Path), v.maxLength(1024)),
    macChecked: v.boolean(),
    lastSealedSeq: v.nullable(SeqNumber),
    unsealed: Uint,
    head: v.nullable(v.strictObject({ seq: SeqNumber, hash: Hash })),
    torn: v.nullable(v.strictObject({ file: Path, offset: Uint, bytes: Uint })),
    firstProblem: v.nullable(
      v.strictObject({
        file: Path,
        line: Uint,
        seq: v.nullable(Uint),
        kind: v.pipe(v.string(), v.minLength(1), v.maxLength(32)),
        message: Text,
      }),
    ),
  }),
  'audit.export': v.strictObject({ count: Uint, head: Hash }),
  'grants.list': Grants,
  'grants.revoke': v.strictObject({ revoked: Grants }),
};

const ErrorReplySchema: v.GenericSchema<unknown, ErrorReply> = v.strictObject({
  id: ReplyId,
  ok: v.literal(false),
  error: v.strictObject({
    code: v.picklist(Object.values(WireErrorCode)),
    message: v.pipe(v.string(), v.maxLength(4096)),
    supported: v.exactOptional(v.array(Version)),
  }),
});

const OkReplySchema = v.strictObject({ id: RequestId, ok: v.literal(true), result: v.unknown() });

const EventSchema: v.GenericSchema<unknown, EventHeader> = v.strictObject({
  id: RequestId,
  event: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  data: v.exactOptional(v.unknown()),
});

const SCHEMAS: { readonly [T in MessageType | InputType]: v.GenericSchema<unknown, unknown> } = {
  ...REQUEST_SCHEMAS,
  ...INPUT_SCHEMAS,
};
const KNOWN_TYPES: ReadonlySet<string> = new Set(Object.keys(SCHEMAS));
const INPUT_TYPES: ReadonlySet<string> = new Set(Object.keys(INPUT_SCHEMAS));

/** True when `header` is a follow-up frame (`exec.stdin`, `exec.signal`, `exec.resize`). */
export function isInput(header: RequestHeader | InputHeader): header is InputHeader {
  return INPUT_TYPES.has(header.type);
}

/** Where validation failed, without echoing the offending value. */
function describe(issues: readonly v.BaseIssue<unknown>[]): string {
  const issue = issues[0];
  const path = issue?.path?.map((item) => String(item.key)).join('.') ?? '';
  return path === '' ? 'the header does not match its message type' : `invalid or unexpected field "${path}"`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A request that could not be accepted, with the id to answer when one was readable (else 0). */
export interface RequestRefusal {
  readonly error: IpcError;
  readonly id: number;
}

/**
 * Parse and validate a request header (client → server).
 * Order: JSON (BAD_JSON) → object with a string `type` (BAD_REQUEST) → known type
 * (UNKNOWN_TYPE) → supported `v` (UNSUPPORTED_VERSION) → the type's strict schema (BAD_REQUEST).
 */
export function decodeRequest(bytes: Uint8Array): RequestHeader | InputHeader | RequestRefusal {
  let json: unknown;
  try {
    json = parseHeaderJson(bytes, MAX_HEADER_DEPTH);
  } catch (error) {
    return { error: error as IpcError, id: 0 };
  }
  if (!isRecord(json)) return refuse('BAD_REQUEST', 'the header must be a JSON object', 0);
  const id = v.is(RequestId, json['id']) ? json['id'] : 0;
  const type = json['type'];
  if (typeof type !== 'string') return refuse('BAD_REQUEST', 'the header has no string "type"', id);
  if (!KNOWN_TYPES.has(type)) return refuse('UNKNOWN_TYPE', 'unknown message type', id);
  const version = json['v'];
  if (typeof version === 'number' && !SUPPORTED_PROTOCOLS.includes(version)) {
    return refuse('UNSUPPORTED_VERSION', `protocol version ${version} is not supported`, id);
  }
  const schema = SCHEMAS[type as MessageType | InputType];
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) return refuse('BAD_REQUEST', describe(parsed.issues), id);
  return parsed.output as RequestHeader | InputHeader;
}

function refuse(code: WireErrorCode, message: string, id: number): RequestRefusal {
  return { error: new IpcError(code, message), id };
}

/** True when `decoded` is a refusal. */
export function isRefusal(decoded: RequestHeader | InputHeader | RequestRefusal): decoded is RequestRefusal {
  return 'error' in decoded && decoded.error instanceof IpcError;
}

/** Validate an outgoing request header (client side) against its schema. */
export function checkRequest(header: unknown): string | null {
  if (!isRecord(header) || typeof header['type'] !== 'string' || !KNOWN_TYPES.has(header['type'])) {
    return 'unknown message type';
  }
  const parsed = v.safeParse(SCHEMAS[header['type'] as MessageType | InputType], header);
  return parsed.success ? null : describe(parsed.issues);
}

/** Validate a result (server side before sending, client side after receiving). */
export function checkResult<T extends MessageType>(type: T, result: unknown): Results[T] | null {
  const parsed = v.safeParse(RESULT_SCHEMAS[type], result);
  return parsed.success ? parsed.output : null;
}

/** A frame from the server, as the client sees it. */
export type ServerFrame =
  | {
      readonly kind: 'ok';
      readonly reply: { readonly id: number; readonly ok: true; readonly result: unknown };
    }
  | { readonly kind: 'error'; readonly reply: ErrorReply }
  | { readonly kind: 'event'; readonly event: EventHeader };

/**
 * Parse and validate a frame sent by the server (server → client).
 * @throws IpcError `PROTOCOL_ERROR` when it is not a valid reply or event.
 */
export function decodeServerFrame(bytes: Uint8Array): ServerFrame {
  let json: unknown;
  try {
    json = parseHeaderJson(bytes, MAX_HEADER_DEPTH);
  } catch (error) {
    throw new IpcError('PROTOCOL_ERROR', 'the server sent an invalid header', { cause: error });
  }
  if (isRecord(json)) {
    if ('event' in json) {
      const event = v.safeParse(EventSchema, json);
      if (event.success) return { kind: 'event', event: event.output };
    } else if (json['ok'] === true) {
      const ok = v.safeParse(OkReplySchema, json);
      if (ok.success) return { kind: 'ok', reply: ok.output };
    } else {
      const error = v.safeParse(ErrorReplySchema, json);
      if (error.success) return { kind: 'error', reply: error.output };
    }
  }
  throw new IpcError('PROTOCOL_ERROR', 'the server sent a frame that is not a valid reply or event');
}
