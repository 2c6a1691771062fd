// SPDX-License-Identifier: AGPL-3.0-only
import type { WireErrorCode } from './errors.ts';

/** The protocol version this package speaks (sent in `hello`). */
export const PROTOCOL_VERSION = 1;

/** Every protocol version a server built from this package accepts in `hello`. */
export const SUPPORTED_PROTOCOLS: readonly number[] = Object.freeze([PROTOCOL_VERSION]);

/** Request ids are integers from 1 to this (2^31 − 1). Id 0 marks connection-level errors. */
export const MAX_REQUEST_ID = 0x7fffffff;

/** Deepest nesting of objects and arrays a header may have. */
export const MAX_HEADER_DEPTH = 8;

/** Parameters of a message that has none. */
// eslint-disable-next-line @typescript-eslint/no-generated-empty-object-type -- intersected with the header fields
export type EmptyParams = Record<never, never>;

/**
 * The header parameters of each message type, beside `v`, `id` and `type`. Secret bytes are
 * never parameters: they travel in the attachment ({@link ATTACHMENT_PARTS}).
 */
export interface RequestParams {
  /** First frame of every connection. */
  hello: { readonly protocol: number; readonly client: string };
  status: EmptyParams;
  lock: EmptyParams;
  /** Attachment: the passphrase. */
  unlock: EmptyParams;
  'secrets.list': EmptyParams;
  /** Attachment: passphrase, value (see `packParts`). */
  'secrets.set': { readonly name: string };
  /** Attachment: the passphrase. */
  'secrets.delete': { readonly name: string };
  /** Attachment: passphrase, then one value per name, in order. */
  'secrets.import': { readonly names: readonly string[] };
  /** Attachment: old passphrase, new passphrase. */
  passwd: EmptyParams;
}

/** Every message type a client may send. */
export type MessageType = keyof RequestParams;

/** The message types a server hands to its handlers (`hello` is answered by the server itself). */
export type RequestType = Exclude<MessageType, 'hello'>;

/** The header of a request of type `T`: `{ v?, id, type, …params }`. */
export type RequestHeader<T extends MessageType = MessageType> = {
  [K in T]: { readonly v?: number; readonly id: number; readonly type: K } & RequestParams[K];
}[T];

/** Result of `hello`. */
export interface HelloResult {
  readonly protocol: number;
  /** Name and version of the server, e.g. `cora/0.1.0`. */
  readonly server: string;
}

/** Result of `status` (`cr status --json` prints it). */
export interface StatusResult {
  readonly state: 'locked' | 'unlocked';
  readonly secrets: number;
  readonly pid: number;
  readonly socket: string;
  /** ISO-8601 time at which the service locks itself when idle, or `null` while locked. */
  readonly idleDeadline: string | null;
  readonly version: string;
}

/** Result of `lock`. */
export interface LockResult {
  readonly state: 'locked';
}

/** Result of `unlock`. */
export interface UnlockResult {
  readonly state: 'unlocked';
  readonly secrets: number;
}

/** One entry of `secrets.list`: metadata only, never a value (G2). */
export interface SecretMeta {
  readonly name: string;
  /** ISO-8601. */
  readonly created: string;
  /** ISO-8601. */
  readonly updated: string;
  /** Value length in bytes (not secret). */
  readonly length?: number;
}

/** Result of `secrets.set`. */
export interface SecretsSetResult {
  readonly name: string;
  /** `true` when a value was already stored under this name. */
  readonly replaced: boolean;
}

/** Result of `secrets.delete`. */
export interface SecretsDeleteResult {
  readonly name: string;
}

/** Result of `secrets.import`. */
export interface SecretsImportResult {
  readonly created: readonly string[];
  readonly replaced: readonly string[];
}

/** Result of `passwd`. */
export interface PasswdResult {
  readonly changed: true;
}

/** The result type of each message type. */
export interface Results {
  hello: HelloResult;
  status: StatusResult;
  lock: LockResult;
  unlock: UnlockResult;
  'secrets.list': readonly SecretMeta[];
  'secrets.set': SecretsSetResult;
  'secrets.delete': SecretsDeleteResult;
  'secrets.import': SecretsImportResult;
  passwd: PasswdResult;
}

/** The `error` of a failed reply. */
export interface ErrorBody {
  readonly code: WireErrorCode;
  /** Plain text for humans; never secret bytes, never a thrown error's own message. */
  readonly message: string;
  /** With `UNSUPPORTED_VERSION`: the protocol versions the server speaks. */
  readonly supported?: readonly number[];
}

/** A successful reply. */
export interface OkReply<T extends MessageType = MessageType> {
  readonly id: number;
  readonly ok: true;
  readonly result: Results[T];
}

/** A failed reply. `id` is 0 for a connection-level error (the connection then closes). */
export interface ErrorReply {
  readonly id: number;
  readonly ok: false;
  readonly error: ErrorBody;
}

/** A final reply. */
export type ReplyHeader<T extends MessageType = MessageType> = OkReply<T> | ErrorReply;

/**
 * An intermediate frame for a request in progress (streaming; later used by spawn for
 * stdout/stderr chunks and exit). Any number may precede the final reply of the same `id`.
 * Binary payloads travel in the frame's attachment.
 */
export interface EventHeader {
  readonly id: number;
  /** Event name, 1–64 characters. */
  readonly event: string;
  /** Optional JSON payload (never secret). */
  readonly data?: unknown;
}

/**
 * How many attachment parts each message type carries (layout: `packParts`). A type with 0
 * must have an empty attachment; a type with parts must have a non-empty one.
 * `secrets.import` carries `1 + names.length` parts.
 */
export const ATTACHMENT_PARTS: Readonly<Record<MessageType, number | 'import'>> = Object.freeze({
  hello: 0,
  status: 0,
  lock: 0,
  unlock: 1,
  'secrets.list': 0,
  'secrets.set': 2,
  'secrets.delete': 1,
  'secrets.import': 'import',
  passwd: 2,
});

/**
 * The number of attachment parts `request` must carry.
 * @param request - a validated request header
 * @returns the part count (0 = no attachment)
 * @example
 * ```ts
 * attachmentParts({ id: 1, type: 'secrets.set', name: 'A' }); // 2
 * ```
 */
export function attachmentParts(request: RequestHeader): number {
  const parts = ATTACHMENT_PARTS[request.type];
  if (parts === 'import') return 1 + (request as RequestHeader<'secrets.import'>).names.length;
  return parts;
}
