// SPDX-License-Identifier: AGPL-3.0-only
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecretBuf } from '@cora/memstore';
import { encodeFrame, FrameDecoder, IpcError, isIpcError, packParts, unpackParts } from '../src/index.ts';
import { rawFrame } from './helpers.ts';

function text(frame: { header: Uint8Array }): string {
  return Buffer.from(frame.header).toString('utf8');
}

function bytesOf(buf: SecretBuf | null): string {
  return buf === null ? '<none>' : buf.use((b) => Buffer.from(b).toString('latin1'));
}

describe('encodeFrame', () => {
  it('should lay out length, header length, header and attachment', () => {
    const frame = encodeFrame({ id: 1, type: 'status' }, Buffer.from('xyz'));
    const header = '{"id":1,"type":"status"}';
    expect(frame.readUInt32BE(0)).toBe(4 + header.length + 3);
    expect(frame.readUInt32BE(4)).toBe(header.length);
    expect(frame.subarray(8).toString('latin1')).toBe(`${header}xyz`);
  });

  it('should copy a SecretBuf attachment', () => {
    const att = SecretBuf.from(Buffer.from('secret'));
    const frame = encodeFrame({ a: 1 }, att);
    expect(frame.subarray(-6).toString()).toBe('secret');
    expect(att.wiped).toBe(false);
    att.wipe();
  });

  it('should throw FRAME_TOO_LARGE past maxFrameBytes', () => {
    expect(() => encodeFrame({ a: 1 }, new Uint8Array(100), 50)).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
  });

  it('should throw TypeError for a non-object header or a bad attachment', () => {
    expect(() => encodeFrame(null as unknown as object)).toThrow(TypeError);
    expect(() => encodeFrame([])).toThrow(TypeError);
    expect(() => encodeFrame({}, 'x' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('FrameDecoder', () => {
  it('should decode two frames from one chunk and one frame from 1-byte chunks', () => {
    const a = encodeFrame({ id: 1 }, Buffer.from('AA'));
    const b = encodeFrame({ id: 2 });
    const decoder = new FrameDecoder();
    const frames = decoder.push(Buffer.concat([a, b]));
    expect(frames.map(text)).toEqual(['{"id":1}', '{"id":2}']);
    expect(bytesOf(frames[0]!.attachment)).toBe('AA');
    expect(frames[1]!.attachment).toBeNull();
    frames[0]!.attachment!.wipe();

    const slow: string[] = [];
    for (const byte of a) {
      for (const f of decoder.push(Uint8Array.of(byte))) {
        slow.push(`${text(f)}|${bytesOf(f.attachment)}`);
        f.attachment?.wipe();
      }
    }
    expect(slow).toEqual(['{"id":1}|AA']);
    expect(decoder.buffered).toBe(0);
  });

  it('should give plain, independent attachment copies from a plain() decoder, zeroing what it buffered', () => {
    const big = Buffer.alloc(300 * 1024, 0x61);
    const frame = encodeFrame({ id: 7 }, big);
    const decoder = FrameDecoder.plain();
    const chunks: Buffer[] = [];
    for (let at = 0; at < frame.length; at += 64 * 1024)
      chunks.push(Buffer.from(frame.subarray(at, at + 64 * 1024)));
    const frames = chunks.flatMap((chunk) => {
      const out = decoder.push(chunk);
      chunk.fill(0); // as a reader wipes each chunk after push
      return out;
    });
    expect(frames).toHaveLength(1);
    const attachment = frames[0]!.attachment;
    expect(attachment).toBeInstanceOf(Uint8Array);
    expect(attachment).not.toBeInstanceOf(SecretBuf);
    expect(Buffer.from(attachment!).equals(big)).toBe(true);
    expect(decoder.buffered).toBe(0);
    // The same decoder still refuses what the secure one refuses.
    expect(() => decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff))).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
    expect(new FrameDecoder().push(frame)[0]!.attachment).toBeInstanceOf(SecretBuf);
  });

  it('should refuse ff ff ff ff after 4 bytes, without buffering', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(Uint8Array.of(0xff, 0xff, 0xff))).toEqual([]);
    expect(() => decoder.push(Uint8Array.of(0xff))).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
    expect(decoder.buffered).toBe(0);
    expect(decoder.failed).toBe(true);
    // once failed, always failed
    expect(() => decoder.push(encodeFrame({}))).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }));
  });

  it('should refuse a length over a configured maximum in the fast path', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 64 });
    expect(() => decoder.push(encodeFrame({ a: 'x'.repeat(100) }))).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
  });

  it.each([
    ['a frame length under 6', Buffer.from([0, 0, 0, 5, 0, 0, 0, 1, 0x7b])],
    ['a header length over the frame', Buffer.from([0, 0, 0, 8, 0, 0, 0, 9, 0x7b, 0x7d, 0, 0])],
    ['a header length under 2', Buffer.from([0, 0, 0, 6, 0, 0, 0, 1, 0x7b, 0x7d])],
  ])('should refuse %s with BAD_FRAME', (_name, bytes) => {
    expect(() => new FrameDecoder().push(bytes)).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }));
    const slow = new FrameDecoder();
    expect(() => {
      for (const byte of bytes) slow.push(Uint8Array.of(byte));
    }).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }));
  });

  it('should wipe the frames it decoded from a chunk when the same chunk ends in an error', () => {
    const decoder = new FrameDecoder();
    const good = encodeFrame({ id: 1 }, Buffer.from('secret'));
    let caught: unknown;
    try {
      decoder.push(Buffer.concat([good, Buffer.from([0xff, 0xff, 0xff, 0xff])]));
    } catch (error) {
      caught = error;
    }
    expect(isIpcError(caught, 'FRAME_TOO_LARGE')).toBe(true);
  });

  it('should return the frames before an error with the error (pushUntilError), then stay failed', () => {
    const decoder = new FrameDecoder();
    const good = encodeFrame({ id: 1 }, Buffer.from('secret'));
    const { frames, error } = decoder.pushUntilError(
      Buffer.concat([good, encodeFrame({ id: 2 }), Buffer.from([0, 0, 0, 3])]),
    );
    expect(frames.map(text)).toEqual(['{"id":1}', '{"id":2}']);
    expect(bytesOf(frames[0]!.attachment)).toBe('secret');
    frames[0]!.attachment!.wipe();
    expect(isIpcError(error, 'BAD_FRAME')).toBe(true);
    expect(decoder.failed).toBe(true);
    expect(decoder.buffered).toBe(0);
    const again = decoder.pushUntilError(encodeFrame({ id: 3 }));
    expect(again.frames).toEqual([]);
    expect(isIpcError(again.error, 'BAD_FRAME')).toBe(true);
    expect(decoder.pushUntilError(encodeFrame({})).error).not.toBeNull();
    expect(() => decoder.pushUntilError('x' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('should hold the first frame to maxFirstFrameBytes and later frames to maxFrameBytes', () => {
    const big = encodeFrame({ a: 'x'.repeat(200) });
    // Refused as the first frame as soon as its 4 length bytes arrive, nothing buffered.
    const first = new FrameDecoder({ maxFrameBytes: 1024, maxFirstFrameBytes: 64 });
    expect(first.push(big.subarray(0, 3))).toEqual([]);
    expect(() => first.push(big.subarray(3, 4))).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
    expect(first.buffered).toBe(0);
    // After a small first frame, the same frame is fine (one chunk, and byte by byte).
    const later = new FrameDecoder({ maxFrameBytes: 1024, maxFirstFrameBytes: 64 });
    expect(later.push(Buffer.concat([encodeFrame({ id: 1 }), big])).map(text)).toHaveLength(2);
    const slow = new FrameDecoder({ maxFrameBytes: 1024, maxFirstFrameBytes: 64 });
    let count = 0;
    for (const byte of Buffer.concat([encodeFrame({ id: 1 }), big]))
      count += slow.push(Uint8Array.of(byte)).length;
    expect(count).toBe(2);
    expect(() => new FrameDecoder({ maxFrameBytes: 64, maxFirstFrameBytes: 65 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFirstFrameBytes: 4 })).toThrow(RangeError);
  });

  it('should hold only the bytes received for a frame that announces the maximum', () => {
    const decoder = new FrameDecoder();
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(1024 * 1024, 0);
    prefix.writeUInt32BE(2, 4);
    decoder.push(prefix);
    decoder.push(Buffer.from('{}'));
    expect(decoder.buffered).toBe(10);
    decoder.dispose();
    expect(decoder.buffered).toBe(0);
  });

  it('should throw TypeError and RangeError for bad arguments', () => {
    expect(() => new FrameDecoder().push('x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => new FrameDecoder({ maxFrameBytes: 3 })).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameBytes: 2 ** 40 })).toThrow(RangeError);
  });

  it('should never throw anything but IpcError on random streams, and stay bounded (fuzz)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 40 }), (chunks) => {
        const decoder = new FrameDecoder({ maxFrameBytes: 512 });
        try {
          for (const chunk of chunks) {
            for (const f of decoder.push(chunk)) f.attachment?.wipe();
            expect(decoder.buffered).toBeLessThanOrEqual(516);
          }
        } catch (error) {
          if (!(error instanceof IpcError)) throw error;
          expect(['BAD_FRAME', 'FRAME_TOO_LARGE']).toContain(error.code);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('should decode mutated and re-chunked valid frames without escaping errors (fuzz)', () => {
    const frame = fc
      .tuple(fc.jsonValue({ maxDepth: 3 }), fc.uint8Array({ maxLength: 100 }))
      .map(([json, att]) => encodeFrame({ j: json }, att));
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        (frames, mutations, cuts) => {
          const stream = Buffer.concat(frames);
          for (const [at, value] of mutations) stream[at % stream.length] = value;
          const decoder = new FrameDecoder({ maxFrameBytes: 4096 });
          let pos = 0;
          let i = 0;
          let count = 0;
          try {
            while (pos < stream.length) {
              const size = cuts[i++ % cuts.length]!;
              for (const f of decoder.push(stream.subarray(pos, pos + size))) {
                count += 1;
                f.attachment?.wipe();
              }
              pos += size;
              expect(decoder.buffered).toBeLessThanOrEqual(4100);
            }
            if (mutations.length === 0) expect(count).toBe(frames.length);
          } catch (error) {
            if (!(error instanceof IpcError)) throw error;
            expect(mutations.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('packParts / unpackParts', () => {
  it('should round trip 0, 1, 2 and many parts', () => {
    for (const parts of [[], ['pass'], ['pass', 'value'], ['p', '', 'v1', 'value-two']]) {
      const packed = packParts(parts.map((p) => Buffer.from(p)));
      const out = unpackParts(packed, parts.length);
      expect(out.map(bytesOf)).toEqual(parts);
      packed.wipe();
      for (const b of out) b.wipe();
    }
  });

  it('should lay out u32 BE lengths for every part but the last', () => {
    const packed = packParts([Buffer.from('ab'), SecretBuf.from(Buffer.from('xyz'))]);
    expect(packed.use((b) => Buffer.from(b).toString('hex'))).toBe('00000002' + '6162' + '78797a');
    packed.wipe();
  });

  it('should throw BAD_ATTACHMENT when the layout does not hold the parts', () => {
    const att = SecretBuf.from(Buffer.from([0, 0, 0, 9, 1, 2]));
    expect(() => unpackParts(att, 2)).toThrow(expect.objectContaining({ code: 'BAD_ATTACHMENT' }));
    expect(() => unpackParts(att, 0)).toThrow(expect.objectContaining({ code: 'BAD_ATTACHMENT' }));
    expect(() => unpackParts(null, 2)).toThrow(expect.objectContaining({ code: 'BAD_ATTACHMENT' }));
    expect(unpackParts(null, 0)).toEqual([]);
    att.wipe();
  });

  it('should throw TypeError and RangeError for bad arguments', () => {
    expect(() => packParts('x' as unknown as Uint8Array[])).toThrow(TypeError);
    expect(() => packParts(['x' as unknown as Uint8Array])).toThrow(TypeError);
    expect(() => unpackParts(null, -1)).toThrow(RangeError);
    expect(() => unpackParts(Buffer.from('x') as unknown as SecretBuf, 1)).toThrow(TypeError);
  });

  it('should round trip random parts (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (parts) => {
        const packed = packParts(parts);
        const out = unpackParts(packed, parts.length);
        expect(out.map((b) => b.use((x) => Buffer.from(x)))).toEqual(parts.map((p) => Buffer.from(p)));
        packed.wipe();
        for (const b of out) b.wipe();
      }),
    );
  });
});

describe('rawFrame helper', () => {
  it('should build what encodeFrame builds', () => {
    expect(rawFrame('{"a":1}', Buffer.from('z'))).toEqual(encodeFrame({ a: 1 }, Buffer.from('z')));
  });
});
