// SPDX-License-Identifier: AGPL-3.0-only
import type { AuditRecordLike } from '../types.ts';
import type { SecretBuf } from '@cora/memstore';

/** A message for the status line: the error's own message (IpcError messages hold no secret). */
export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** Run `fn` with `buf`, then wipe it whatever happens. */
export async function withWipe<T>(buf: SecretBuf, fn: (buf: SecretBuf) => Promise<T>): Promise<T> {
  try {
    return await fn(buf);
  } finally {
    buf.wipe();
  }
}

/** `mm:ss` (or `h:mm:ss`) until `iso`, or `—`. */
export function countdown(iso: string | null, now: number): string {
  if (iso === null) return '—';
  const left = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${String(h)}:${mmss}` : mmss;
}

/** A secret name (DESIGN §4). */
export function isSecretName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/u.test(name) && Buffer.byteLength(name) <= 128;
}

/** Cut `text` to `width` columns with an ellipsis. */
export function fit(text: string, width: number): string {
  if (width <= 1) return text.slice(0, Math.max(0, width));
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/** Split an argv line on spaces (no shell quoting: what you type is what is checked). */
export function splitArgv(line: string): string[] {
  return line.split(/\s+/u).filter((a) => a.length > 0);
}

/**
 * When each secret was last injected into a child, from the audit log's `secret-injected`
 * records (the service keeps no such time itself; names only, never values).
 * @param records - audit records, oldest first
 * @returns secret name → ISO time of its latest injection
 */
export async function lastUsed(records: AsyncIterable<AuditRecordLike>): Promise<Map<string, string>> {
  const used = new Map<string, string>();
  for await (const record of records) {
    if (record.type !== 'secret-injected') continue;
    const names = (record as { secrets?: unknown }).secrets;
    if (!Array.isArray(names)) continue;
    for (const name of names) if (typeof name === 'string') used.set(name, record.time);
  }
  return used;
}
