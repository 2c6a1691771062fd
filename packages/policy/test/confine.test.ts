// SPDX-License-Identifier: AGPL-3.0-only
// A task's confinement of its child (home, write, connect, detached): the schema refuses bad
// values with their path, old policies load unchanged, and evaluate refuses a task the kernel
// cannot confine rather than run it unconfined.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeConfinement,
  evaluate,
  explain,
  landlockAbiNeeded,
  parsePolicy,
  serializePolicy,
  type EvaluationRequest,
  type Task,
} from '../src/index.ts';
import { caller, context, CURL } from './helpers.ts';

function policyWith(fields: Record<string, unknown>): unknown {
  return { version: 1, callers: [], tasks: { web: { secrets: ['API_KEY'], targets: [CURL], ...fields } } };
}

function errorOf(fn: () => unknown): Error & { code?: string; path?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string; path?: string };
  }
  throw new Error('expected a throw');
}

// The CLI passes the caller step; these tests are about the steps after it.
const request: EvaluationRequest = {
  caller: caller('/usr/local/bin/cr'),
  task: 'web',
  target: { requested: 'curl', resolved: CURL },
};

describe('task confinement schema', () => {
  it('should load a policy written before the fields existed, and write it back without them', () => {
    const old = policyWith({});
    const policy = parsePolicy(old);
    const task = policy.tasks['web'] as Task;
    expect(task.home).toBeUndefined();
    expect(Object.keys(serializePolicy(policy) as { tasks: { web: object } }).length).toBe(3);
    expect(Object.keys((serializePolicy(policy) as { tasks: { web: object } }).tasks.web)).toEqual([
      'secrets',
      'targets',
      'approve',
      'output',
    ]);
  });

  it('should keep every field through serialize and parse, lists sorted', () => {
    const policy = parsePolicy(
      policyWith({ home: 'clean', write: ['/tmp/b', '/tmp/a'], connect: [443, 80], detached: 'kill' }),
    );
    const task = policy.tasks['web'] as Task;
    expect(task.write).toEqual(['/tmp/a', '/tmp/b']);
    expect(task.connect).toEqual([80, 443]);
    expect(parsePolicy(serializePolicy(policy))).toEqual(policy);
  });

  it('should refuse bad values, naming the path', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ home: 'dirty' }, 'tasks.web.home', /must be clean/],
      [{ home: true }, 'tasks.web.home', /must be clean/],
      [{ write: ['relative/dir'] }, 'tasks.web.write[0]', /absolute/],
      [{ write: ['/tmp/../etc'] }, 'tasks.web.write[0]', /normalized/],
      [{ write: ['/'] }, 'tasks.web.write[0]', /must not be \//],
      [{ write: '/tmp' }, 'tasks.web.write', /must be/],
      [{ write: ['/tmp', '/tmp'] }, 'tasks.web.write[1]', /duplicate/],
      [{ connect: [0] }, 'tasks.web.connect[0]', /TCP port/],
      [{ connect: [70000] }, 'tasks.web.connect[0]', /TCP port/],
      [{ connect: [44.5] }, 'tasks.web.connect[0]', /TCP port/],
      [{ connect: ['443'] }, 'tasks.web.connect[0]', /number/],
      [{ connect: [443, 443] }, 'tasks.web.connect[1]', /duplicate/],
      [{ detached: 'keep' }, 'tasks.web.detached', /must be kill/],
      [{ write: Array.from({ length: 65 }, (_, i) => `/d${String(i)}`) }, 'tasks.web.write', /./],
    ];
    for (const [fields, path, message] of cases) {
      const error = errorOf(() => parsePolicy(policyWith(fields)));
      expect(error.code, JSON.stringify(fields)).toBe('INVALID_POLICY');
      expect(error.path, JSON.stringify(fields)).toBe(path);
      expect(error.message, JSON.stringify(fields)).toMatch(message);
    }
  });

  it('should accept every port from 1 to 65535 and nothing outside', () => {
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), (port) => {
        const ok = port >= 1 && port <= 65535;
        const parsed = (() => {
          try {
            parsePolicy(policyWith({ connect: [port] }));
            return true;
          } catch {
            return false;
          }
        })();
        return parsed === ok;
      }),
    );
  });
});

describe('confinement in evaluate', () => {
  const allow = (fields: Record<string, unknown>, abi: number | undefined) =>
    evaluate(
      parsePolicy(policyWith(fields)),
      request,
      abi === undefined ? context({ isCli: true }) : context({ isCli: true, landlockAbi: abi }),
    );

  it('should say which ABI each field needs', () => {
    expect(landlockAbiNeeded({})).toBe(0);
    expect(landlockAbiNeeded({ home: 'clean', detached: 'kill' })).toBe(0);
    expect(landlockAbiNeeded({ write: [] })).toBe(3);
    expect(landlockAbiNeeded({ connect: [443] })).toBe(4);
    expect(landlockAbiNeeded({ write: ['/tmp'], connect: [] })).toBe(4);
  });

  it('should refuse a confined task on a kernel without the ABI, and when the ABI was not given', () => {
    const write = allow({ write: ['/tmp'] }, 2);
    expect(write.outcome).toBe('deny');
    expect(write.reason).toBe('CONFINE_UNSUPPORTED');
    expect(write.message).toMatch(
      /needs Landlock ABI 3; this kernel has ABI 2, so it is refused rather than run unconfined/,
    );
    expect(allow({ connect: [443] }, 3).reason).toBe('CONFINE_UNSUPPORTED');
    expect(allow({ connect: [443] }, 0).message).toMatch(/this kernel has no Landlock/);
    expect(allow({ write: [] }, undefined).message).toMatch(/the kernel was not asked/);
  });

  it('should allow it where the kernel can confine, and a clean HOME anywhere', () => {
    expect(allow({ write: ['/tmp'], connect: [443] }, 4).outcome).toBe('allow');
    expect(allow({ home: 'clean', detached: 'kill' }, undefined).outcome).toBe('allow');
    expect(allow({}, undefined).outcome).toBe('allow');
  });

  it('should show the confinement in explain, before the approval step', () => {
    const lines = explain(
      parsePolicy(policyWith({ home: 'clean', write: ['/tmp/out'], connect: [443], approve: 'once' })),
      request,
      context({ isCli: true, landlockAbi: 7, grants: () => false }),
    );
    const confine = lines.findIndex((line) =>
      line.startsWith('✓ confine: the child is confined: clean HOME'),
    );
    expect(confine).toBeGreaterThan(0);
    expect(lines[confine]).toContain('writes only in /tmp/out');
    expect(lines[confine]).toContain('connects only to TCP ports 443');
    expect(lines[confine + 1]).toMatch(/^✗ approval:/);
    expect(explain(parsePolicy(policyWith({})), request, context({ isCli: true }))).toContain(
      '✓ confine: the child is not confined',
    );
  });

  it('should describe each field for people', () => {
    expect(describeConfinement({})).toEqual([]);
    expect(describeConfinement({ write: [], connect: [] })).toEqual([
      'writes nowhere (only its clean HOME and devices; everything else read-only)',
      'connects to no TCP port (UDP and Unix sockets are not restricted)',
    ]);
    expect(describeConfinement({ detached: 'kill' })[0]).toMatch(/killed when it exits/);
  });
});
