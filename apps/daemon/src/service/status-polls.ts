// SPDX-License-Identifier: AGPL-3.0-only
import type { AuditEvent, CallerSummary } from '@cora/audit';

/** A window of status-only connections from one caller. */
interface Window {
  caller: CallerSummary;
  count: number;
  readonly since: number;
}

/** Options of {@link StatusPolls}. */
export interface StatusPollsOptions {
  /** How long polls are counted before one record is written. Default one hour. */
  readonly windowMs?: number;
  /** Distinct callers counted at once; a new one past this writes every open window first. Default 64. */
  readonly maxCallers?: number;
  /** Clock, ms since the epoch. */
  readonly now?: () => number;
}

/**
 * Counts connections that ask only `status` (architecture §10): one `status-polls` record per
 * caller and window instead of one `connect` record per poll, so a status bar polling every
 * second writes 24 records a day, not 86,400. Every other connection keeps its own `connect`
 * record, and every refusal its `caller-refused`. The table is bounded: a caller past
 * `maxCallers` writes the open windows out first, so a process polling from many copies of an
 * executable gets at most one record per connection, as without counting.
 */
export class StatusPolls {
  readonly #write: (event: AuditEvent) => void;
  readonly #windowMs: number;
  readonly #maxCallers: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  /** @param write - appends one record (without waiting) */
  constructor(write: (event: AuditEvent) => void, options: StatusPollsOptions = {}) {
    this.#write = write;
    this.#windowMs = options.windowMs ?? 3_600_000;
    this.#maxCallers = options.maxCallers ?? 64;
    this.#now = options.now ?? Date.now;
  }

  /** Count one status-only connection of `caller`; writes the windows that are over. */
  poll(caller: CallerSummary): void {
    const now = this.#now();
    const key = `${String(caller.uid)}\0${caller.exe}\0${caller.script ?? ''}\0${String(caller.cli)}`;
    if (!this.#windows.has(key) && this.#windows.size >= this.#maxCallers) this.flush();
    for (const [open, window] of this.#windows) {
      if (now - window.since < this.#windowMs) continue;
      this.#emit(window);
      this.#windows.delete(open);
    }
    const window = this.#windows.get(key);
    if (window === undefined) this.#windows.set(key, { caller, count: 1, since: now });
    else {
      window.caller = caller;
      window.count += 1;
    }
  }

  /** Write every open window (at stop and lock) and start afresh. */
  flush(): void {
    for (const window of this.#windows.values()) this.#emit(window);
    this.#windows.clear();
  }

  #emit(window: Window): void {
    this.#write({
      type: 'status-polls',
      caller: window.caller,
      count: window.count,
      since: new Date(window.since).toISOString(),
    });
  }
}
