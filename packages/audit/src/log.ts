// SPDX-License-Identifier: AGPL-3.0-only
// The audit writer (architecture §10, G7): canonical lines, hash chain, HMAC while unlocked,
// group commit with fsync, rotation by size and age, fail-closed on write errors.
// One class past 500 lines on purpose: the queue, the chain head and rotation share its
// private state, which must change together or not at all.
import { constants } from 'node:fs';
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { AuditError } from './errors.ts';
import { DEFAULT_FILE_NAME, listLog, openRead, rotatedName } from './internal/files.ts';
import { checkDir, openAppend, parseOrThrow, readFirstLine, readLastLine } from './internal/writer-files.ts';
import { MacKey, sha256Hex, ZERO_HASH } from './internal/mac.ts';
import { finishLine, serialiseBody, snapshotEvent } from './internal/schema.ts';
import { writerStats } from './internal/stats.ts';
import type { AuditEvent, AuditRecord } from './types.ts';

/** Options of {@link AuditLog.open}. */
export interface AuditLogOptions {
  /** Directory of the log (created 0700 when missing; must be private and owned by this uid). */
  readonly dir: string;
  /** Current file's name; default `audit.jsonl`. Rotated files are `<stem>-<first seq, 12 digits><ext>`. */
  readonly fileName?: string;
  /** Rotate when the current file is larger than this many bytes; default 8 MiB. */
  readonly maxBytes?: number;
  /** Rotate when the current file's first record is older than this; default 7 days. */
  readonly maxAgeMs?: number;
  /** Rotated files kept (the oldest beyond this are deleted); default 8. */
  readonly keep?: number;
  /** fsync after each batch; default true. Turning it off gives up durability (tests, benches). */
  readonly fsync?: boolean;
  /** Clock in ms since the epoch; default `Date.now`. */
  readonly now?: () => number;
}

/** The last durable record: its seq and line hash, and the seq of the last MACed record. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
  /** Last record with a MAC this process knows of (after a reopen: the last line's, if MACed). */
  readonly sealedSeq: number | null;
}

interface Tail {
  readonly seq: number;
  readonly hash: string;
  readonly sealedSeq: number | null;
  /** Bytes of the current file. */
  readonly size: number;
  /** First seq and time of the current file, null while it holds no record. */
  readonly firstSeq: number | null;
  readonly firstTime: number | null;
  /** Set after a rotation until the new file's `file-start` is written. */
  readonly pendingStart: { readonly previous: string; readonly torn: number } | null;
}

