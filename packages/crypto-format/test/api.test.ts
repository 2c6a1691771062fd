// SPDX-License-Identifier: AGPL-3.0-only
// Pins the public surface: adding, removing or retyping an export fails here first.
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';

describe('public API', () => {
  it('should export exactly these names with these types', () => {
    const surface = Object.fromEntries(
      Object.keys(api)
        .sort()
        .map((name) => [name, typeof (api as Record<string, unknown>)[name]]),
    );
    expect(surface).toEqual({
      CryptoFormatError: 'function',
      CryptoFormatErrorCode: 'object',
      FORMAT_VERSION: 'number',
      HEADER_LENGTH: 'number',
      KDF_ARGON2ID: 'number',
      KDF_CEILING: 'object',
      KDF_FLOOR: 'object',
      KDF_WORK_CEILING: 'number',
      MAX_VAULT_BYTES: 'number',
      NONCE_LENGTH: 'number',
      SALT_LENGTH: 'number',
      TAG_LENGTH: 'number',
      createVault: 'function',
      isCryptoFormatError: 'function',
      openVault: 'function',
      openVaultBlock: 'function',
      parseHeader: 'function',
      readVault: 'function',
      readVaultFile: 'function',
      sealVault: 'function',
      updateVault: 'function',
      withFileLock: 'function',
      writeFileAtomic: 'function',
    });
  });

  it('should pin the format constants of architecture §4', () => {
    expect(api.HEADER_LENGTH).toBe(56);
    expect(api.TAG_LENGTH).toBe(16);
    expect(api.SALT_LENGTH).toBe(16);
    expect(api.NONCE_LENGTH).toBe(24);
    expect(api.FORMAT_VERSION).toBe(1);
    expect(api.KDF_ARGON2ID).toBe(1);
    expect(api.KDF_FLOOR).toEqual({ t: 3, m: 65_536, p: 4 });
    expect(api.KDF_CEILING).toEqual({ t: 24, m: 524_288, p: 16 });
    expect(api.KDF_WORK_CEILING).toBe(3 * 524_288);
    expect(Object.isFrozen(api.KDF_FLOOR) && Object.isFrozen(api.KDF_CEILING)).toBe(true);
    expect(api.MAX_VAULT_BYTES).toBe(80 * 1024 * 1024);
  });

  it('should give every error code its own value', () => {
    const codes = Object.entries(api.CryptoFormatErrorCode);
    expect(codes.every(([key, value]) => key === value)).toBe(true);
    expect(codes.map(([key]) => key).sort()).toEqual([
      'AUTH_FAILED',
      'BAD_MAGIC',
      'DISK_FULL',
      'FILE_CHANGED',
      'FILE_TOO_LARGE',
      'FILE_TOO_SHORT',
      'INVALID_PLAINTEXT',
      'IO_ERROR',
      'KDF_ABOVE_CEILING',
      'KDF_BELOW_FLOOR',
      'LOCK_NOT_REGULAR_FILE',
      'LOCK_TIMEOUT',
      'NOT_REGULAR_FILE',
      'PERMISSION_DENIED',
      'READ_ONLY',
      'RESERVED_NOT_ZERO',
      'UNSUPPORTED_KDF',
      'UNSUPPORTED_VERSION',
      'VAULT_EXISTS',
      'VAULT_NOT_FOUND',
    ]);
  });

  it('should build errors with code, context and cause, and guard them', () => {
    const cause = new Error('inner');
    const error = new api.CryptoFormatError('KDF_BELOW_FLOOR', 'msg', { field: 't', path: '/x', cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('CryptoFormatError');
    expect([error.code, error.field, error.path, error.cause]).toEqual(['KDF_BELOW_FLOOR', 't', '/x', cause]);
    expect(api.isCryptoFormatError(error)).toBe(true);
    expect(api.isCryptoFormatError(error, 'KDF_BELOW_FLOOR')).toBe(true);
    expect(api.isCryptoFormatError(error, 'AUTH_FAILED')).toBe(false);
    expect(api.isCryptoFormatError(new Error('x'))).toBe(false);
    expect('cause' in new api.CryptoFormatError('AUTH_FAILED', 'm')).toBe(false);
    const disk = new api.CryptoFormatError('DISK_FULL', 'm', { path: '/x', step: 'fsync', errno: 'ENOSPC' });
    expect([disk.step, disk.errno, error.step, error.errno]).toEqual([
      'fsync',
      'ENOSPC',
      undefined,
      undefined,
    ]);
  });
});
