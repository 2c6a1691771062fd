// SPDX-License-Identifier: AGPL-3.0-only
// Target pins (`target_sha256`, mirroring a caller rule's `sha256`) and replaceTask.
import { describe, expect, it } from 'vitest';
import {
  addTask,
  emptyPolicy,
  evaluate,
  explain,
  isPolicyError,
  parsePolicy,
  replaceTask,
  serializePolicy,
  type EvaluationRequest,
  type Policy,
} from '../src/index.ts';
import { caller, context, CURL, HEX_A, HEX_B } from './helpers.ts';

const WGET = '/usr/bin/wget';

function errorOf(fn: () => unknown): Error & { code?: string; path?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string; path?: string };
  }
  throw new Error('expected a throw');
}

const pinned: Policy = parsePolicy({
  version: 1,
  callers: [],
  tasks: {
    web: { secrets: ['API_KEY'], targets: [CURL, WGET], target_sha256: { [CURL]: HEX_A } },
  },
});

function request(resolved: string, sha256?: string): EvaluationRequest {
  return {
    caller: caller('/opt/agent/bin/agent'),
    task: 'web',
    target:
      sha256 === undefined ? { requested: resolved, resolved } : { requested: resolved, resolved, sha256 },
  };
}

const cli = context({ isCli: true });

describe('target_sha256 (schema)', () => {
  it('should accept pins of listed targets and keep them through serialize', () => {
    expect(pinned.tasks['web']?.target_sha256).toEqual({ [CURL]: HEX_A });
    expect(parsePolicy(serializePolicy(pinned))).toEqual(pinned);
    expect(Object.isFrozen(pinned.tasks['web']?.target_sha256)).toBe(true);
  });

  it('should refuse a pin of a path that is not a target, naming it', () => {
    const error = errorOf(() =>
      parsePolicy({
        version: 1,
        callers: [],
        tasks: { web: { secrets: ['K'], targets: [CURL], target_sha256: { [WGET]: HEX_A } } },
      }),
    );
    expect(isPolicyError(error, 'INVALID_POLICY')).toBe(true);
    expect(error.message).toContain('not in targets');
    expect(error.path).toBe('tasks.web.target_sha256["/usr/bin/wget"]');
  });

  it('should refuse a pin that is not 64 lower-case hex digits, or a relative key', () => {
    for (const target_sha256 of [{ [CURL]: 'A'.repeat(64) }, { [CURL]: 'a'.repeat(63) }, { curl: HEX_A }]) {
      const error = errorOf(() =>
        parsePolicy({
          version: 1,
          callers: [],
          tasks: { web: { secrets: ['K'], targets: [CURL], target_sha256 } },
        }),
      );
      expect(isPolicyError(error, 'INVALID_POLICY')).toBe(true);
      expect(error.path).toMatch(/^tasks\.web\.target_sha256/);
    }
  });
});

describe('evaluate with a pinned target', () => {
  it('should allow when the hash matches the pin, and say so', () => {
    expect(evaluate(pinned, request(CURL, HEX_A), cli)).toMatchObject({
      outcome: 'allow',
      reason: 'ALLOWED',
    });
    expect(explain(pinned, request(CURL, HEX_A), cli).join('\n')).toContain('(pin matches)');
  });

  it('should refuse a changed file with TARGET_PIN_MISMATCH, naming the path and both short hashes', () => {
    const decision = evaluate(pinned, request(CURL, HEX_B), cli);
    expect(decision).toMatchObject({ outcome: 'deny', reason: 'TARGET_PIN_MISMATCH' });
    expect(decision.message).toContain(CURL);
    expect(decision.message).toContain('b'.repeat(12));
    expect(decision.message).toContain('a'.repeat(12));
    expect(decision.message).not.toContain('a'.repeat(13));
  });

  it('should refuse a pinned target whose hash was not computed', () => {
    expect(evaluate(pinned, request(CURL), cli)).toMatchObject({
      outcome: 'deny',
      reason: 'TARGET_HASH_UNAVAILABLE',
    });
  });

  it('should not ask for a hash of an unpinned target of the same task', () => {
    expect(evaluate(pinned, request(WGET), cli)).toMatchObject({ outcome: 'allow' });
  });

  it('should check the pin of the entry a realpath matched', () => {
    const viaLink = parsePolicy({
      version: 1,
      callers: [],
      tasks: {
        web: { secrets: ['K'], targets: ['/usr/bin/link'], target_sha256: { '/usr/bin/link': HEX_A } },
      },
    });
    const ctx = context({ isCli: true, targetRealpaths: new Map([['/usr/bin/link', CURL]]) });
    expect(evaluate(viaLink, request(CURL, HEX_B), ctx).reason).toBe('TARGET_PIN_MISMATCH');
    expect(evaluate(viaLink, request(CURL, HEX_A), ctx).reason).toBe('ALLOWED');
  });

  it('should point a refused target at cr policy task edit with every target', () => {
    const decision = evaluate(pinned, request('/usr/bin/httpie'), cli);
    expect(decision.reason).toBe('TARGET_NOT_ALLOWED');
    expect(decision.message).toContain(
      `cr policy task edit web --target ${CURL} --target ${WGET} --target /usr/bin/httpie`,
    );
  });
});

describe('replaceTask / addTask of an existing name', () => {
  const base = addTask(emptyPolicy(), 'web', { secrets: ['K'], targets: [CURL], approve: 'once', ttl: '1h' });

  it('should replace the whole task, leaving out what the new one leaves out', () => {
    const next = replaceTask(base, 'web', { secrets: ['K', 'L'], targets: [WGET] });
    expect(next.tasks['web']).toEqual({
      secrets: ['K', 'L'],
      targets: [WGET],
      approve: 'never',
      output: 'masked',
    });
    expect(base.tasks['web']?.approve).toBe('once');
  });

  it('should throw UNKNOWN_TASK for a task that does not exist (also Object.prototype names)', () => {
    for (const name of ['nope', 'toString']) {
      expect(
        isPolicyError(
          errorOf(() => replaceTask(base, name, { secrets: ['K'], targets: [] })),
          'UNKNOWN_TASK',
        ),
      ).toBe(true);
    }
  });

  it('should validate the new task with its path', () => {
    const error = errorOf(() => replaceTask(base, 'web', { secrets: ['K'], targets: ['curl'] }));
    expect(error.path).toBe('tasks.web.targets[0]');
  });

  it('should make addTask of an existing name point to task edit and --replace', () => {
    const error = errorOf(() => addTask(base, 'web', { secrets: ['K'], targets: [CURL] }));
    expect(isPolicyError(error, 'TASK_EXISTS')).toBe(true);
    expect(error.message).toContain('cr policy task edit web');
    expect(error.message).toContain('--replace');
  });
});
