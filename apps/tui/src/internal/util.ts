// SPDX-License-Identifier: AGPL-3.0-only
import type { AuditRecordLike, DotenvImport } from '../types.ts';

/**
 * A message for the status line: the error's own message and its code (the client's errors
 * name what failed, never a secret).
 */
export function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.message} (${code})` : error.message;
  }
  return String(error);
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

/** `text` padded or cut to `width` columns (with an ellipsis). */
export function fit(text: string, width: number): string {
  if (width <= 1) return text.slice(0, Math.max(0, width));
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/** `2026-11-02 14:03` from an ISO time. */
export function day(iso: string): string {
  return iso.replace('T', ' ').slice(0, 16);
}

/** Whether a parsed .env file can be imported: no problems and at least one name. */
export function canImport(parsed: DotenvImport): boolean {
  return parsed.problems.length === 0 && parsed.names.length > 0;
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
