// SPDX-License-Identifier: AGPL-3.0-only
import { inspect, format } from 'node:util';
import { canaryForms, makeCanary } from '@cora/test-utils';
import { describe, expect, it } from 'vitest';
import { REDACTED, SecretBuf, wipeBytes } from '../src/index.ts';
import { liveSecretBufs } from '../src/internal/live.ts';
import { codeOf, runFixture } from './helpers.ts';

function hex(buf: SecretBuf): string {
  // Test-only: the assertion needs the bytes.
  return buf.use((bytes) => Buffer.from(bytes).toString('hex'));
}

describe('SecretBuf', () => {
  it('should allocate zeroed memory of the asked length', () => {
    const buf = SecretBuf.alloc(100);
    expect(buf.length).toBe(100);
    expect(buf.use((b) => b.every((x) => x === 0))).toBe(true);
    expect(SecretBuf.alloc(0).length).toBe(0);
    buf.wipe();
  });

  it('should throw RangeError from alloc for a bad length', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 40]) expect(() => SecretBuf.alloc(bad)).toThrow(RangeError);
  });

  it('should copy with from and leave the source to the caller', () => {
    const src = new Uint8Array([1, 2, 3]);
    const buf = SecretBuf.from(src);
    expect(hex(buf)).toBe('010203');
    expect([...src]).toEqual([1, 2, 3]);
    buf.wipe();
  });

  it('should throw TypeError from from and fromAndWipe for a non-Uint8Array', () => {
    expect(() => SecretBuf.from('abc' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => SecretBuf.fromAndWipe([1] as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('should zero the source in fromAndWipe', () => {
    const src = Buffer.from([9, 9, 9, 9]);
    const buf = SecretBuf.fromAndWipe(src.subarray(1, 3));
    expect([...src]).toEqual([9, 0, 0, 9]);
    expect(hex(buf)).toBe('0909');
    buf.wipe();
  });

  it('should compare in constant time by contents', () => {
    const a = SecretBuf.from(new Uint8Array([1, 2]));
    const b = SecretBuf.from(new Uint8Array([1, 2]));
    const c = SecretBuf.from(new Uint8Array([1, 3]));
    const d = SecretBuf.from(new Uint8Array([1]));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(a)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.equals(d)).toBe(false);
    expect(() => a.equals({} as SecretBuf)).toThrow(TypeError);
    d.wipe();
    expect(codeOf(() => a.equals(d))).toBe('WIPED');
    for (const x of [a, b, c]) x.wipe();
  });

  it('should refuse use after wipe with WIPED, and wipe should be idempotent', () => {
    const buf = SecretBuf.from(new Uint8Array([1]));
    const before = liveSecretBufs.count;
    buf.wipe();
    buf.wipe();
    expect(liveSecretBufs.count).toBe(before - 1);
    expect(buf.wiped).toBe(true);
    expect(buf.length).toBe(0);
    expect(codeOf(() => buf.use(() => 1))).toBe('WIPED');
  });

  it('should detach a view that escaped use once the buffer is wiped', () => {
    const buf = SecretBuf.from(new Uint8Array([5, 6, 7]));
    let escaped: Uint8Array = new Uint8Array(0);
    buf.use((bytes) => {
      escaped = bytes;
      expect(escaped.length).toBe(3);
    });
    buf.wipe();
    expect(escaped.length).toBe(0);
    expect((escaped.buffer as ArrayBuffer).detached).toBe(true);
  });

  it('should allow wipe inside use and refuse use afterwards', () => {
    const buf = SecretBuf.from(new Uint8Array([1, 2]));
    buf.use(() => {
      buf.wipe();
    });
    expect(buf.wiped).toBe(true);
    expect(codeOf(() => buf.use(() => 1))).toBe('WIPED');
  });

  it('should support nested use of the same buffer', () => {
    const buf = SecretBuf.from(new Uint8Array([4]));
    expect(buf.use((outer) => buf.use((inner) => (outer[0] ?? 0) + (inner[0] ?? 0)))).toBe(8);
    expect(hex(buf)).toBe('04');
    buf.wipe();
  });

  it('should refuse an async callback with ASYNC_USE without an unhandled rejection', async () => {
    const buf = SecretBuf.from(new Uint8Array([1]));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      expect(
        codeOf(() =>
          buf.use(async () => {
            await Promise.resolve();
            throw new Error('late failure');
          }),
        ),
      ).toBe('ASYNC_USE');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      // Still usable synchronously: the depth bookkeeping is intact.
      expect(hex(buf)).toBe('01');
    } finally {
      process.off('unhandledRejection', onUnhandled);
      buf.wipe();
    }
  });

  it('should pass on what fn throws and stay usable', () => {
    const buf = SecretBuf.from(new Uint8Array([3]));
    expect(() =>
      buf.use(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(hex(buf)).toBe('03');
    buf.wipe();
  });
});

describe('SecretBuf.allocMany and SecretBuf.random', () => {
  it('should give zeroed, independent buffers filled by init', () => {
    const bufs = SecretBuf.allocMany([2, 0, 3], (views) => {
      expect(views.map((v) => v.length)).toEqual([2, 0, 3]);
      views[2]?.set([9, 9, 9]);
    });
    expect(bufs.map((b) => b.length)).toEqual([2, 0, 3]);
    expect(bufs.map(hex)).toEqual(['0000', '', '090909']);
    bufs[0]?.use((v) => v.fill(1));
    expect(bufs.map(hex)).toEqual(['0101', '', '090909']);
    for (const b of bufs) b.wipe();
  });

  it('should keep neighbours intact when one buffer of a region is wiped', () => {
    const [a, b, c] = SecretBuf.allocMany([2, 2, 2], ([va, vb, vc]) => {
      va?.fill(1);
      vb?.fill(2);
      vc?.fill(3);
    });
    b?.wipe();
    expect(b?.wiped).toBe(true);
    expect([hex(a!), hex(c!)]).toEqual(['0101', '0303']);
    let escaped: Uint8Array = new Uint8Array(0);
    a?.use((v) => {
      escaped = v;
    });
    a?.wipe();
    expect(escaped.length).toBe(2); // region still held by c
    c?.wipe();
    expect(escaped.length).toBe(0); // last buffer gone: region released and detached
  });

  it('should wipe every buffer and rethrow when init throws', () => {
    const before = liveSecretBufs.count;
    expect(() =>
      SecretBuf.allocMany([4, 4], () => {
        throw new Error('init failed');
      }),
    ).toThrow('init failed');
    expect(liveSecretBufs.count).toBe(before);
  });

  it('should throw RangeError for a bad length or an oversized sum', () => {
    expect(() => SecretBuf.allocMany([1, -1])).toThrow(RangeError);
    expect(() => SecretBuf.allocMany([1.5])).toThrow(/lengths\[0\]/);
    expect(() => SecretBuf.allocMany([200 * 1024 * 1024, 200 * 1024 * 1024])).toThrow(/sum of lengths/);
    expect(() => SecretBuf.random(-1)).toThrow(RangeError);
  });

  it('should fill random buffers from the CSPRNG', () => {
    const a = SecretBuf.random(32);
    const b = SecretBuf.random(32);
    expect(a.length).toBe(32);
    expect(hex(a)).not.toBe('00'.repeat(32));
    expect(a.equals(b)).toBe(false);
    a.wipe();
    b.wipe();
  });
});

describe('SecretBuf memory protection (child processes)', () => {
  it('should let a view be read inside use', () => {
    const r = runFixture('protection-child.ts', ['inside']);
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toBe('READ 7\n');
  });

  it.each(['after-use', 'after-nested', 'after-throw', 'after-async', 'after-alloc-many', 'neighbour-wiped'])(
    'should crash the process when a view is read outside use (%s)',
    (mode) => {
      const r = runFixture('protection-child.ts', [mode]);
      // mprotect(PROT_NONE) is real: the read faults and the kernel kills the process.
      expect(['SIGSEGV', 'SIGBUS']).toContain(r.signal);
      expect(r.stdout.toString()).toContain('ARMED\n');
      expect(r.stdout.toString()).not.toContain('READ');
      if (mode === 'after-nested') expect(r.stdout.toString()).toContain('NESTED 8\n');
      if (mode === 'after-async') expect(r.stdout.toString()).toContain('ASYNC_USE\n');
      // The neighbour's view is still its own 3 bytes: the wipe did not release the region.
      if (mode === 'neighbour-wiped') expect(r.stdout.toString()).toContain('LEN 3\n');
    },
  );

  it('should leave an escaped view empty, not readable, after wipe', () => {
    const r = runFixture('protection-child.ts', ['after-wipe']);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toBe('LEN 0 undefined\n');
  });
});

describe('SecretBuf redaction', () => {
  const canary = makeCanary();
  const forms = canaryForms(canary).map((f) => Buffer.from(f).toString('latin1'));
  const leaks = (text: string): boolean => forms.some((f) => text.includes(f));

  it('should yield REDACTED for every string conversion', () => {
    const buf = SecretBuf.from(canary);
    const outputs = [
      String(buf),
      `${buf}`,
      // eslint-disable-next-line @typescript-eslint/restrict-plus-operands
      buf + '',
      buf.toString(),
      buf.toLocaleString(),
      buf.valueOf(),
      buf.toJSON(),
      Object.prototype.toString.call(buf),
    ];
    for (const out of outputs.slice(0, 7)) expect(out).toBe(REDACTED);
    expect(outputs[7]).toBe('[object SecretBuf]');
    for (const out of outputs) expect(leaks(out)).toBe(false);
    buf.wipe();
  });

  it('should be redacted in JSON.stringify, also nested', () => {
    const buf = SecretBuf.from(canary);
    expect(JSON.stringify(buf)).toBe(JSON.stringify(REDACTED));
    const nested = JSON.stringify({ a: { b: [buf, { c: buf }] } });
    expect(nested).toBe(JSON.stringify({ a: { b: [REDACTED, { c: REDACTED }] } }));
    buf.wipe();
  });

  it('should be redacted in util.inspect and util.format with any options', () => {
    const buf = SecretBuf.from(canary);
    const nested = { deep: { deeper: { deepest: [buf] } } };
    const outputs = [
      inspect(buf),
      inspect(buf, { showHidden: true, depth: Infinity }),
      inspect(nested, { showHidden: true, depth: Infinity, colors: true }),
      inspect(buf, { customInspect: false, showHidden: true, getters: true }),
      inspect(nested, { customInspect: false, showHidden: true, depth: Infinity, getters: true }),
      format('%s %o %O %j %d %i %f', buf, buf, buf, buf, buf, buf, buf),
    ];
    expect(outputs[0]).toBe(REDACTED);
    for (const out of outputs) expect(leaks(out)).toBe(false);
    buf.wipe();
  });

  it('should expose no own keys, entries or clones of the bytes', () => {
    const buf = SecretBuf.from(canary);
    expect(Object.keys(buf)).toEqual([]);
    expect(Object.entries(buf)).toEqual([]);
    expect(Object.getOwnPropertyNames(buf)).toEqual([]);
    expect(Reflect.ownKeys(buf)).toEqual([]);
    expect({ ...buf }).toEqual({});
    expect(structuredClone(buf)).toEqual({});
    expect(Buffer.from(buf as unknown as string).toString('latin1')).toBe(REDACTED);
    expect(leaks(Buffer.from(new Uint8Array(buf as unknown as ArrayLike<number>)).toString('latin1'))).toBe(
      false,
    );
    buf.wipe();
  });

  it('should print only REDACTED through console in a real process', () => {
    const childCanary = makeCanary();
    const childForms = canaryForms(childCanary).map((f) => Buffer.from(f));
    const r = runFixture('print-child.ts', [], childCanary);
    expect(r.status).toBe(0);
    const out = Buffer.concat([r.stdout, r.stderr]);
    expect(r.stdout.toString()).toContain('DONE');
    expect(out.toString()).toContain(REDACTED);
    for (const form of childForms) expect(out.includes(form)).toBe(false);
  });
});

describe('wipeBytes', () => {
  it('should zero a Uint8Array, a Buffer and a view in place', () => {
    const u8 = new Uint8Array([1, 2, 3]);
    wipeBytes(u8);
    expect([...u8]).toEqual([0, 0, 0]);
    const buf = Buffer.from([4, 5, 6, 7]);
    wipeBytes(buf.subarray(1, 3));
    expect([...buf]).toEqual([4, 0, 0, 7]);
  });

  it('should throw TypeError for a non-Uint8Array', () => {
    expect(() => wipeBytes([1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });
});
