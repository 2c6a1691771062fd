// SPDX-License-Identifier: AGPL-3.0-only
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addTask,
  allowCaller,
  denyCaller,
  emptyPolicy,
  formatCallerSpec,
  isInterpreter,
  isPolicyError,
  parseCallerSpec,
  parseDuration,
  parsePolicy,
  PolicyError,
  removeTask,
  serializePolicy,
  type Policy,
} from '../src/index.ts';

const HEX = 'c'.repeat(64);
const base = { version: 1, callers: [], tasks: {} };
const task = { secrets: ['TOKEN'], targets: ['/usr/bin/curl'] };

function errorOf(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PolicyError) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('parsePolicy', () => {
  it('should accept a full policy and fill the defaults', () => {
    const p = parsePolicy({
      version: 1,
      callers: [
        { exe: '/opt/a', sha256: HEX, uid: 1000 },
        { exe: '/usr/bin/node', script: '/home/u/a.js' },
      ],
      tasks: {
        deploy: {
          secrets: ['TOKEN', 'OTHER'],
          targets: ['/usr/bin/curl'],
          via: ['/opt/a'],
          approve: 'window:15m',
          max_spawns: 3,
          window_ms: 60_000,
          ttl: '8h',
          env_pass: ['HTTPS_PROXY'],
          output: 'passthrough',
        },
        plain: task,
      },
      status_callers: [{ exe: '/usr/bin/waybar' }],
    });
    expect(p.tasks['plain']).toEqual({ ...task, approve: 'never', output: 'masked' });
    expect(p.tasks['deploy']?.approve).toBe('window:15m');
    expect(Object.isFrozen(p) && Object.isFrozen(p.tasks) && Object.isFrozen(p.callers[0])).toBe(true);
  });

  const BAD: readonly [string, unknown, string][] = [
    ['not an object', null, ''],
    ['array root', [], ''],
    ['unknown top-level key', { ...base, extra: 1 }, 'extra'],
    ['missing version', { callers: [], tasks: {} }, 'version'],
    ['version 2', { ...base, version: 2 }, 'version'],
    ['missing callers', { version: 1, tasks: {} }, 'callers'],
    ['relative caller exe', { ...base, callers: [{ exe: 'agent' }] }, 'callers[0].exe'],
    ['caller exe with ..', { ...base, callers: [{ exe: '/opt/../bin/sh' }] }, 'callers[0].exe'],
    ['caller exe with trailing slash', { ...base, callers: [{ exe: '/opt/a/' }] }, 'callers[0].exe'],
    ['caller exe with //', { ...base, callers: [{ exe: '/opt//a' }] }, 'callers[0].exe'],
    ['caller exe with NUL', { ...base, callers: [{ exe: '/opt/a\0b' }] }, 'callers[0].exe'],
    [
      'upper-case pin',
      { ...base, callers: [{ exe: '/opt/a', sha256: 'C'.repeat(64) }] },
      'callers[0].sha256',
    ],
    ['short pin', { ...base, callers: [{ exe: '/opt/a', sha256: 'c'.repeat(63) }] }, 'callers[0].sha256'],
    [
      'relative script',
      { ...base, callers: [{ exe: '/usr/bin/node', script: 'a.js' }] },
      'callers[0].script',
    ],
    ['negative uid', { ...base, callers: [{ exe: '/opt/a', uid: -1 }] }, 'callers[0].uid'],
    ['unknown caller key', { ...base, callers: [{ exe: '/opt/a', path: '/x' }] }, 'callers[0].path'],
    [
      'duplicate caller',
      { ...base, callers: [{ exe: '/opt/a' }, { exe: '/opt/a', sha256: HEX }] },
      'callers[1]',
    ],
    ['bad task name', { ...base, tasks: { 'a b': task } }, 'tasks["a b"]'],
    [
      '__proto__ task',
      JSON.parse(`{"version":1,"callers":[],"tasks":{"__proto__":${JSON.stringify(task)}}}`),
      'tasks.__proto__',
    ],
    ['no secrets', { ...base, tasks: { d: { ...task, secrets: [] } } }, 'tasks.d.secrets'],
    ['bad secret name', { ...base, tasks: { d: { ...task, secrets: ['OK', '9x'] } } }, 'tasks.d.secrets[1]'],
    ['duplicate secret', { ...base, tasks: { d: { ...task, secrets: ['A', 'A'] } } }, 'tasks.d.secrets[1]'],
    ['missing targets', { ...base, tasks: { d: { secrets: ['A'] } } }, 'tasks.d.targets'],
    [
      'relative target',
      { ...base, tasks: { deploy: { ...task, targets: ['/usr/bin/curl', 'curl'] } } },
      'tasks.deploy.targets[1]',
    ],
    ['duplicate target', { ...base, tasks: { d: { ...task, targets: ['/a', '/a'] } } }, 'tasks.d.targets[1]'],
    ['empty via', { ...base, tasks: { d: { ...task, via: [] } } }, 'tasks.d.via'],
    ['relative via', { ...base, tasks: { d: { ...task, via: ['agent'] } } }, 'tasks.d.via[0]'],
    ['bad approve', { ...base, tasks: { d: { ...task, approve: 'always' } } }, 'tasks.d.approve'],
    [
      'bad approve window',
      { ...base, tasks: { d: { ...task, approve: 'window:5 minutes' } } },
      'tasks.d.approve',
    ],
    [
      'max_spawns without window_ms',
      { ...base, tasks: { d: { ...task, max_spawns: 3 } } },
      'tasks.d.max_spawns',
    ],
    [
      'window_ms without max_spawns',
      { ...base, tasks: { d: { ...task, window_ms: 3 } } },
      'tasks.d.window_ms',
    ],
    [
      'zero max_spawns',
      { ...base, tasks: { d: { ...task, max_spawns: 0, window_ms: 1 } } },
      'tasks.d.max_spawns',
    ],
    [
      'fractional window',
      { ...base, tasks: { d: { ...task, max_spawns: 1, window_ms: 1.5 } } },
      'tasks.d.window_ms',
    ],
    ['bad ttl', { ...base, tasks: { d: { ...task, ttl: '10' } } }, 'tasks.d.ttl'],
    ['ttl over a year', { ...base, tasks: { d: { ...task, ttl: '400d' } } }, 'tasks.d.ttl'],
    [
      'hook in env_pass',
      { ...base, tasks: { d: { ...task, env_pass: ['HTTPS_PROXY', 'LD_PRELOAD'] } } },
      'tasks.d.env_pass[1]',
    ],
    [
      'lower-case hook in env_pass',
      { ...base, tasks: { d: { ...task, env_pass: ['node_options'] } } },
      'tasks.d.env_pass[0]',
    ],
    ['bad env_pass name', { ...base, tasks: { d: { ...task, env_pass: ['A=B'] } } }, 'tasks.d.env_pass[0]'],
    ['bad output', { ...base, tasks: { d: { ...task, output: 'raw' } } }, 'tasks.d.output'],
    ['unknown task key', { ...base, tasks: { d: { ...task, secret: ['A'] } } }, 'tasks.d.secret'],
    [
      'string number',
      { ...base, tasks: { d: { ...task, max_spawns: '3', window_ms: 3 } } },
      'tasks.d.max_spawns',
    ],
    ['bad status caller', { ...base, status_callers: [{ exe: 'x' }] }, 'status_callers[0].exe'],
  ];

  it.each(BAD)('should refuse %s, naming the path', (_name, json, path) => {
    const error = errorOf(() => parsePolicy(json));
    expect(isPolicyError(error, 'INVALID_POLICY')).toBe(true);
    expect(error.path).toBe(path);
    if (path !== '') expect(error.message).toContain(`at ${path}:`);
  });

  it('should accept an empty targets list (it refuses every spawn at evaluation)', () => {
    expect(parsePolicy({ ...base, tasks: { d: { ...task, targets: [] } } }).tasks['d']?.targets).toEqual([]);
  });

  it('should accept Windows drive paths', () => {
    expect(parsePolicy({ ...base, callers: [{ exe: 'C:\\Tools\\agent.exe' }] }).callers[0]?.exe).toBe(
      'C:\\Tools\\agent.exe',
    );
  });
});

