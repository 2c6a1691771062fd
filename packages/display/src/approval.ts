// SPDX-License-Identifier: AGPL-3.0-only
import { checkMax, quoteCut, shellQuote, visible } from './text.ts';

/**
 * What an approver is shown of one request waiting for a human (architecture §7 "Approvals").
 * A plain structural type: `@cora/ipc`'s `ApprovalInfo` is one. Every string came from the
 * process that asked (argv, cwd, its environment) or from `/proc` (exe names an agent chose),
 * so every string is untrusted.
 */
export interface ApprovalFields {
  // In the order the lines are shown.
  /** The task asked for. */
  readonly task: string;
  /** The command line as the caller sent it (argv[0] as typed), possibly cut by the sender. */
  readonly argv: readonly string[];
  /** Bytes the sender left out of each `argv` item (`more` of a value, as for `env`). */
  readonly argvMore?: readonly number[];
  /** Arguments the sender left out after the last one in `argv`. */
  readonly argvOmitted?: number;
  /** The resolved target binary that would run. */
  readonly target: string;
  /** The child's working directory (the caller's). */
  readonly cwd: string;
  /** Bytes the sender left out of `cwd`. */
  readonly cwdMore?: number;
  /** The process that asked; `script` when it is an interpreter running one (weaker evidence). */
  readonly caller: { readonly pid: number; readonly exe: string; readonly script: string | null };
  /** Parent first. */
  readonly ancestry: readonly { readonly pid: number; readonly exe: string }[];
  /** Names of the secrets the task would inject (never values). */
  readonly secrets: readonly string[];
  /**
   * The caller's variables the child would get (the base names and the task's `env_pass`),
   * each possibly shortened by the sender (`more`: bytes it left out).
   */
  readonly env?: readonly { readonly name: string; readonly value: string; readonly more: number }[];
  /** Variables the sender left out of `env` (over its count limit). */
  readonly envOmitted?: number;
  /** Files known to steer common targets, found in the child's HOME (`home`) or cwd (`cwd`). */
  readonly files?: readonly {
    readonly where: 'home' | 'cwd';
    readonly path: string;
    readonly modified: string;
  }[];
  /** How the task confines the child, in words; empty: not confined (absent: not known). */
  readonly confine?: readonly string[];
  /** The task's output mode; `passthrough` (not masked) gets an `output` line. */
  readonly output?: 'masked' | 'passthrough';
}

/** One line of an approval request: a short fixed label and the value made safe to show. */
export interface DisplayLine {
  /** `task`, `command`, `target`, `cwd`, `caller`, `ancestry`, `secrets`, `child`, `output`, `env`, `files` or `file`. */
  readonly label: string;
  /** Printable text: no control, bidi or zero-width character, arguments shell-quoted. */
  readonly value: string;
}

/** How much of an approval request to show. */
export interface ApprovalLinesOptions {
  /** Most UTF-8 bytes of each argument, path or value shown; the rest is counted. Default 256. */
  readonly maxBytes?: number;
  /** Most bytes of the quoted command line; the arguments past it are counted. Default 2048. */
  readonly maxCommandBytes?: number;
  /** Most ancestors shown; the rest are counted. Default 8. */
  readonly maxAncestors?: number;
  /** Now, in ms since the epoch, for the age of the files shown. Default `Date.now()`. */
  readonly now?: number;
}

/**
 * "14 min", "2 h 5 min", "40 s": a span of time for people, rounded to what matters at its size.
 *
 * @param ms - the span in milliseconds (the sign is ignored)
 * @returns the span in words
 * @example
 * ```ts
 * span(14 * 60_000); // '14 min'
 * ```
 */
