// SPDX-License-Identifier: AGPL-3.0-only
// The published shape: these imports resolve through each package's `exports` map to dist/
// (no `cora-source` condition here), so a broken build, a missing export or a wrong map fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as audit from '@cora/audit';
import * as cryptoFormat from '@cora/crypto-format';
import * as masker from '@cora/masker';
import * as memstore from '@cora/memstore';

const dir = mkdtempSync(join(tmpdir(), 'cora-dist-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function shape(mod: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(mod).map(([name, value]) => [name, typeof value]));
}

describe('built packages', () => {
  it('should resolve every package to its dist/ build', () => {
    for (const name of ['@cora/memstore', '@cora/crypto-format', '@cora/audit', '@cora/masker']) {
      expect(fileURLToPath(import.meta.resolve(name))).toMatch(/\/dist\/index\.js$/);
    }
  });

  it('should export the same names from dist as the API reports pin', () => {
    expect(Object.keys(shape(memstore)).sort()).toContain('SecretBuf');
    expect(Object.keys(shape(cryptoFormat)).sort()).toContain('readVault');
    expect(shape(memstore)).toMatchSnapshot('memstore');
    expect(shape(cryptoFormat)).toMatchSnapshot('crypto-format');
    expect(shape(audit)).toMatchSnapshot('audit');
    expect(shape(masker)).toMatchSnapshot('masker');
  });

  it('should mask a value split across chunks through the built code', () => {
    const value = memstore.SecretBuf.from(new TextEncoder().encode('dist-check-token-0123'));
    const m = masker.createMasker([{ name: 'API_KEY', value }]);
    try {
      const out = [
        m.push(new TextEncoder().encode('a dist-check-to')),
        m.push(new TextEncoder().encode('ken-0123 b 646973742d636865636b2d746f6b656e2d30313233 c')),
        m.flush(),
      ];
      expect(Buffer.concat(out).toString()).toBe('a <concealed:API_KEY> b <concealed:API_KEY> c');
    } finally {
      m.dispose();
      value.wipe();
    }
    expect(() => m.push(new Uint8Array(1))).toThrow(
      expect.toSatisfy((e: unknown) => masker.isMaskerError(e, 'DISPOSED')) as Error,
    );
  });

  it('should append, seal and verify an audit log through the built code', async () => {
    const key = memstore.SecretBuf.random(32);
    const logDir = join(dir, 'audit');
    const log = await audit.AuditLog.open({ dir: logDir });
    try {
      await log.append({ type: 'service-start', pid: process.pid, version: '0.1.0' });
      log.setKey(key);
      await log.append({ type: 'lock', reason: 'request' });
      log.setKey(null);
      const report = await audit.verifyLog(logDir, { key, expectHead: log.head() });
      expect(report).toMatchObject({ ok: true, records: 2, macChecked: true, lastSealedSeq: 2 });
    } finally {
      await log.close();
      key.wipe();
    }
  });

  it('should create, update and read a vault through the built code', async () => {
    const { SecretBuf, wipeSecretsBlock } = memstore;
    const path = join(dir, 'vault.cora');
    const passphrase = SecretBuf.from(new TextEncoder().encode('dist check passphrase'));
    const value = SecretBuf.random(40);
    try {
      const entry = { name: 'API_KEY', value: SecretBuf.from(new Uint8Array(40)), created: 1, updated: 2 };
      value.use((v) => entry.value.use((dst) => dst.set(v)));
      await cryptoFormat.createVault(
        path,
        { entries: [entry], auditKey: SecretBuf.random(32), json: new TextEncoder().encode('{"policy":{}}') },
        passphrase,
      );
      const block = await cryptoFormat.readVault(path, passphrase);
      expect(block.entries.map((e) => [e.name, e.created, e.updated])).toEqual([['API_KEY', 1, 2]]);
      expect(block.entries[0]!.value.equals(value)).toBe(true);
      wipeSecretsBlock(block);
      const wrong = SecretBuf.from(new TextEncoder().encode('not the passphrase'));
      await expect(cryptoFormat.readVault(path, wrong)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      wrong.wipe();
    } finally {
      passphrase.wipe();
      value.wipe();
    }
  });
});
