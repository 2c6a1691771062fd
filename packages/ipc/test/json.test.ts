// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import { parseHeaderJson } from '../src/internal/json.ts';

const parse = (text: string | Uint8Array): unknown =>
  parseHeaderJson(typeof text === 'string' ? Buffer.from(text) : text, 8);

describe('parseHeaderJson', () => {
  it('should parse what JSON.parse parses', () => {
    const samples = [
      '{}',
      '[]',
      '{"a":[1,-2.5e3,true,false,null,"x\\u0041\\n"]}',
      ' { "b" : { "c" : [ ] } } ',
      '0',
      '"s"',
    ];
    for (const s of samples) expect(parse(s)).toEqual(JSON.parse(s));
  });

  it.each([
    ['duplicate keys', '{"a":1,"a":2}'],
    ['duplicate keys spelled with an escape', '{"a":1,"\\u0061":2}'],
    ['__proto__', '{"__proto__":{"polluted":true}}'],
    ['constructor', '{"constructor":{"prototype":{"polluted":true}}}'],
    ['prototype', '{"x":{"prototype":1}}'],
    ['an escaped __proto__', '{"\\u005f_proto__":{"polluted":true}}'],
    ['nesting of 9', '[[[[[[[[[1]]]]]]]]]'],
    ['trailing data', '{} x'],
    ['a trailing comma', '{"a":1,}'],
    ['single quotes', "{'a':1}"],
    ['a control character', '{"a":"\u0001"}'],
    ['a bad escape', '{"a":"\\x"}'],
    ['a leading zero', '{"a":01}'],
    ['NaN', '{"a":NaN}'],
    ['an unterminated string', '{"a":"x'],
    ['a BOM', '\ufeff{}'],
    ['nothing', ''],
    ['a huge exponent', '{"a":1e999}'],
  ])('should refuse %s with BAD_JSON', (_name, text) => {
    expect(() => parse(text)).toThrow(expect.objectContaining({ code: 'BAD_JSON' }));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('should refuse invalid UTF-8', () => {
    expect(() => parse(Uint8Array.of(0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d))).toThrow(
      expect.objectContaining({ code: 'BAD_JSON' }),
    );
  });

  it('should refuse 100 000-deep nesting without exhausting the stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const deepObject = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    expect(() => parse(deep)).toThrow(expect.objectContaining({ code: 'BAD_JSON' }));
    expect(() => parse(deepObject)).toThrow(expect.objectContaining({ code: 'BAD_JSON' }));
  });

  it('should accept nesting of exactly 8', () => {
    expect(parse('[[[[[[[[1]]]]]]]]')).toEqual([[[[[[[[1]]]]]]]]);
  });
});