interface RecordItem {
  readonly kind: 'record';
  readonly bytes: Buffer;
  readonly record: AuditRecord;
  readonly after: Tail;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

interface RotateItem {
  readonly kind: 'rotate';
  /** Name the current file is renamed to. */
  readonly to: string;
  readonly after: Tail;
}

type Item = RecordItem | RotateItem;

const MIB = 1024 * 1024;
const ignore = (): void => undefined;

function check(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be a safe integer`);
  }
  if (value < min) throw new RangeError(`${name} must be at least ${String(min)}`);
  return value;
}

/**
 * Append-only, hash-chained, MACed audit log (architecture §10). One instance per process owns
 * the directory; appends from one event loop are ordered by call order.
 */
export class AuditLog {
  /** Absolute path of the current file. */
  readonly path: string;
  readonly #dir: string;
  readonly #fileName: string;
  readonly #maxBytes: number;
  readonly #maxAgeMs: number;
  readonly #keep: number;
  readonly #fsync: boolean;
  readonly #now: () => number;
  #fd: FileHandle | null = null;
  #key: MacKey | null = null;
  #carry: AuditEvent | null = null;
  #durable: Tail;
  #tail: Tail;
  #queue: Item[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;

  private constructor(options: Required<AuditLogOptions>, tail: Tail) {
    this.#dir = options.dir;
    this.#fileName = options.fileName;
    this.path = join(options.dir, options.fileName);
    this.#maxBytes = options.maxBytes;
    this.#maxAgeMs = options.maxAgeMs;
    this.#keep = options.keep;
    this.#fsync = options.fsync;
    this.#now = options.now;
    this.#durable = tail;
    this.#tail = tail;
  }

  /**
   * Open (or create) the log and continue its chain from the last whole line of the current
   * file (only its tail is read). A torn tail left by a crash is kept as it is: the file is
   * rotated at once and the new file starts with `file-start { previous, torn }`.
   *
   * @param options - see {@link AuditLogOptions}
   * @returns the open log
   * @throws TypeError / RangeError on bad options.
   * @throws AuditError `UNSAFE_FILE` when the file or directory is a symlink, not a regular
   * file / directory, owned by another uid, or readable by others.
   * @throws AuditError `VERIFY_FAILED` when the line to continue from is not a valid record.
   * @throws AuditError `WRITE_FAILED` when the torn-tail rotation cannot be written.
   * @example
   * ```ts
   * const log = await AuditLog.open({ dir: join(home, '.cora') });
   * await log.append({ type: 'service-start', pid: process.pid, version: '0.1.0' });
   * ```
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    if (typeof options !== 'object') throw new TypeError('options must be an object');
    if (typeof options.dir !== 'string' || options.dir === '')
      throw new TypeError('options.dir must be a non-empty string');
    const fileName = options.fileName ?? DEFAULT_FILE_NAME;
    if (
      typeof fileName !== 'string' ||
      !/^[A-Za-z0-9._-]{1,200}$/.test(fileName) ||
      fileName.startsWith('.')
    ) {
      throw new TypeError('options.fileName must be a plain file name');
    }
    const now = options.now ?? Date.now;
    if (typeof now !== 'function') throw new TypeError('options.now must be a function');
    const full: Required<AuditLogOptions> = {
      dir: options.dir,
      fileName,
      maxBytes: check('options.maxBytes', options.maxBytes ?? 8 * MIB, 1024),
      maxAgeMs: check('options.maxAgeMs', options.maxAgeMs ?? 7 * 24 * 3600 * 1000, 1),
      keep: check('options.keep', options.keep ?? 8, 0),
      fsync: options.fsync ?? true,
      now,
    };
    await checkDir(full.dir);
    const path = join(full.dir, fileName);
    const fd = await openAppend(path);
    let tail: Tail;
    let torn = 0;
    try {
      const reader = await openRead(path);
      try {
        const { size } = await reader.stat();
        tail = await AuditLog.#readTail(reader, size, full, path);
        if (size > 0 && tail.firstSeq === null) {
          torn = size; // only a torn line: nothing to continue from in this file
        } else if (size > 0) {
          torn = (await readLastLine(reader, size)).torn;
        }
      } finally {
        await reader.close();
      }
    } catch (error) {
      await fd.close().catch(ignore);
      throw error;
    }
    const log = new AuditLog(full, tail);
    log.#fd = fd;
    if (torn > 0) {
      // architecture §10 / issue 5: leave the torn file as it is and start a new one that says so.
      let to = rotatedName(fileName, tail.firstSeq ?? tail.seq + 1);
      if (tail.firstSeq === null) {
        // Torn-only: no first seq of its own; pick a free `-torn` name (see rotatedName).
        const { rotated } = await listLog(full.dir, fileName);
        for (let k = 1; k <= 9 && (k === 1 || rotated.includes(to)); k++)
          to = rotatedName(fileName, tail.seq + 1, k);
        if (rotated.includes(to)) {
          await log.close().catch(ignore);
          throw new AuditError(
            'WRITE_FAILED',
            `too many torn-only audit files at seq ${String(tail.seq + 1)}`,
          );
        }
      }
      log.#enqueueRotate(to, torn);
      try {
        await log.#enqueueStart(now());
      } catch (error) {
        await log.close().catch(ignore);
        throw error;
      }
    }
    return log;
  }

  static async #readTail(
    fd: FileHandle,
    size: number,
    options: Required<AuditLogOptions>,
    path: string,
  ): Promise<Tail> {
    const empty = { size, firstSeq: null, firstTime: null, pendingStart: null };
    if (size > 0) {
      const { line } = await readLastLine(fd, size);
      if (line !== null) {
        const last = parseOrThrow(line, path);
        const firstLine = await readFirstLine(fd, size);
        const first = firstLine === null ? last : parseOrThrow(firstLine, path);
        return {
          seq: last.seq,
          hash: sha256Hex(line),
          sealedSeq: last.mac === null ? null : last.seq,
          size,
          firstSeq: first.seq,
          firstTime: Date.parse(first.time),
          pendingStart: null,
        };
      }
    }
    // Empty (or torn-only) current file: continue from the newest rotated file holding a
    // whole record (torn-only files in between hold none).
    const { rotated } = await listLog(options.dir, options.fileName);
    const newest = rotated.at(-1);
    let newestTorn = 0;
    for (const name of [...rotated].reverse()) {
      const handle = await openRead(join(options.dir, name));
      try {
        const { size: oldSize } = await handle.stat();
        const { line, torn } = await readLastLine(handle, oldSize);
        if (name === newest) newestTorn = torn;
        if (line === null) continue;
        const last = parseOrThrow(line, name);
        return {
          seq: last.seq,
          hash: sha256Hex(line),
          sealedSeq: last.mac === null ? null : last.seq,
          ...empty,
          // An empty current file after a rotation: its file-start was never written.
          pendingStart: size === 0 ? { previous: newest ?? name, torn: newestTorn } : null,
        };
      } finally {
        await handle.close();
      }
    }
    return {
      seq: 0,
      hash: ZERO_HASH,
      sealedSeq: null,
      ...empty,
      pendingStart: size === 0 && newest !== undefined ? { previous: newest, torn: newestTorn } : null,
    };
  }

  /**
   * Append one event. Validation, seq, time, prev and the MAC (with the key set at call
   * time) happen synchronously, so records are in call order; the promise resolves once the
   * batch holding the record is written and fsynced (group commit).
   *
   * @param event - one of the closed event types (not `file-start`, which the log writes)
   * @returns the record as written
   * @throws AuditError `INVALID_EVENT` when the event fails the schema, is a `file-start`, or
   * is an `unlock` while no key is set (an `unlock` must seal, architecture §10).
   * @throws AuditError `WRITE_FAILED` (cause: the fs error) when the write or fsync fails; the
   * file is truncated back to its last durable size, the head rolls back and every record
   * queued behind this one is rejected too. Later appends retry.
   * @throws AuditError `CLOSED` after {@link AuditLog.close}.
   */
  append(event: AuditEvent): Promise<AuditRecord> {
    try {
      if (this.#closed) throw new AuditError('CLOSED', 'the audit log is closed');
      const checked = snapshotEvent(event);
      if (checked.type === 'file-start')
        throw new AuditError('INVALID_EVENT', 'file-start records are written by the log itself');
      if (checked.type === 'unlock' && this.#key === null) {
        throw new AuditError(
          'INVALID_EVENT',
          'an unlock record must be MACed: call setKey() before appending it',
        );
      }
      const now = this.#now();
      const tail = this.#tail;
      if (
        tail.pendingStart === null &&
        tail.firstSeq !== null &&
        (tail.size > this.#maxBytes || now - (tail.firstTime ?? now) >= this.#maxAgeMs)
      ) {
        this.#enqueueRotate(rotatedName(this.#fileName, tail.firstSeq), 0);
      }
      if (this.#tail.pendingStart !== null) {
        this.#enqueueStart(now).catch(ignore);
        if (this.#carry !== null) this.#enqueue(this.#carry, now).catch(ignore);
      }
      return this.#enqueue(checked, now);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Set (a copy of) the audit key, or wipe it with `null`. Records appended while a key is
   * set carry a MAC; records appended without one carry `"mac":null` and are sealed by the
   * next MACed record. The service sets the key right after unlock and appends `unlock`, and
   * appends `lock` before clearing it.
   *
   * @param key - the vault's audit key (32 bytes), or null; the caller keeps ownership of it
   * @throws TypeError when `key` is neither a SecretBuf nor null.
   * @throws RangeError when `key` is not 32 bytes.
   * @throws AuditError `CLOSED` (setting a key) after {@link AuditLog.close}.
   */
  setKey(key: SecretBuf | null): void {
    if (key !== null && !(key instanceof SecretBuf)) throw new TypeError('key must be a SecretBuf or null');
    if (key !== null && key.length !== 32) throw new RangeError('key must be 32 bytes');
    const old = this.#key;
    this.#key = null;
    old?.wipe();
    if (key === null) return;
    if (this.#closed) throw new AuditError('CLOSED', 'the audit log is closed');
    this.#key = new MacKey(key);
  }

  /**
   * An event to restate right after the `file-start` of every file a rotation opens, so that
   * the newest file always holds it (the service's `vault-state`: which vault the log vouches
   * for, found without reading older files). Null stops it.
   *
   * @param event - the event, or null
   * @throws AuditError `INVALID_EVENT` when it fails the schema or is a `file-start`.
   */
  setCarry(event: AuditEvent | null): void {
    if (event === null) {
      this.#carry = null;
      return;
    }
    const checked = snapshotEvent(event);
    if (checked.type === 'file-start' || checked.type === 'unlock') {
      throw new AuditError('INVALID_EVENT', `a ${checked.type} record cannot be carried`);
    }
    this.#carry = checked;
  }

  /** Whether a key is set: records appended now carry a MAC. */
  get keyed(): boolean {
    return this.#key !== null;
  }

  /** The last durable record (seq 0 and 64 zeros for an empty log). */
  head(): AuditHead {
    const { seq, hash, sealedSeq } = this.#durable;
    return { seq, hash, sealedSeq };
  }

  /** Wait for queued records, close the file and wipe the key. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      while (this.#flushing !== null) await this.#flushing;
    } finally {
      this.#key?.wipe();
      this.#key = null;
      const fd = this.#fd;
      this.#fd = null;
      await fd?.close().catch(ignore);
    }
  }

  #enqueueRotate(to: string, torn: number): void {
    const tail = this.#tail;
    const after: Tail = {
      ...tail,
      size: 0,
      firstSeq: null,
      firstTime: null,
      pendingStart: { previous: to, torn },
    };
    this.#queue.push({ kind: 'rotate', to, after });
    this.#tail = after;
  }

  #enqueueStart(now: number): Promise<AuditRecord> {
    const pending = this.#tail.pendingStart;
    if (pending === null) throw new Error('no pending file-start');
    return this.#enqueue({ type: 'file-start', previous: pending.previous, torn: pending.torn }, now);
  }

  #enqueue(event: AuditEvent, now: number): Promise<AuditRecord> {
    const tail = this.#tail;
    const seq = tail.seq + 1;
    const time = new Date(now).toISOString();
    const body = serialiseBody(event, seq, time, tail.hash);
    const mac = this.#key === null ? null : this.#key.hex(Buffer.from(body, 'utf8'));
    const line = Buffer.from(finishLine(body, mac), 'utf8');
    const record = { ...event, v: 1, seq, time, prev: tail.hash, mac } as AuditRecord;
    const after: Tail = {
      seq,
      hash: sha256Hex(line),
      sealedSeq: mac === null ? tail.sealedSeq : seq,
      size: tail.size + line.length + 1,
      firstSeq: tail.firstSeq ?? seq,
      firstTime: tail.firstTime ?? now,
      pendingStart: null,
    };
    this.#tail = after;
    const bytes = Buffer.concat([line, Buffer.from('\n')]);
    return new Promise<AuditRecord>((resolve, reject) => {
      this.#queue.push({ kind: 'record', bytes, record, after, resolve, reject });
      this.#kick();
    });
  }

  /** Start the flusher unless it runs; restart it if items arrived while it was finishing. */
  #kick(): void {
    if (this.#flushing !== null) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = null;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const first = this.#queue[0];
      if (first === undefined) break;
      if (first.kind === 'rotate') {
        try {
          await this.#rotate(first);
          this.#queue.shift();
        } catch (error) {
          await this.#fail(error);
        }
        continue;
      }
      let count = 0;
      while (count < this.#queue.length && this.#queue[count]?.kind === 'record') count += 1;
      const batch = this.#queue.slice(0, count) as RecordItem[];
      try {
        const fd = await this.#ensureOpen();
        const data = Buffer.concat(batch.map((item) => item.bytes));
        for (let done = 0; done < data.length;) {
          writerStats.writes += 1;
          const { bytesWritten } = await fd.write(data, done, data.length - done);
          done += bytesWritten;
        }
        if (this.#fsync) {
          writerStats.fsyncs += 1;
          await fd.sync();
        }
      } catch (error) {
        await this.#fail(error);
        continue;
      }
      this.#durable = batch[batch.length - 1]?.after ?? this.#durable;
      this.#queue.splice(0, count);
      for (const item of batch) item.resolve(item.record);
    }
  }

  async #ensureOpen(): Promise<FileHandle> {
    if (this.#fd !== null) return this.#fd;
    const fd = await openAppend(this.path);
    try {
      const { size } = await fd.stat();
      // A partial write of a failed batch may have survived a failed truncate: drop it.
      if (size > this.#durable.size) await fd.truncate(this.#durable.size);
    } catch (error) {
      await fd.close().catch(ignore);
      throw error;
    }
    this.#fd = fd;
    return fd;
  }

  async #rotate(item: RotateItem): Promise<void> {
    const fd = this.#fd;
    this.#fd = null;
    await fd?.close();
    const target = join(this.#dir, item.to);
    const exists = await lstat(target).then(
      () => true,
      () => false,
    );
    if (exists) throw new Error(`${item.to} already exists; refusing to overwrite a rotated audit file`);
    await rename(this.path, target);
    // From here on the rename is done: whatever fails next, the new file still owes its file-start.
    this.#durable = item.after;
    await this.#syncDir();
    await this.#ensureOpen();
    await this.#prune();
  }

  async #syncDir(): Promise<void> {
    const dir = await open(this.#dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async #prune(): Promise<void> {
    const { rotated } = await listLog(this.#dir, this.#fileName);
    const excess = rotated.length - this.#keep;
    if (excess <= 0) return;
    for (const name of rotated.slice(0, excess)) await unlink(join(this.#dir, name));
    await this.#syncDir();
  }

  async #fail(cause: unknown): Promise<void> {
    const fd = this.#fd;
    if (fd !== null) {
      try {
        await fd.truncate(this.#durable.size);
      } catch {
        // Reopen (and truncate) before the next batch instead.
        this.#fd = null;
        await fd.close().catch(ignore);
      }
    }
    const items = this.#queue;
    this.#queue = [];
    this.#tail = this.#durable;
    const message = `the audit log could not be written (${(cause as NodeJS.ErrnoException).code ?? 'error'}); no secret is released until it can`;
    for (const item of items) {
      if (item.kind === 'record') item.reject(new AuditError('WRITE_FAILED', message, { cause }));
    }
  }
}
