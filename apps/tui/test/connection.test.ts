// SPDX-License-Identifier: AGPL-3.0-only
// The screens' one connection: made once, shared, made again only once closed.
import { describe, expect, it } from 'vitest';
import { Connection } from '../src/internal/connection.ts';
import type { TuiService } from '../src/types.ts';
import { fakeService, status } from './harness.tsx';

/** A connect that counts and hands out fresh fake services (the last one in `opened`). */
function connector(fail: readonly boolean[] = []) {
  const opened: (TuiService & { closes: number })[] = [];
  let attempts = 0;
  const connect = (): Promise<TuiService> => {
    const failing = fail[attempts] === true;
    attempts += 1;
    if (failing) return Promise.reject(new Error('the service did not start'));
    const service = fakeService({ status: () => Promise.resolve(status('locked')) });
    opened.push(service);
    return Promise.resolve(service);
  };
  return { connect, opened, attempts: () => attempts };
}

describe('Connection', () => {
  it('should not connect before the first call', () => {
    const c = connector();
    new Connection(c.connect);
    expect(c.attempts()).toBe(0);
  });

  it('should send every request over one connection', async () => {
    const c = connector();
    const connection = new Connection(c.connect);
    for (let i = 0; i < 5; i++) await connection.call((s) => s.status());
    expect(c.attempts()).toBe(1);
  });

  it('should share one attempt between calls made at the same time', async () => {
    const c = connector();
    const connection = new Connection(c.connect);
    const results = await Promise.all([1, 2, 3].map(() => connection.call((s) => s.status())));
    expect(results.map((r) => r.state)).toEqual(['locked', 'locked', 'locked']);
    expect(c.attempts()).toBe(1);
  });

  it('should connect again once the connection closed (an idle cut, a restarted service)', async () => {
    const c = connector();
    const connection = new Connection(c.connect);
    await connection.call((s) => s.status());
    c.opened[0]?.close();
    await connection.call((s) => s.status());
    expect(c.attempts()).toBe(2);
    await connection.call((s) => s.status());
    expect(c.attempts()).toBe(2);
  });

  it('should reject with the connect error, and try again on the next call', async () => {
    const c = connector([true]);
    const connection = new Connection(c.connect);
    await expect(connection.call((s) => s.status())).rejects.toThrow('the service did not start');
    await expect(connection.call((s) => s.status())).resolves.toMatchObject({ state: 'locked' });
    expect(c.attempts()).toBe(2);
  });

  it("should pass a request's error through, keeping an open connection", async () => {
    const c = connector();
    const connection = new Connection(c.connect);
    const refused = Object.assign(new Error('wrong passphrase'), { code: 'AUTH_FAILED' });
    await expect(connection.call(() => Promise.reject(refused))).rejects.toBe(refused);
    await connection.call((s) => s.status());
    expect(c.attempts()).toBe(1);
  });

  it('should close the connection on close, and refuse calls after', async () => {
    const c = connector();
    const connection = new Connection(c.connect);
    await connection.call((s) => s.status());
    connection.close();
    expect(c.opened[0]?.closes).toBe(1);
    await expect(connection.call((s) => s.status())).rejects.toThrow('the TUI is closing');
    expect(c.attempts()).toBe(1);
  });

  it('should close a connection that lands after close', async () => {
    let land: (service: TuiService) => void = () => undefined;
    const late = fakeService();
    const connection = new Connection(
      () =>
        new Promise<TuiService>((resolve) => {
          land = resolve;
        }),
    );
    const pending = connection.call((s) => s.status());
    connection.close();
    land(late);
    await expect(pending).rejects.toThrow('the TUI is closing');
    expect(late.closes).toBe(1);
  });

  it('should close nothing when it never connected', () => {
    const c = connector();
    const connection = new Connection(c.connect);
    connection.close();
    expect(c.attempts()).toBe(0);
  });
});
