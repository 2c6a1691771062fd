// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, MemStore, SecretBuf, isValidSecretName } from '../src/index.ts';
import { liveSecretBufs } from '../src/internal/live.ts';
import { codeOf } from './helpers.ts';

const bytes = (...xs: number[]): SecretBuf => SecretBuf.from(new Uint8Array(xs));
const read = (store: MemStore, name: string): number[] => store.use(name, (b) => [...b]);

describe('isValidSecretName', () => {
  it('should accept the architecture §4 alphabet up to 128 bytes', () => {
    for (const ok of ['A', '_', 'a1', 'OPENAI_API_KEY', '_9', 'x'.repeat(128)])
      expect(isValidSecretName(ok)).toBe(true);
  });

  it('should refuse everything else', () => {
    for (const bad of ['', '1A', 'A-B', 'A B', 'é', 'A.B', 'x'.repeat(129), 'A\n', 'Ａ', 'A\u0000']) {
      expect(isValidSecretName(bad)).toBe(false);
    }
    expect(isValidSecretName(42 as unknown as string)).toBe(false);
  });
});

describe('MemStore', () => {
  it('should set, use, list and delete secrets', () => {
    const store = new MemStore();
    store.set('B', bytes(2), { created: 10, updated: 11 });
    store.set('A', bytes(1, 1));
    expect(store.size).toBe(2);
    expect(store.totalBytes).toBe(3);
    expect(store.has('A')).toBe(true);
    expect(store.names()).toEqual(['A', 'B']);
    expect(read(store, 'A')).toEqual([1, 1]);
    const list = store.list();
    expect(list.map((i) => i.name)).toEqual(['A', 'B']);
    expect(list[1]).toEqual({ name: 'B', length: 1, created: 10, updated: 11 });
    expect(JSON.stringify(list)).not.toContain('value');
    expect(store.delete('A')).toBe(true);
    expect(store.delete('A')).toBe(false);
    expect(store.has('A')).toBe(false);
    expect(store.totalBytes).toBe(1);
    store.wipeAll();
  });

  it('should sort names by code unit', () => {
    const store = new MemStore();
    for (const n of ['b', 'B', '_', 'a', 'A1', 'A']) store.set(n, bytes(0));
    expect(store.names()).toEqual(['A', 'A1', 'B', '_', 'a', 'b']);
    store.wipeAll();
  });

  it('should wipe a replaced value and keep its created time', () => {
    const store = new MemStore();
    const first = bytes(1);
    store.set('K', first, { created: 5, updated: 6 });
    const second = bytes(2, 2);
    store.set('K', second);
    expect(first.wiped).toBe(true);
    expect(second.wiped).toBe(false);
    const info = store.list()[0];
    expect(info?.created).toBe(5);
    expect(info?.updated).toBeGreaterThan(6);
    expect(store.totalBytes).toBe(2);
    store.set('K', bytes(3), { created: 1, updated: 2 });
    expect(store.list()[0]).toEqual({ name: 'K', length: 1, created: 1, updated: 2 });
    // Setting the very same buffer again only updates times.
    const same = bytes(4);
    store.set('K', same);
    store.set('K', same, { updated: 99 });
    expect(same.wiped).toBe(false);
    expect(read(store, 'K')).toEqual([4]);
    store.wipeAll();
  });

  it('should lend borrowed entries sorted by name', () => {
    const store = new MemStore();
    const v = bytes(7);
    store.set('Z', bytes(1), { created: 1, updated: 1 });
    store.set('Y', v, { created: 2, updated: 3 });
    const entries = store.entries();
    expect(entries.map((e) => e.name)).toEqual(['Y', 'Z']);
    expect(entries[0]?.value).toBe(v);
    expect(entries[0]).toMatchObject({ created: 2, updated: 3 });
    store.wipeAll();
  });

  it('should wipe and drop everything with wipeAll', () => {
    const store = new MemStore();
    const before = liveSecretBufs.count;
    const values = [bytes(1), bytes(2), bytes(3)];
    values.forEach((v, i) => {
      store.set(`S${String(i)}`, v);
    });
    store.wipeAll();
    expect(values.every((v) => v.wiped)).toBe(true);
    expect(store.size).toBe(0);
    expect(store.totalBytes).toBe(0);
    expect(store.names()).toEqual([]);
    expect(liveSecretBufs.count).toBe(before);
    store.wipeAll();
  });

  it('should throw NOT_FOUND from use for a missing name', () => {
    const store = new MemStore();
    expect(codeOf(() => store.use('NOPE', () => 1))).toBe('NOT_FOUND');
    expect(codeOf(() => store.use('bad name', () => 1))).toBe('NOT_FOUND');
  });

  it('should pass ASYNC_USE through use', () => {
    const store = new MemStore();
    store.set('A', bytes(1));
    expect(codeOf(() => store.use('A', async () => Promise.resolve(1)))).toBe('ASYNC_USE');
    expect(read(store, 'A')).toEqual([1]);
    store.wipeAll();
  });

  describe('refusals leave the value with the caller', () => {
    it('should throw INVALID_NAME', () => {
      const store = new MemStore();
      const v = bytes(1);
      for (const bad of ['', '1x', 'a-b', 'x'.repeat(129)])
        expect(codeOf(() => store.set(bad, v))).toBe('INVALID_NAME');
      expect(v.wiped).toBe(false);
      expect(store.size).toBe(0);
      v.wipe();
    });

    it('should throw TypeError for a value that is not a SecretBuf', () => {
      const store = new MemStore();
      expect(() => store.set('A', new Uint8Array(1) as unknown as SecretBuf)).toThrow(TypeError);
    });

    it('should throw WIPED for a wiped value', () => {
      const store = new MemStore();
      const v = bytes(1);
      v.wipe();
      expect(codeOf(() => store.set('A', v))).toBe('WIPED');
    });

    it('should throw ALREADY_STORED when one buffer is set under two names', () => {
      const store = new MemStore();
      const v = bytes(1);
      store.set('A', v);
      expect(codeOf(() => store.set('B', v))).toBe('ALREADY_STORED');
      expect(store.names()).toEqual(['A']);
      store.delete('A');
      expect(v.wiped).toBe(true);
    });

    it('should throw RangeError for bad times', () => {
      const store = new MemStore();
      const v = bytes(1);
      for (const times of [
        { created: -1 },
        { updated: 1.5 },
        { created: Number.MAX_SAFE_INTEGER + 1 },
        { updated: Number.NaN },
      ]) {
        expect(() => store.set('A', v, times)).toThrow(RangeError);
      }
      expect(v.wiped).toBe(false);
      v.wipe();
    });

    it('should throw LIMIT_VALUE_SIZE', () => {
      const store = new MemStore({ maxValueBytes: 4 });
      const v = SecretBuf.alloc(5);
      expect(codeOf(() => store.set('A', v))).toBe('LIMIT_VALUE_SIZE');
      expect(v.wiped).toBe(false);
      store.set('A', SecretBuf.alloc(4));
      v.wipe();
      store.wipeAll();
    });

    it('should throw LIMIT_COUNT for a new name but allow replacing at the cap', () => {
      const store = new MemStore({ maxEntries: 2 });
      store.set('A', bytes(1));
      store.set('B', bytes(1));
      const v = bytes(1);
      expect(codeOf(() => store.set('C', v))).toBe('LIMIT_COUNT');
      expect(v.wiped).toBe(false);
      store.set('A', v);
      expect(store.size).toBe(2);
      store.wipeAll();
    });

    it('should throw LIMIT_TOTAL_SIZE counting a replaced value out', () => {
      const store = new MemStore({ maxTotalBytes: 10 });
      store.set('A', SecretBuf.alloc(6));
      const v = SecretBuf.alloc(5);
      expect(codeOf(() => store.set('B', v))).toBe('LIMIT_TOTAL_SIZE');
      expect(v.wiped).toBe(false);
      expect(store.totalBytes).toBe(6);
      store.set('A', SecretBuf.alloc(10));
      expect(store.totalBytes).toBe(10);
      v.wipe();
      store.wipeAll();
    });
  });

  it('should use the default limits and refuse bad ones with RangeError', () => {
    expect(new MemStore().limits).toEqual(DEFAULT_LIMITS);
    expect(DEFAULT_LIMITS).toEqual({
      maxEntries: 10_000,
      maxValueBytes: 65_536,
      maxTotalBytes: 64 * 1024 * 1024,
    });
    expect(new MemStore({ maxEntries: 3 }).limits.maxValueBytes).toBe(65_536);
    for (const bad of [
      { maxEntries: 0 },
      { maxValueBytes: 65_537 },
      { maxTotalBytes: 1.5 },
      { maxEntries: -1 },
    ]) {
      expect(() => new MemStore(bad)).toThrow(RangeError);
    }
  });
});