const SEG = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
const ABS = fc.array(SEG, { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join('/')}`);
const NAME = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/);
const HEXS = fc.stringMatching(/^[0-9a-f]{64}$/);
const DUR = fc
  .tuple(fc.integer({ min: 1, max: 300 }), fc.constantFrom('ms', 's', 'm', 'h', 'd'))
  .map(([n, u]) => `${n}${u}`);
const RULE = fc.record(
  { exe: ABS, sha256: HEXS, script: ABS, uid: fc.integer({ min: 0, max: 65535 }) },
  { requiredKeys: ['exe'] },
);
const TASK = fc
  .record(
    {
      secrets: fc.uniqueArray(NAME, { minLength: 1, maxLength: 5 }),
      targets: fc.uniqueArray(ABS, { maxLength: 4 }),
      via: fc.uniqueArray(ABS, { minLength: 1, maxLength: 3 }),
      approve: fc.oneof(
        fc.constantFrom('never', 'once', 'session'),
        DUR.map((d) => `window:${d}`),
      ),
      rate: fc.tuple(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 86_400_000 })),
      ttl: DUR,
      env_pass: fc.uniqueArray(
        NAME.filter((n) => !n.startsWith('LD_') && !n.startsWith('GIT_') && !n.startsWith('LUA_')),
        { maxLength: 3 },
      ),
      output: fc.constantFrom('masked', 'passthrough'),
    },
    { requiredKeys: ['secrets', 'targets'] },
  )
  .map(({ rate, ...t }) => (rate === undefined ? t : { ...t, max_spawns: rate[0], window_ms: rate[1] }));
const POLICY = fc
  .record(
    {
      callers: fc.uniqueArray(RULE, {
        maxLength: 5,
        selector: (r) => JSON.stringify([r.exe, r.script, r.uid]),
      }),
      tasks: fc.dictionary(fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,10}$/), TASK, { maxKeys: 5 }),
      status_callers: fc.uniqueArray(RULE, {
        maxLength: 2,
        selector: (r) => JSON.stringify([r.exe, r.script, r.uid]),
      }),
    },
    { requiredKeys: ['callers', 'tasks'] },
  )
  .map((p) => ({ version: 1, ...p }));

describe('serializePolicy', () => {
  it('should round-trip generated policies: parse(serialize(p)) equals p', () => {
    fc.assert(
      fc.property(POLICY, (json) => {
        let p: Policy;
        try {
          p = parsePolicy(json);
        } catch (error) {
          // Only the hook-name filter can make a generated policy invalid; nothing else.
          if (isPolicyError(error) && /env_pass/.test(error.path ?? '')) return;
          throw error;
        }
        const text = JSON.stringify(serializePolicy(p));
        const again = parsePolicy(JSON.parse(text));
        expect(again).toEqual(p);
        expect(JSON.stringify(serializePolicy(again))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('should write keys in a stable order and defaults explicitly', () => {
    const p = parsePolicy({
      tasks: { b: { output: 'masked', targets: [], secrets: ['X'] }, a: { targets: ['/t'], secrets: ['Y'] } },
      callers: [{ uid: 1, exe: '/e' }],
      version: 1,
    });
    expect(JSON.stringify(serializePolicy(p))).toBe(
      '{"version":1,"callers":[{"exe":"/e","uid":1}],"tasks":{"a":{"secrets":["Y"],"targets":["/t"],"approve":"never","output":"masked"},"b":{"secrets":["X"],"targets":[],"approve":"never","output":"masked"}}}',
    );
  });

  it('should refuse a hand-built invalid policy', () => {
    const bad = { version: 1, callers: [{ exe: 'rel' }], tasks: {} } as unknown as Policy;
    expect(
      isPolicyError(
        errorOf(() => serializePolicy(bad)),
        'INVALID_POLICY',
      ),
    ).toBe(true);
  });
});

describe('emptyPolicy', () => {
  it('should have no callers and no tasks', () => {
    expect(serializePolicy(emptyPolicy())).toEqual({ version: 1, callers: [], tasks: {} });
  });
});

describe('parseCallerSpec', () => {
  it('should read PATH and PATH@sha256=HEX', () => {
    expect(parseCallerSpec('/opt/a')).toEqual({ exe: '/opt/a' });
    expect(parseCallerSpec(`/opt/a@b@sha256=${'C'.repeat(64)}`)).toEqual({ exe: '/opt/a@b', sha256: HEX });
    expect(formatCallerSpec({ exe: '/opt/a', sha256: HEX })).toBe(`/opt/a@sha256=${HEX}`);
    expect(formatCallerSpec({ exe: '/opt/a' })).toBe('/opt/a');
  });

  it.each(['agent', '/opt/a@sha256=abc', `/opt/a@sha256=${'g'.repeat(64)}`, `rel@sha256=${HEX}`, ''])(
    'should refuse %j with INVALID_CALLER_SPEC',
    (spec) => {
      expect(
        isPolicyError(
          errorOf(() => parseCallerSpec(spec)),
          'INVALID_CALLER_SPEC',
        ),
      ).toBe(true);
    },
  );

  it('should throw TypeError for a non-string', () => {
    expect(() => parseCallerSpec(1 as unknown as string)).toThrow(TypeError);
  });
});

describe('allowCaller / denyCaller', () => {
  it('should add a rule, replace it on re-allow and leave the input untouched', () => {
    const p0 = emptyPolicy();
    const p1 = allowCaller(p0, { exe: '/opt/a' });
    const p2 = allowCaller(p1, { exe: '/opt/a', sha256: HEX });
    expect(p0.callers).toEqual([]);
    expect(p1.callers).toEqual([{ exe: '/opt/a' }]);
    expect(p2.callers).toEqual([{ exe: '/opt/a', sha256: HEX }]);
    expect(allowCaller(p2, { exe: '/opt/b' }, 'status_callers').status_callers).toEqual([{ exe: '/opt/b' }]);
  });

  it('should refuse an interpreter without a script', () => {
    for (const exe of [
      '/usr/bin/node',
      '/usr/bin/python3.12',
      '/bin/sh',
      '/usr/bin/bash',
      '/usr/local/bin/bun',
      '/usr/bin/perl5.38',
    ]) {
      expect(
        isPolicyError(
          errorOf(() => allowCaller(emptyPolicy(), { exe })),
          'INTERPRETER_NEEDS_SCRIPT',
        ),
      ).toBe(true);
    }
    expect(allowCaller(emptyPolicy(), { exe: '/usr/bin/node', script: '/a.js' }).callers).toHaveLength(1);
  });

  it('should refuse an invalid rule with the path', () => {
    const error = errorOf(() => allowCaller(emptyPolicy(), { exe: '/opt/a', sha256: 'x' }));
    expect(error.code).toBe('INVALID_POLICY');
    expect(error.path).toBe('callers[0].sha256');
  });

  it('should remove all rules of an exe, or those of one script', () => {
    let p = allowCaller(emptyPolicy(), { exe: '/usr/bin/node', script: '/a.js' });
    p = allowCaller(p, { exe: '/usr/bin/node', script: '/b.js' });
    p = allowCaller(p, { exe: '/opt/a' });
    expect(denyCaller(p, '/usr/bin/node', { script: '/a.js' }).callers.map((r) => r.script ?? r.exe)).toEqual(
      ['/b.js', '/opt/a'],
    );
    expect(denyCaller(p, '/usr/bin/node').callers).toEqual([{ exe: '/opt/a' }]);
  });

  it('should throw CALLER_NOT_FOUND when nothing matched', () => {
    expect(
      isPolicyError(
        errorOf(() => denyCaller(emptyPolicy(), '/opt/a')),
        'CALLER_NOT_FOUND',
      ),
    ).toBe(true);
  });
});

describe('addTask / removeTask', () => {
  it('should add and remove a task immutably', () => {
    const p0 = emptyPolicy();
    const p1 = addTask(p0, 'deploy', {
      secrets: ['T'],
      targets: ['/usr/bin/curl'],
      max_spawns: 1,
      window_ms: 10,
    });
    expect(p0.tasks).toEqual({});
    expect(p1.tasks['deploy']).toMatchObject({ approve: 'never', output: 'masked', max_spawns: 1 });
    expect(removeTask(p1, 'deploy').tasks).toEqual({});
  });

  it('should throw TASK_EXISTS, UNKNOWN_TASK and INVALID_POLICY with the task path', () => {
    const p1 = addTask(emptyPolicy(), 'deploy', task);
    expect(
      isPolicyError(
        errorOf(() => addTask(p1, 'deploy', task)),
        'TASK_EXISTS',
      ),
    ).toBe(true);
    expect(
      isPolicyError(
        errorOf(() => removeTask(p1, 'nope')),
        'UNKNOWN_TASK',
      ),
    ).toBe(true);
    expect(
      isPolicyError(
        errorOf(() => removeTask(p1, 'toString')),
        'UNKNOWN_TASK',
      ),
    ).toBe(true);
    const bad = errorOf(() => addTask(p1, 'web', { secrets: ['T'], targets: ['curl'] }));
    expect(bad.path).toBe('tasks.web.targets[0]');
  });
});

describe('isInterpreter / parseDuration', () => {
  it('should recognise interpreters by basename', () => {
    for (const exe of [
      '/usr/bin/node',
      '/usr/bin/nodejs',
      '/usr/bin/python3',
      '/usr/bin/python3.12',
      '/bin/dash',
      '/usr/bin/deno',
      '/usr/bin/ruby3.3',
      'C:\\node\\node.exe',
    ]) {
      expect(isInterpreter(exe)).toBe(true);
    }
    for (const exe of ['/usr/bin/curl', '/opt/agent/bin/agent', '/usr/bin/nodemon', '/usr/bin/shred'])
      expect(isInterpreter(exe)).toBe(false);
    expect(() => isInterpreter(null as unknown as string)).toThrow(TypeError);
  });

  it('should read durations', () => {
    expect([
      parseDuration('500ms'),
      parseDuration('30s'),
      parseDuration('15m'),
      parseDuration('8h'),
      parseDuration('7d'),
    ]).toEqual([500, 30_000, 900_000, 28_800_000, 604_800_000]);
    expect([parseDuration('0s'), parseDuration('367d'), parseDuration('h'), parseDuration('')]).toEqual([
      null,
      null,
      null,
      null,
    ]);
    expect(() => parseDuration(5 as unknown as string)).toThrow(TypeError);
  });

  it('should read compound and decimal durations, largest unit first, in whole ms', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2d12h')).toBe(216_000_000);
    expect(parseDuration('1m30s500ms')).toBe(90_500);
    expect(parseDuration('0.5s')).toBe(500);
    expect(parseDuration('366d')).toBe(366 * 86_400_000);
    // Out of order, repeated, partial, spaced, signed, or not a whole number of ms: refused.
    for (const bad of [
      '30m1h',
      '1h1h',
      '1h30',
      '1.5',
      '1 h',
      '-1h',
      '+1h',
      '0.0001s',
      '1.h',
      '.5h',
      '1e3s',
      '1h 30m',
    ]) {
      expect(parseDuration(bad)).toBeNull();
    }
  });
});
