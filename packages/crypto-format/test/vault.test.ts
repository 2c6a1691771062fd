// SPDX-License-Identifier: AGPL-3.0-only
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SecretBuf, isMemstoreError, wipeSecretsBlock, type SecretsBlock } from '@cora/memstore';
import {
  createVault,
  isCryptoFormatError,
  parseHeader,
  readVault,
  sealVault,
  updateVault,
  writeFileAtomic,
  type CryptoFormatErrorCode,
} from '../src/index.ts';
import { blockValues, fixture, makeBlock, secret, tempDir, toHex } from './helpers.ts';

async function codeOf(promise: Promise<unknown>): Promise<CryptoFormatErrorCode> {
  try {
    const value = await promise;
    if (value !== undefined) wipeSecretsBlock(value as SecretsBlock);
  } catch (error) {
    if (isCryptoFormatError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a CryptoFormatError, but the call succeeded');
}

const PASSPHRASE_TEXT = 'vault test passphrase';
let passphrase: SecretBuf;
let dir: string;
let cleanup: () => void;
let path: string;

beforeAll(() => {
  passphrase = secret(PASSPHRASE_TEXT);
});
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  path = join(dir, 'home', '.cora', 'vault.cora');
});
afterEach(() => cleanup());

describe('createVault', () => {
  it('should create a 0600 vault in a new 0700 directory that readVault opens', async () => {
    const block = makeBlock({ API_KEY: 'sk-123', TOKEN: 'abc' });
    await createVault(path, block, passphrase);
    wipeSecretsBlock(block);
    expect(statSync(join(dir, 'home', '.cora')).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'home', '.cora'))).toEqual(['vault.cora']);
    const read = await readVault(path, passphrase);
    expect(blockValues(read)).toEqual({ API_KEY: 'sk-123', TOKEN: 'abc' });
    expect(new TextDecoder().decode(read.json)).toBe('{"policy":{},"meta":{}}');
    wipeSecretsBlock(read);
  });

  it('should never write a value in plaintext', async () => {
    const block = makeBlock({ CANARY: 'canary-6f1d2c9e-value' });
    await createVault(path, block, passphrase);
    wipeSecretsBlock(block);
    expect(readFileSync(path).includes(Buffer.from('canary-6f1d2c9e-value'))).toBe(false);
    expect(readFileSync(path).includes(Buffer.from('CANARY'))).toBe(false); // names are encrypted too
  });

  it('should refuse to overwrite an existing file with VAULT_EXISTS', async () => {
    const first = makeBlock({ A: '1' });
    await createVault(path, first, passphrase);
    const before = readFileSync(path);
    expect(await codeOf(createVault(path, first, passphrase))).toBe('VAULT_EXISTS');
    expect(readFileSync(path).equals(before)).toBe(true);
    wipeSecretsBlock(first);
  });

  it('should refuse a path occupied by a symlink with VAULT_EXISTS', async () => {
    await writeFileAtomic(join(dir, 'elsewhere'), Buffer.from('x'));
    await writeFileAtomic(join(dir, 'home', '.cora', 'placeholder'), Buffer.from('x'));
    symlinkSync(join(dir, 'elsewhere'), path);
    const block = makeBlock({ A: '1' });
    expect(await codeOf(createVault(path, block, passphrase))).toBe('VAULT_EXISTS');
    wipeSecretsBlock(block);
  });

  it('should pass memstore refusals of the block through unchanged', async () => {
    const block = makeBlock({ A: '1' });
    const dup: SecretsBlock = { ...block, entries: [...block.entries, ...block.entries] };
    await expect(createVault(path, dup, passphrase)).rejects.toSatisfy((e) => isMemstoreError(e));
    expect(existsSync(path)).toBe(false);
    wipeSecretsBlock(block);
  });
});

describe('readVault', () => {
  it('should refuse a wrong passphrase with AUTH_FAILED', async () => {
    const block = makeBlock({ A: '1' });
    await createVault(path, block, passphrase);
    wipeSecretsBlock(block);
    const wrong = secret('wrong');
    expect(await codeOf(readVault(path, wrong))).toBe('AUTH_FAILED');
    wrong.wipe();
  });

  it('should refuse a missing vault with VAULT_NOT_FOUND', async () => {
    expect(await codeOf(readVault(path, passphrase))).toBe('VAULT_NOT_FOUND');
  });

  it('should wrap an authenticated but invalid block as INVALID_PLAINTEXT with the memstore cause', async () => {
    // A correctly sealed file whose plaintext has trailing bytes after the JSON section.
    const good = makeBlock({ A: '1' });
    await createVault(path, good, passphrase);
    wipeSecretsBlock(good);
    const plaintext = SecretBuf.fromAndWipe(
      Buffer.concat([
        Buffer.from([0, 0, 0, 0]), // count 0
        Buffer.from([32, 0]), // k = 32
        Buffer.alloc(32, 1), // audit key
        Buffer.from([2, 0, 0, 0]), // j = 2
        Buffer.from('{}'),
        Buffer.from([0xff]), // trailing byte
      ]),
    );
    await writeFileAtomic(path, await sealVault(plaintext, passphrase));
    plaintext.wipe();
    let caught: unknown;
    try {
      wipeSecretsBlock(await readVault(path, passphrase));
    } catch (error) {
      caught = error;
    }
    expect(isCryptoFormatError(caught, 'INVALID_PLAINTEXT')).toBe(true);
    const cause = (caught as Error).cause;
    expect(isMemstoreError(cause, 'BLOCK_TRAILING_BYTES')).toBe(true);
  });
});

