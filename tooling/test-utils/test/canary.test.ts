// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import { CANARY_FORM_LABELS, CANARY_PREFIX, canaryForms, makeCanary } from '../src/index.ts';

describe('makeCanary', () => {
  it('should be the prefix plus random letters and digits', () => {
    const a = makeCanary();
    const b = makeCanary();
    expect(a.length).toBe(CANARY_PREFIX.length + 24);
    expect(a.toString('latin1')).toMatch(/^CORACANARY[A-Za-z0-9]{24}$/);
    expect(a.equals(b)).toBe(false);
    expect(makeCanary(100)).toHaveLength(CANARY_PREFIX.length + 100);
  });

  it('should throw RangeError for a short or odd length', () => {
    expect(() => makeCanary(15)).toThrow(RangeError);
    expect(() => makeCanary(1.5)).toThrow(RangeError);
  });
});

describe('canaryForms', () => {
  it('should give raw, hex, HEX and base64 / base64url in three alignments', () => {
    const canary = makeCanary();
    const forms = canaryForms(canary).map((f) => Buffer.from(f).toString('latin1'));
    expect(forms).toHaveLength(CANARY_FORM_LABELS.length);
    expect(forms[0]).toBe(canary.toString('latin1'));
    expect(forms[1]).toBe(canary.toString('hex'));
    expect(forms[2]).toBe(canary.toString('hex').toUpperCase());
  });

  it('should match the base64 of the canary whatever surrounds it', () => {
    const canary = makeCanary(31);
    const forms = canaryForms(canary).map((f) => Buffer.from(f).toString('latin1'));
    for (let before = 0; before < 6; before++) {
      for (let after = 0; after < 4; after++) {
        const text = Buffer.concat([Buffer.alloc(before, 0x41), canary, Buffer.alloc(after, 0x7a)]);
        for (const encoding of ['base64', 'base64url'] as const) {
          const encoded = text.toString(encoding);
          const found = forms.slice(3).some((form) => encoded.includes(form));
          expect(found, `${encoding} before=${String(before)} after=${String(after)}`).toBe(true);
        }
      }
    }
  });

  it('should throw RangeError for a canary under 8 bytes', () => {
    expect(() => canaryForms(new Uint8Array(7))).toThrow(RangeError);
  });
});
