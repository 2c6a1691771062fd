// SPDX-License-Identifier: AGPL-3.0-only
/**
 * A task's confinement of its child (architecture §7, §8; issue 13 item 2): a clean HOME,
 * the directories it may write, the TCP ports it may connect to, and whether detached
 * descendants die with it. Optional fields: a policy without them loads and serializes as
 * before (POLICY_VERSION stays 1); a policy that uses them is refused by older releases,
 * whose schema refuses unknown keys.
 */
import * as v from 'valibot';
import { isAbsolutePath } from './internal/names.ts';

/** The confinement fields of a task; each is optional and absent means "not confined that way". */
export interface TaskConfinement {
  /** `clean`: the child's HOME is a fresh private empty directory, removed after it exits. */
  readonly home?: 'clean';
  /**
   * The only directories the child may write (Landlock); everything else is read-only.
   * `[]` writes nowhere (but the clean HOME and devices such as `/dev/null`).
   */
  readonly write?: readonly string[];
  /** The only TCP ports the child may connect to (Landlock ABI ≥ 4); `[]` connects nowhere. */
  readonly connect?: readonly number[];
  /** `kill`: when the child exits, the processes it left behind, detached ones included, are killed. */
  readonly detached?: 'kill';
}

/** Limits of the confinement lists (the JSON section has a budget, architecture §4). */
const CONFINE_LIMITS = Object.freeze({ writePerTask: 64, connectPerTask: 64 });

/** Landlock ABI the filesystem rules need: 3 handles truncation, so no file outside `write` can be emptied. */
const FS_ABI = 3;
/** Landlock ABI of the TCP bind/connect rules. */
const NET_ABI = 4;

/** valibot entries spread into the task schema. */
export const CONFINE_FIELDS = {
  home: v.exactOptional(v.literal('clean', 'must be clean (or left out)')),
  write: v.exactOptional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.check(isAbsolutePath, 'must be a normalized absolute path'),
          v.check((path) => path !== '/', 'must not be / (leave write out to leave writes unconfined)'),
        ),
      ),
      v.maxLength(CONFINE_LIMITS.writePerTask),
    ),
  ),
  connect: v.exactOptional(
    v.pipe(
      v.array(
        v.pipe(
          v.number(),
          v.integer('must be a TCP port (an integer 1 to 65535)'),
          v.minValue(1, 'must be a TCP port (an integer 1 to 65535)'),
          v.maxValue(65535, 'must be a TCP port (an integer 1 to 65535)'),
        ),
      ),
      v.maxLength(CONFINE_LIMITS.connectPerTask),
    ),
  ),
  detached: v.exactOptional(v.literal('kill', 'must be kill (or left out)')),
} as const;

/** The confinement fields of `task` in the stored order, lists sorted (a copy for `normalize`). */
export function confinementFields(task: TaskConfinement): TaskConfinement {
  return {
    ...(task.home === undefined ? {} : { home: task.home }),
    ...(task.write === undefined ? {} : { write: Object.freeze([...task.write].sort()) }),
    ...(task.connect === undefined
      ? {}
      : { connect: Object.freeze([...task.connect].sort((a, b) => a - b)) }),
    ...(task.detached === undefined ? {} : { detached: task.detached }),
  };
}

/**
 * The Landlock ABI the child's confinement needs: 0 when the task sets neither `write` nor
 * `connect` (a clean HOME and `detached` need no Landlock), 3 for `write`, 4 for `connect`.
 *
 * @param task - a task of a parsed policy
 * @returns the minimum ABI, or 0
 * @example
 * ```ts
 * landlockAbiNeeded({ write: ['/tmp/out'] }); // 3
 * ```
 */
export function landlockAbiNeeded(task: TaskConfinement): number {
  if (task.connect !== undefined) return NET_ABI;
  return task.write === undefined ? 0 : FS_ABI;
}

/**
 * What the confinement does, one line each, for people (`cr policy show`, `explain`, the
 * approver): empty when the task confines nothing.
 *
 * @param task - a task of a parsed policy
 * @returns lines such as `writes only in /tmp/out` and `connects only to TCP ports 443`
 */
export function describeConfinement(task: TaskConfinement): string[] {
  const lines: string[] = [];
  if (task.home === 'clean') {
    lines.push('clean HOME: a fresh empty private directory (files in your HOME do not steer it)');
  }
  if (task.write !== undefined) {
    lines.push(
      task.write.length === 0
        ? 'writes nowhere (only its clean HOME and devices; everything else read-only)'
        : `writes only in ${task.write.join(', ')} (everything else read-only)`,
    );
  }
  if (task.connect !== undefined) {
    lines.push(
      task.connect.length === 0
        ? 'connects to no TCP port (UDP and Unix sockets are not restricted)'
        : `connects only to TCP ports ${task.connect.join(', ')} (UDP and Unix sockets are not restricted)`,
    );
  }
  if (task.detached === 'kill')
    lines.push('what it leaves running, detached or not, is killed when it exits');
  return lines;
}
