// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr verify --pid PID [--json]`: what the service would decide for a process as a caller,
 * asked of the unlocked service (the policy is in the vault), which reads the process the way
 * it reads a caller at connect (architecture §6) and runs nothing. A pid names a process only
 * for a moment: the answer says which one (its start time), and the service checks again at
 * connect.
 */
import { visible } from '@cora/display';
import type { PolicyVerifyGate, PolicyVerifyResult } from '@cora/ipc';
import { CrError } from '../../shared/errors.ts';
import { coraHome } from '../../shared/paths.ts';
import { withRunningService } from '../client.ts';
import { out, printJson } from '../output.ts';

export interface VerifyOptions {
  pid?: string;
  json?: boolean;
}

/** Linux's PID_MAX_LIMIT: no pid is larger. */
const MAX_PID = 4_194_304;

/**
 * `--pid`: a process id, 1 to 4194304, in decimal digits only.
 * @param value - the option's text
 * @returns the pid
 * @throws CrError `USAGE` for anything else (0, negative, not a number)
 */
function parsePid(value: string): number {
  const pid = /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!(pid >= 1 && pid <= MAX_PID)) {
    throw new CrError('USAGE', `--pid takes a process id from 1 to ${String(MAX_PID)}, got '${value}'`);
  }
  return pid;
}

/** What the answer is worth, said with every answer. */
function caveat(result: PolicyVerifyResult): string {
  const { pid, startTime } = result.process;
  return `a pid names a process only for a moment: this is about the process that held pid ${String(pid)} just now (start time ${startTime}); if it exits, another may get the pid, and the service identifies every caller again when it connects`;
}

function mark(ok: boolean): string {
  return ok ? '✓' : '✗';
}

function gate(name: string, answer: PolicyVerifyGate): string {
  const verdict = answer.allowed ? 'allowed' : `refused (${answer.reason})`;
  return `  ${name.padEnd(9)} ${verdict}: ${visible(answer.detail)}`;
}

function print(result: PolicyVerifyResult): void {
  const p = result.process;
  out(
    `pid ${String(p.pid)} (uid ${String(p.uid)}, start time ${p.startTime}${p.pinned ? ', pinned by a pidfd' : ''})`,
  );
  out(`  exe       ${visible(p.exe)}`);
  if (p.exeSha256 !== null) out(`  sha256    ${p.exeSha256}`);
  if (p.script !== null) out(`  script    ${visible(p.script)} (weaker evidence: an interpreter's argument)`);
  const chain = p.ancestry.map((a) => `${String(a.pid)} ${a.exe === null ? '?' : visible(a.exe)}`);
  out(`  ancestry  ${chain.length === 0 ? '(none readable)' : chain.join(' ← ')}`);
  out(`  cr        ${result.cli.match ? 'yes' : 'no'}: ${result.cli.detail}`);
  for (const list of ['callers', 'status_callers'] as const) {
    const rules = result.rules.filter((rule) => rule.list === list);
    if (rules.length === 0) continue;
    out(list);
    for (const rule of rules) {
      const pin = rule.pin === null ? '' : rule.pin ? ' (pin matches)' : ' (pin differs)';
      out(
        `  ${mark(rule.match)} ${visible(rule.exe)}${rule.script === null ? '' : ` --script ${visible(rule.script)}`}${pin}: ${visible(rule.detail)}`,
      );
    }
  }
  if (result.rules.length === 0) out('callers: none (only the cr CLI may call)');
  out('decision');
  out(gate('requests', result.requests));
  out(gate('status', result.status));
  if (result.tasks.length > 0) out('tasks (via)');
  for (const task of result.tasks) out(`  ${mark(task.via)} ${visible(task.task)}: ${visible(task.detail)}`);
  out(`note: ${caveat(result)}`);
}

/**
 * Print what the service would decide for `--pid`.
 * @param options - `pid` as typed (checked by {@link parsePid}), `json`
 * @throws CrError `USAGE` (no pid, or not one), `LOCKED` (no unlocked service), `NOT_FOUND`
 *   (no such process), `INVALID_INPUT` (a process the service cannot read)
 */
export async function cmdVerify(options: VerifyOptions): Promise<void> {
  if (options.pid === undefined) throw new CrError('USAGE', 'name the process: cr verify --pid PID');
  const pid = parsePid(options.pid);
  const result = await withRunningService(
    coraHome(),
    (service) => service.verifyPid(pid),
    'the policy is inside the vault: run cr unlock, then verify again',
  );
  if (options.json === true) printJson({ ...result, note: caveat(result) });
  else print(result);
}