export function span(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return `${String(s)} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `${String(min)} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${String(h)} h ${String(min % 60)} min`;
  return `${String(Math.round(h / 24))} days`;
}

/**
 * The arguments quoted within `budget` bytes of output; those past it, and those the sender
 * left out, are counted, not shown (the bytes only when all of them are known).
 */
function commandLine(info: ApprovalFields, maxBytes: number, budget: number): string {
  const { argv } = info;
  const more = (i: number): number => info.argvMore?.[i] ?? 0;
  const omitted = info.argvOmitted ?? 0;
  const shown: string[] = [];
  let used = 0;
  let cut = argv.length;
  for (const [i, arg] of argv.entries()) {
    const quoted = quoteCut(arg, maxBytes, more(i));
    if (shown.length > 0 && used + quoted.length + 1 > budget) {
      cut = i;
      break;
    }
    shown.push(quoted);
    used += quoted.length + 1;
  }
  const count = argv.length - cut + omitted;
  if (count > 0) {
    const rest = argv.slice(cut);
    const bytes = rest.reduce((sum, a, i) => sum + Buffer.byteLength(a) + more(cut + i), 0);
    shown.push(
      omitted === 0
        ? `…(${String(count)} more arguments, ${String(bytes)} bytes)`
        : `…(${String(count)} more arguments)`,
    );
  }
  return shown.join(' ');
}

function age(iso: string, now: number): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return `modified ${visible(iso, { maxBytes: 64 })}`;
  return at <= now ? `modified ${span(now - at)} ago` : `modified in ${span(at - now)} (clock ahead)`;
}

/**
 * The lines an approver reads for one request, the same in `cr approve` and the TUI: task,
 * command (each argument shell-quoted, so `'a b'` and `a b` and empty arguments differ), the
 * target that runs, cwd, caller, ancestry, secret names, the environment the child gets from
 * the caller, and the files that steer common targets. Every value goes through
 * {@link visible} or {@link shellQuote}: control, C1, bidi and zero-width characters are shown
 * as escapes, long values are cut with "…(N more bytes)".
 *
 * @param info - the request (untrusted strings)
 * @param options - {@link ApprovalLinesOptions}
 * @returns label/value lines, in the order to show them
 * @throws RangeError when a `max…` option is not a non-negative integer
 * @example
 * ```ts
 * function show(info: ApprovalFields): void {
 *   for (const line of approvalLines(info)) console.log(`${line.label.padEnd(9)} ${line.value}`);
 * }
 * ```
 */
export function approvalLines(info: ApprovalFields, options: ApprovalLinesOptions = {}): DisplayLine[] {
  const maxBytes = checkMax({ maxBytes: options.maxBytes ?? 256 });
  const budget = checkMax({ maxBytes: options.maxCommandBytes ?? 2048 });
  const maxAncestors = checkMax({ maxBytes: options.maxAncestors ?? 8 });
  const now = options.now ?? Date.now();
  const path = (p: string): string => shellQuote(p, { maxBytes });
  const script = info.caller.script === null ? '' : ` script ${path(info.caller.script)} (weaker evidence)`;
  const ancestors = info.ancestry.slice(0, maxAncestors).map((a) => `${String(a.pid)} ${path(a.exe)}`);
  const hidden = info.ancestry.length - ancestors.length;
  if (hidden > 0) ancestors.push(`…(${String(hidden)} more)`);
  const lines: DisplayLine[] = [
    { label: 'task', value: visible(info.task, { maxBytes }) },
    { label: 'command', value: commandLine(info, maxBytes, budget) },
    { label: 'target', value: path(info.target) },
    { label: 'cwd', value: quoteCut(info.cwd, maxBytes, info.cwdMore ?? 0) },
    { label: 'caller', value: `pid ${String(info.caller.pid)} ${path(info.caller.exe)}${script}` },
    { label: 'ancestry', value: ancestors.length === 0 ? '(none)' : ancestors.join(' ← ') },
    {
      label: 'secrets',
      value:
        info.secrets.length === 0 ? '(none)' : info.secrets.map((s) => visible(s, { maxBytes })).join(', '),
    },
  ];
  if (info.confine !== undefined) {
    if (info.confine.length === 0) {
      lines.push({ label: 'child', value: 'not confined: it writes, connects and reads HOME as you can' });
    }
    for (const line of info.confine) lines.push({ label: 'child', value: visible(line, { maxBytes }) });
  }
  if (info.output === 'passthrough') {
    lines.push({
      label: 'output',
      value: 'NOT masked (passthrough): values the child prints reach the caller',
    });
  }
  if (info.env !== undefined) {
    if (info.env.length === 0) lines.push({ label: 'env', value: '(nothing from the caller)' });
    for (const v of info.env) {
      lines.push({
        label: 'env',
        value: `${visible(v.name, { maxBytes })}=${quoteCut(v.value, maxBytes, v.more)}`,
      });
    }
    const omitted = info.envOmitted ?? 0;
    if (omitted > 0) lines.push({ label: 'env', value: `…(${String(omitted)} more variables)` });
  }
  if (info.files !== undefined) {
    if (info.files.length === 0) {
      lines.push({ label: 'files', value: 'none of the files known to steer a target (HOME, cwd)' });
    }
    for (const f of info.files) {
      const where = f.where === 'home' ? '~/' : './';
      lines.push({
        label: 'file',
        value: `present: ${where}${visible(f.path, { maxBytes })} (${age(f.modified, now)})`,
      });
    }
  }
  return lines;
}
