// SPDX-License-Identifier: AGPL-3.0-only
// Shared helpers for this package's tests (not part of the published package).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SecretBuf, type SecretEntry, type SecretsBlock } from '@cora/memstore';

/** The public test vectors, kept in the repository next to the tests (see vectors/SOURCES.md). */
export const VECTORS_DIR = fileURLToPath(new URL('./vectors/', import.meta.url));

/** Path of a child-process fixture. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A secret from test-only ASCII; real callers never hold secrets as strings. */
export function secret(text: string): SecretBuf {
  return SecretBuf.fromAndWipe(new TextEncoder().encode(text));
}

/** Copy a SecretBuf's bytes out (test assertions only; `new Uint8Array` copies, Buffer#slice would not). */
export function reveal(buf: SecretBuf): Uint8Array {
  return buf.use((bytes) => new Uint8Array(bytes));
}

/** A fresh private temp directory; call the returned cleanup in afterEach/afterAll. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cora-cf-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A valid secrets block with the given name → value pairs. */
export function makeBlock(values: Readonly<Record<string, string>>, now = 1_700_000_000_000): SecretsBlock {
  const entries: SecretEntry[] = Object.entries(values).map(([name, value]) => ({
    name,
    value: secret(value),
    created: now,
    updated: now,
  }));
  return {
    entries,
    auditKey: SecretBuf.fromAndWipe(new Uint8Array(32).fill(7)),
    json: new TextEncoder().encode('{"policy":{},"meta":{}}'),
  };
}

/** The block's entries as name → value text (test assertions only). */
export function blockValues(block: SecretsBlock): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of block.entries) out[entry.name] = new TextDecoder().decode(reveal(entry.value));
  return out;
}
