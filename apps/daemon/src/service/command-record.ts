// SPDX-License-Identifier: AGPL-3.0-only
/**
 * The command a caller sent (argv, cwd) as the audit log and the approver get it (architecture
 * §10, issue 12): masked with the task's secrets, each argument and the cwd cut, the arguments
 * past a total counted. It is the caller's own data, not a secret, but an agent may have put a
 * value in it (guessed, pasted), so no value of the task may reach the log in clear or in an
 * encoding the masker covers.
 */
import { AUDIT_COMMAND_LIMITS, type AuditCommand } from '@cora/audit';
import { APPROVAL_LIMITS, EXEC_LIMITS } from '@cora/ipc';
import { createMaskers, type Masker } from '@cora/masker';
import type { SecretBuf } from '@cora/memstore';
import { cutUtf8 } from './approval-context.ts';

/** Bounds both readers accept: the audit schema and the `pending` event of an approver. */
export const COMMAND_LIMITS = Object.freeze({
  maxArgs: Math.min(AUDIT_COMMAND_LIMITS.maxArgs, EXEC_LIMITS.maxArgs),
  maxArgBytes: Math.min(AUDIT_COMMAND_LIMITS.maxArgBytes, APPROVAL_LIMITS.maxArgBytes),
  maxArgvBytes: Math.min(AUDIT_COMMAND_LIMITS.maxArgvBytes, APPROVAL_LIMITS.maxArgvBytes),
  /** The approval event's path bound (4096 bytes) and the audit's agree. */
  maxCwdBytes: AUDIT_COMMAND_LIMITS.maxCwdBytes,
});

/** What the secrets of a task come from (the service state). */
export interface SecretSource {
  /** Fresh copies the caller wipes. @throws IpcError `LOCKED`, `NOT_FOUND`. */
  secretsFor(names: readonly string[]): { name: string; value: SecretBuf }[];
  /** The first of `names` the vault does not hold, or null. */
  missingSecret(names: readonly string[]): string | null;
}

const decoder = new TextDecoder();

/** `text` cut to at most `maxBytes` UTF-8 bytes on a character boundary, and the bytes left out. */
export function cutText(text: string, maxBytes: number): { kept: string; more: number } {
  const bytes = Buffer.from(text, 'utf8');
  const kept = cutUtf8(bytes, maxBytes);
  return { kept: decoder.decode(kept), more: bytes.length - kept.length };
}

/**
 * The command as it may be recorded and shown: every argument and the cwd through the task's
 * masker (each one a stream of its own: a value split across two arguments is not joined),
 * then cut at {@link COMMAND_LIMITS}; once the total is spent the rest is counted.
 *
 * @param source - the vault (secrets of the task it holds; a missing one has no value to hide)
 * @param names - the task's secret names
 * @param request - argv and cwd as the caller sent them
 * @returns masked, bounded argv and cwd with the counts of what was left out
 * @throws IpcError `LOCKED` when the vault locked meanwhile.
 */
export function recordedCommand(
  source: SecretSource,
  names: readonly string[],
  request: { readonly argv: readonly string[]; readonly cwd: string },
): AuditCommand {
  const [masker] = maskersFor(source, names, 1);
  try {
    return maskedCommand(masker ?? null, request);
  } finally {
    masker?.dispose();
  }
}

/**
 * `count` maskers of the task's secrets (those the vault holds) sharing one table: an exec
 * needs three (stdout, stderr, its command), built once. None when there is nothing to mask.
 * @throws IpcError `LOCKED` when the vault locked meanwhile.
 */
export function maskersFor(source: SecretSource, names: readonly string[], count: number): Masker[] {
  const secrets = source.secretsFor(names.filter((name) => source.missingSecret([name]) === null));
  try {
    return secrets.length === 0 ? [] : createMaskers(secrets, count);
  } finally {
    // The maskers keep their own copies.
    for (const secret of secrets) secret.value.wipe();
  }
}

/**
 * {@link recordedCommand} with a masker the caller owns (not disposed here; flushed after each
 * argument, so it is ready for another stream afterwards), or null when the task has no value.
 */
export function maskedCommand(
  masker: Masker | null,
  request: { readonly argv: readonly string[]; readonly cwd: string },
): AuditCommand {
  // Decoded before it is cut: a tag may have replaced part of a character, and the cut must
  // count the bytes of the text that is written, U+FFFD included.
  const masked = (text: string): string => {
    if (masker === null) return text;
    const raw = Buffer.from(text, 'utf8');
    try {
      return decoder.decode(Buffer.concat([masker.push(raw), masker.flush()]));
    } finally {
      raw.fill(0); // it may hold a value the agent pasted
    }
  };
  const argv: string[] = [];
  const argvMore: number[] = [];
  let budget = COMMAND_LIMITS.maxArgvBytes;
  for (const arg of request.argv) {
    if (budget === 0 || argv.length === COMMAND_LIMITS.maxArgs) break;
    const { kept, more } = cutText(masked(arg), Math.min(COMMAND_LIMITS.maxArgBytes, budget));
    argv.push(kept);
    argvMore.push(more);
    budget -= Buffer.byteLength(kept);
  }
  const cwd = cutText(masked(request.cwd), COMMAND_LIMITS.maxCwdBytes);
  return {
    argv,
    argvMore,
    argvOmitted: request.argv.length - argv.length,
    cwd: cwd.kept,
    cwdMore: cwd.more,
  };
}