describe('updateVault', () => {
  beforeEach(async () => {
    const block = makeBlock({ A: '1' });
    await createVault(path, block, passphrase);
    wipeSecretsBlock(block);
  });

  it('should apply the mutation, keep .prev and keep the KDF parameters', async () => {
    const before = readFileSync(path);
    await updateVault(path, passphrase, (block) => ({
      ...block,
      entries: [...block.entries, { name: 'B', value: secret('2'), created: 1, updated: 1 }],
    }));
    expect(readFileSync(`${path}.prev`).equals(before)).toBe(true);
    const after = readFileSync(path);
    expect(parseHeader(after).params).toEqual(parseHeader(before).params);
    expect(toHex(parseHeader(after).salt)).not.toBe(toHex(parseHeader(before).salt));
    const read = await readVault(path, passphrase);
    expect(blockValues(read)).toEqual({ A: '1', B: '2' });
    wipeSecretsBlock(read);
  });

  it('should keep the salt when asked', async () => {
    const before = parseHeader(readFileSync(path));
    await updateVault(path, passphrase, (block) => block, { keepSalt: true });
    expect(toHex(parseHeader(readFileSync(path)).salt)).toBe(toHex(before.salt));
  });

  it('should raise the KDF cost when asked', async () => {
    await updateVault(path, passphrase, (block) => block, { kdf: { t: 4, m: 65_536, p: 4 } });
    expect(parseHeader(readFileSync(path)).params.t).toBe(4);
  });

  it('should change the passphrase with a fresh salt', async () => {
    const next = secret('new passphrase');
    await updateVault(path, passphrase, (block) => block, { newPassphrase: next });
    expect(await codeOf(readVault(path, passphrase))).toBe('AUTH_FAILED');
    const read = await readVault(path, next);
    expect(blockValues(read)).toEqual({ A: '1' });
    wipeSecretsBlock(read);
    await expect(
      updateVault(path, next, (block) => block, { newPassphrase: passphrase, keepSalt: true }),
    ).rejects.toThrow(/^options\.keepSalt cannot be combined/);
    next.wipe();
  });

  it('should refuse a wrong passphrase with AUTH_FAILED and write nothing', async () => {
    const before = readFileSync(path);
    const wrong = secret('wrong');
    let called = false;
    expect(
      await codeOf(
        updateVault(path, wrong, (block) => {
          called = true;
          return block;
        }),
      ),
    ).toBe('AUTH_FAILED');
    expect(called).toBe(false);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(join(dir, 'home', '.cora'))).toEqual(['vault.cora']);
    wrong.wipe();
  });

  it('should wipe both blocks, write nothing and release the lock when mutate throws', async () => {
    const before = readFileSync(path);
    let seen: SecretsBlock | undefined;
    await expect(
      updateVault(path, passphrase, (block) => {
        seen = block;
        throw new Error('mutate failed');
      }),
    ).rejects.toThrow('mutate failed');
    expect(seen?.entries[0]?.value.wiped).toBe(true);
    expect(seen?.auditKey.wiped).toBe(true);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(join(dir, 'home', '.cora'))).toEqual(['vault.cora']);
  });

  it('should wipe the decoded and the returned block after a successful write', async () => {
    let decoded: SecretsBlock | undefined;
    const added = secret('2');
    await updateVault(path, passphrase, (block) => {
      decoded = block;
      return { ...block, entries: [...block.entries, { name: 'B', value: added, created: 1, updated: 1 }] };
    });
    expect(decoded?.entries[0]?.value.wiped).toBe(true);
    expect(added.wiped).toBe(true);
  });

  it('should refuse a missing vault with VAULT_NOT_FOUND', async () => {
    expect(await codeOf(updateVault(join(dir, 'none.cora'), passphrase, (b) => b))).toBe('VAULT_NOT_FOUND');
  });

  it('should lose no update when two processes race 20 updates each (G8)', async () => {
    const run = (prefix: string): Promise<number | null> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--conditions=cora-source', fixture('update-worker.ts'), path, prefix, '20'],
          {
            env: { ...process.env, CORA_TEST_PASSPHRASE_HEX: Buffer.from(PASSPHRASE_TEXT).toString('hex') },
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.on('error', reject);
        child.on('exit', (code) => {
          if (code !== 0) reject(new Error(`worker ${prefix} exited ${String(code)}: ${stderr}`));
          else resolve(code);
        });
      });
    await Promise.all([run('LEFT'), run('RIGHT')]);
    const read = await readVault(path, passphrase);
    const names = read.entries.map((entry) => entry.name).sort();
    const expected = ['A'];
    for (let i = 0; i < 20; i += 1) expected.push(`LEFT_${i}`, `RIGHT_${i}`);
    expect(names).toEqual(expected.sort());
    expect(blockValues(read)['RIGHT_19']).toBe('RIGHT-value-19');
    wipeSecretsBlock(read);
    expect(readdirSync(join(dir, 'home', '.cora')).sort()).toEqual(['vault.cora', 'vault.cora.prev']);
  }, 120_000);
});

describe('vault files written by hand', () => {
  it('should refuse a header-only file with FILE_TOO_SHORT', async () => {
    await writeFileAtomic(path, Buffer.concat([Buffer.from('CORA'), Buffer.alloc(52)]));
    expect(await codeOf(readVault(path, passphrase))).toBe('FILE_TOO_SHORT');
  });

  it('should refuse a plain-text file with BAD_MAGIC', async () => {
    await writeFileAtomic(path, Buffer.from('API_KEY=sk-123\n'.repeat(8)));
    expect(await codeOf(readVault(path, passphrase))).toBe('BAD_MAGIC');
  });
});
