// SPDX-License-Identifier: AGPL-3.0-only
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('@cora/masker entry point', () => {
  it('should export exactly the pinned names', () => {
    const shape = Object.fromEntries(Object.entries(api).map(([name, value]) => [name, typeof value]));
    expect(shape).toMatchInlineSnapshot(`
      {
        "MASKER_FRAGMENT_BYTES": "number",
        "MASKER_MAX_STREAMS": "number",
        "MASKER_MIN_LENGTH": "number",
        "MaskerError": "function",
        "MaskerErrorCode": "object",
        "createMasker": "function",
        "createMaskers": "function",
        "isMaskerError": "function",
      }
    `);
  });

  it('should keep the error codes a closed list', () => {
    expect(Object.keys(api.MaskerErrorCode)).toEqual(Object.values(api.MaskerErrorCode));
  });

  it('should tell its own errors apart, by code too', () => {
    const error = new api.MaskerError('DISPOSED', 'disposed');
    expect(api.isMaskerError(error)).toBe(true);
    expect(api.isMaskerError(error, 'DISPOSED')).toBe(true);
    expect(api.isMaskerError(error, 'INTERNAL')).toBe(false);
    expect(api.isMaskerError(new Error('disposed'))).toBe(false);
    expect(error).toMatchObject({ name: 'MaskerError', code: 'DISPOSED' });
  });

  it('should pin the G10 floor at 6 bytes', () => {
    expect(api.MASKER_MIN_LENGTH).toBe(6);
  });
});
