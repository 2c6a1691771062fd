// SPDX-License-Identifier: AGPL-3.0-only
import type { TuiService } from '../types.ts';

/**
 * The one connection the screens share (an approver session opens its own). It connects on
 * first use, and again only once the service or the client closed it (an idle cut, a
 * restarted service): `cr tui` holds one connection however many requests its screens send.
 */
export class Connection {
  readonly #connect: () => Promise<TuiService>;
  #service: TuiService | null = null;
  #connecting: Promise<TuiService> | null = null;
  #closed = false;

  /** @param connect - opens a connection (the backend's, which starts the service when none runs) */
  constructor(connect: () => Promise<TuiService>) {
    this.#connect = connect;
  }

  /**
   * Run `fn` on the connection, connecting first when there is none (concurrent calls share
   * one attempt; a failed attempt is retried by the next call).
   * @param fn - the request(s) to send
   * @returns what `fn` returns; rejects with the connect's or `fn`'s error
   */
  async call<T>(fn: (service: TuiService) => Promise<T>): Promise<T> {
    return fn(await this.#open());
  }

  /** Close the connection (quit); a connection still being made is closed when it lands. */
  close(): void {
    this.#closed = true;
    this.#service?.close();
    this.#service = null;
  }

  #open(): Promise<TuiService> {
    if (this.#closed) return Promise.reject(new Error('the TUI is closing'));
    const service = this.#service;
    if (service !== null && !service.closed) return Promise.resolve(service);
    this.#service = null;
    this.#connecting ??= this.#connect().then(
      (opened) => {
        this.#connecting = null;
        if (this.#closed) {
          opened.close();
          throw new Error('the TUI is closing');
        }
        this.#service = opened;
        return opened;
      },
      (error: unknown) => {
        this.#connecting = null;
        throw error;
      },
    );
    return this.#connecting;
  }
}
