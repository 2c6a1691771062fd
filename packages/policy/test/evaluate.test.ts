// SPDX-License-Identifier: AGPL-3.0-only
// Over 500 lines on purpose: most of it is one table of evaluation cases (CASES) against one
// policy, read top to bottom as the decision order of architecture §7; split, it would lose that order.
import { describe, expect, it } from 'vitest';
import {
  addTask,
  CALLER_REASONS,
  allowCaller,
  emptyPolicy,
  evaluate,
  explain,
  parsePolicy,
  ReasonCode,
  targetsToResolve,
  type Decision,
  type EvaluationContext,
  type EvaluationRequest,
  type GrantQuery,
  type Policy,
} from '../src/index.ts';
import { AGENT, ancestor, BASH, caller, context, CURL, HEX_A, HEX_B, NODE, PY } from './helpers.ts';

const SCRIPT = '/home/u/tools/agent.py';
const NODE_SCRIPT = '/home/u/app/main.js';

const policy: Policy = parsePolicy({
  version: 1,
  callers: [
    { exe: AGENT },
    { exe: '/usr/local/bin/pinned', sha256: HEX_A },
    { exe: PY, script: SCRIPT },
    { exe: NODE }, // an interpreter without a script: must never match
    { exe: '/usr/local/bin/uidbound', uid: 1001 },
  ],
  tasks: {
    web: { secrets: ['API_KEY'], targets: [CURL] },
    none: { secrets: ['API_KEY'], targets: [] },
    via: { secrets: ['API_KEY'], targets: [CURL], via: [AGENT] },
    via2: { secrets: ['API_KEY'], targets: [CURL], via: [AGENT, '/usr/bin/tmux'] },
    py: { secrets: ['API_KEY'], targets: ['/usr/bin/python3'] },
    ttl: { secrets: ['API_KEY'], targets: [CURL], ttl: '10s' },
    rate: { secrets: ['API_KEY'], targets: [CURL], max_spawns: 2, window_ms: 1000 },
    once: { secrets: ['API_KEY'], targets: [CURL], approve: 'once' },
    win: { secrets: ['API_KEY', 'OTHER'], targets: [CURL], approve: 'window:5m', output: 'passthrough' },
    all: {
      secrets: ['API_KEY'],
      targets: [CURL],
      via: [AGENT],
      ttl: '1h',
      max_spawns: 1,
      window_ms: 60_000,
      approve: 'session',
    },
  },
});

const curl = { requested: 'curl', resolved: CURL };
const NOW = 1_000_000;

interface Case {
  readonly name: string;
  readonly request: Partial<EvaluationRequest>;
  readonly context?: Partial<EvaluationContext>;
  readonly policy?: Policy;
  readonly outcome: Decision['outcome'];
  readonly reason: ReasonCode;
  readonly weak?: boolean;
  readonly message?: RegExp;
}

const grantFor =
  (want: Partial<GrantQuery>) =>
  (query: GrantQuery): boolean =>
    Object.entries(want).every(([key, value]) => query[key as keyof GrantQuery] === value);

const CASES: readonly Case[] = [
  // callers
  {
    name: 'allowed exe',
    request: { caller: caller(AGENT) },
    outcome: 'allow',
    reason: 'ALLOWED',
    weak: false,
  },
  {
    name: 'unknown exe',
    request: { caller: caller('/usr/bin/evil') },
    outcome: 'deny',
    reason: 'CALLER_NOT_ALLOWED',
    message: /cr policy allow \/usr\/bin\/evil/,
  },
  {
    name: 'exe differs only by symlink name (no resolution here)',
    request: { caller: caller('/opt/agent/bin/agent2') },
    outcome: 'deny',
    reason: 'CALLER_NOT_ALLOWED',
  },
  {
    name: 'empty callers deny a non-CLI peer',
    policy: emptyWith('web'),
    request: { caller: caller(AGENT) },
    outcome: 'deny',
    reason: 'CALLER_NOT_ALLOWED',
    message: /only the cr CLI/,
  },
  {
    name: 'empty callers allow the CLI',
    policy: emptyWith('web'),
    request: { caller: caller(NODE) },
    context: { isCli: true },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'the CLI still needs the task',
    policy: emptyWith('web'),
    request: { caller: caller(NODE), task: 'nope' },
    context: { isCli: true },
    outcome: 'deny',
    reason: 'UNKNOWN_TASK',
  },
  {
    name: 'the CLI still needs an allowed target',
    request: { caller: caller(NODE), target: { requested: 'sh', resolved: '/usr/bin/sh' } },
    context: { isCli: true },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
  },
  {
    name: 'pin matches (identity hash)',
    request: { caller: caller('/usr/local/bin/pinned', { exeSha256: HEX_A }) },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'pin matches (request hash)',
    request: { caller: caller('/usr/local/bin/pinned'), callerExeSha256: HEX_A },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'request hash wins over identity hash',
    request: { caller: caller('/usr/local/bin/pinned', { exeSha256: HEX_A }), callerExeSha256: HEX_B },
    outcome: 'deny',
    reason: 'CALLER_PIN_MISMATCH',
  },
  {
    name: 'pin mismatch',
    request: { caller: caller('/usr/local/bin/pinned', { exeSha256: HEX_B }) },
    outcome: 'deny',
    reason: 'CALLER_PIN_MISMATCH',
    message: /--pin/,
  },
  {
    name: 'pin without a computed hash',
    request: { caller: caller('/usr/local/bin/pinned') },
    outcome: 'deny',
    reason: 'CALLER_HASH_UNAVAILABLE',
  },
  {
    name: 'uid bound, same uid',
    request: { caller: caller('/usr/local/bin/uidbound', { uid: 1001 }) },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'uid bound, other uid',
    request: { caller: caller('/usr/local/bin/uidbound') },
    outcome: 'deny',
    reason: 'CALLER_UID_MISMATCH',
  },
  {
    name: 'interpreter with the allowed script',
    request: { caller: caller(PY, { script: { interpreter: 'python3.12', path: SCRIPT, weak: true } }) },
    outcome: 'allow',
    reason: 'ALLOWED',
    weak: true,
  },
  {
    name: 'interpreter with another script',
    request: { caller: caller(PY, { script: { interpreter: 'python3.12', path: '/tmp/x.py', weak: true } }) },
    outcome: 'deny',
    reason: 'SCRIPT_NOT_ALLOWED',
    message: /\/tmp\/x\.py/,
  },
  {
    name: 'interpreter running no script (-c)',
    request: { caller: caller(PY) },
    outcome: 'deny',
    reason: 'SCRIPT_NOT_ALLOWED',
  },
  {
    name: 'interpreter rule without script never matches',
    request: { caller: caller(NODE, { script: { interpreter: 'node', path: NODE_SCRIPT, weak: true } }) },
    outcome: 'deny',
    reason: 'INTERPRETER_NEEDS_SCRIPT',
  },
  {
    name: 'interpreter rule without script, no script either',
    request: { caller: caller(NODE) },
    outcome: 'deny',
    reason: 'INTERPRETER_NEEDS_SCRIPT',
  },
  {
    name: 'unpinned identity is weaker evidence',
    request: { caller: caller(AGENT, { pinned: false }) },
    outcome: 'allow',
    reason: 'ALLOWED',
    weak: true,
  },
  // task
  {
    name: 'unknown task',
    request: { task: 'deploy' },
    outcome: 'deny',
    reason: 'UNKNOWN_TASK',
    message: /cr policy task add deploy/,
  },
  {
    name: 'task named like a prototype member',
    request: { task: 'toString' },
    outcome: 'deny',
    reason: 'UNKNOWN_TASK',
  },
  { name: 'task name case matters', request: { task: 'WEB' }, outcome: 'deny', reason: 'UNKNOWN_TASK' },
  // via
  { name: 'via: caller is the via exe', request: { task: 'via' }, outcome: 'allow', reason: 'ALLOWED' },
  {
    name: 'via: parent is the via exe',
    request: { task: 'via', caller: caller(AGENT, { ancestry: [ancestor(AGENT, 10)] }) },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'via: deep ancestor (8th)',
    request: {
      task: 'via',
      caller: caller('/usr/local/bin/uidbound', {
        uid: 1001,
        ancestry: [...Array.from({ length: 7 }, (_, i) => ancestor(BASH, 100 + i)), ancestor(AGENT, 9)],
      }),
    },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'via: missing from ancestry',
    request: { task: 'via', caller: caller('/usr/local/bin/uidbound', { uid: 1001 }) },
    outcome: 'deny',
    reason: 'VIA_MISSING',
    message: /\/opt\/agent\/bin\/agent/,
  },
  {
    name: 'via: unreadable ancestor exe does not count',
    request: {
      task: 'via',
      caller: caller('/usr/local/bin/uidbound', {
        uid: 1001,
        ancestry: [ancestor(null, 5), ancestor(BASH, 6)],
      }),
    },
    outcome: 'deny',
    reason: 'VIA_MISSING',
  },
  {
    name: 'via: argv0 naming the agent does not count',
    request: {
      task: 'via',
      caller: caller('/usr/local/bin/uidbound', {
        uid: 1001,
        ancestry: [{ pid: 5, uid: 1000, exe: BASH, argv0: AGENT, startTime: 1n }],
      }),
    },
    outcome: 'deny',
    reason: 'VIA_MISSING',
  },
  {
    name: 'via: an interpreter ancestor running the via script (an npm agent)',
    request: {
      task: 'via',
      caller: caller('/usr/local/bin/uidbound', {
        uid: 1001,
        ancestry: [
          ancestor(BASH, 5),
          { pid: 4, uid: 1001, exe: NODE, argv0: 'node', startTime: 1n, script: AGENT },
        ],
      }),
    },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'via: an interpreter ancestor running another script does not count',
    request: {
      task: 'via',
      caller: caller('/usr/local/bin/uidbound', {
        uid: 1001,
        ancestry: [{ pid: 4, uid: 1001, exe: NODE, argv0: 'node', startTime: 1n, script: NODE_SCRIPT }],
      }),
    },
    outcome: 'deny',
    reason: 'VIA_MISSING',
  },
  {
    name: 'via: all entries required, one missing',
    request: { task: 'via2' },
    outcome: 'deny',
    reason: 'VIA_MISSING',
    message: /tmux/,
  },
  {
    name: 'via: all entries present',
    request: {
      task: 'via2',
      caller: caller(AGENT, { ancestry: [ancestor(BASH, 3), ancestor('/usr/bin/tmux', 2)] }),
    },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'via checked before target',
    request: {
      task: 'via',
      caller: caller('/usr/local/bin/uidbound', { uid: 1001 }),
      target: { requested: 'x', resolved: null },
    },
    outcome: 'deny',
    reason: 'VIA_MISSING',
  },
  // targets
  {
    name: 'target not found',
    request: { target: { requested: 'nosuchcmd', resolved: null } },
    outcome: 'deny',
    reason: 'TARGET_NOT_FOUND',
    message: /nosuchcmd/,
  },
  {
    name: 'target not allowed names the resolved path and the fix',
    request: { target: { requested: 'wget', resolved: '/usr/bin/wget' } },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
    message: /\/usr\/bin\/wget.*--target \/usr\/bin\/wget/,
  },
  {
    name: 'empty targets refuse everything',
    request: { task: 'none' },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
    message: /lists no targets/,
  },
  {
    name: 'empty targets refuse even a not-found command as not found',
    request: { task: 'none', target: { requested: 'x', resolved: null } },
    outcome: 'deny',
    reason: 'TARGET_NOT_FOUND',
  },
  {
    name: 'symlinked request resolved to the target',
    request: { target: { requested: '/home/u/bin/curl-link', resolved: CURL } },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'symlinked request resolved elsewhere',
    request: { target: { requested: 'curl', resolved: '/usr/bin/bash' } },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
    message: /resolves to \/usr\/bin\/bash/,
  },
  {
    name: 'symlinked policy entry matched through targetRealpaths',
    request: { task: 'py', target: { requested: 'python3', resolved: PY } },
    context: { targetRealpaths: new Map([['/usr/bin/python3', PY]]) },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'symlinked policy entry without targetRealpaths',
    request: { task: 'py', target: { requested: 'python3', resolved: PY } },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
  },
  {
    name: 'policy entry that no longer resolves',
    request: { task: 'py', target: { requested: 'python3', resolved: PY } },
    context: { targetRealpaths: new Map([['/usr/bin/python3', null]]) },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
  },
  {
    name: 'target compared exactly (no prefix match)',
    request: { target: { requested: 'x', resolved: '/usr/bin/curl-evil' } },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
  },
  {
    name: 'target compared exactly (no trailing slash)',
    request: { target: { requested: 'x', resolved: '/usr/bin/curl/' } },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
  },
  // ttl
  {
    name: 'ttl: just before expiry',
    request: { task: 'ttl' },
    context: { unlockedAt: NOW - 9_999 },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'ttl: exactly at expiry',
    request: { task: 'ttl' },
    context: { unlockedAt: NOW - 10_000 },
    outcome: 'deny',
    reason: 'TTL_EXPIRED',
    message: /cr unlock/,
  },
  {
    name: 'ttl: long after',
    request: { task: 'ttl' },
    context: { unlockedAt: 0 },
    outcome: 'deny',
    reason: 'TTL_EXPIRED',
  },
  // rate
  {
    name: 'rate: under the limit',
    request: { task: 'rate' },
    context: { recentSpawns: () => [NOW - 500] },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'rate: at the limit',
    request: { task: 'rate' },
    context: { recentSpawns: () => [NOW - 500, NOW - 1] },
    outcome: 'deny',
    reason: 'RATE_LIMITED',
  },
  {
    name: 'rate: a spawn exactly window_ms ago is out of the window',
    request: { task: 'rate' },
    context: { recentSpawns: () => [NOW - 1000, NOW - 1] },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'rate: a spawn window_ms - 1 ago is in the window',
    request: { task: 'rate' },
    context: { recentSpawns: () => [NOW - 999, NOW - 1] },
    outcome: 'deny',
    reason: 'RATE_LIMITED',
  },
  {
    name: 'rate: a spawn at now counts',
    request: { task: 'rate' },
    context: { recentSpawns: () => [NOW, NOW] },
    outcome: 'deny',
    reason: 'RATE_LIMITED',
  },
  {
    name: 'rate: future timestamps do not count',
    request: { task: 'rate' },
    context: { recentSpawns: () => [NOW + 5, NOW + 6] },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  {
    name: 'rate: no limit means history is not read',
    request: {},
    context: {
      recentSpawns: () => {
        throw new Error('read');
      },
    },
    outcome: 'allow',
    reason: 'ALLOWED',
  },
  // approval
  {
    name: 'approval needed without a grant',
    request: { task: 'once' },
    context: { grants: () => false },
    outcome: 'needs-approval',
    reason: 'APPROVAL_REQUIRED',
    message: /cr approve/,
  },
  {
    name: 'approval covered by a grant',
    request: { task: 'once' },
    context: {
      grants: grantFor({ task: 'once', callerExe: AGENT, parentPid: 4000, parentStartTime: 40_000n }),
    },
    outcome: 'allow',
    reason: 'ALLOWED_BY_GRANT',
  },
  {
    name: 'grant for a recycled parent pid (other start time)',
    request: { task: 'once' },
    context: { grants: grantFor({ parentPid: 4000, parentStartTime: 1n }) },
    outcome: 'needs-approval',
    reason: 'APPROVAL_REQUIRED',
  },
  {
    name: 'no grant lookup without a parent start time',
    request: { task: 'once', caller: caller(AGENT, { ancestry: [ancestor(BASH, 4000, null)] }) },
    outcome: 'needs-approval',
    reason: 'APPROVAL_REQUIRED',
  },
  {
    name: 'no grant lookup without a parent',
    request: { task: 'once', caller: caller(AGENT, { ancestry: [] }) },
    outcome: 'needs-approval',
    reason: 'APPROVAL_REQUIRED',
  },
  {
    name: 'the CLI needs approval too',
    request: { task: 'win', caller: caller(NODE) },
    context: { isCli: true, grants: () => false },
    outcome: 'needs-approval',
    reason: 'APPROVAL_REQUIRED',
  },
  // order
  {
    name: 'order: rate before approval',
    request: { task: 'all' },
    context: { recentSpawns: () => [NOW - 1] },
    outcome: 'deny',
    reason: 'RATE_LIMITED',
  },
  {
    name: 'order: ttl before rate',
    request: { task: 'all' },
    context: { unlockedAt: NOW - 3_600_000, recentSpawns: () => [NOW - 1] },
    outcome: 'deny',
    reason: 'TTL_EXPIRED',
  },
  {
    name: 'order: target before ttl',
    request: { task: 'all', target: { requested: 'x', resolved: '/bin/x' } },
    context: { unlockedAt: NOW - 3_600_000 },
    outcome: 'deny',
    reason: 'TARGET_NOT_ALLOWED',
  },
  {
    name: 'order: caller before task',
    request: { caller: caller('/bin/evil'), task: 'nope' },
    outcome: 'deny',
    reason: 'CALLER_NOT_ALLOWED',
  },
  {
    name: 'order: every step passes',
    request: { task: 'all' },
    context: { grants: () => true },
    outcome: 'allow',
    reason: 'ALLOWED_BY_GRANT',
  },
];

function emptyWith(task: string): Policy {
  return addTask(emptyPolicy(), task, { secrets: ['API_KEY'], targets: [CURL] });
}

describe('evaluate', () => {
  it('should have a table of at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES)('should decide: $name', (c) => {
    const request: EvaluationRequest = { caller: caller(AGENT), task: 'web', target: curl, ...c.request };
    const decision = evaluate(c.policy ?? policy, request, context(c.context));
    expect({ outcome: decision.outcome, reason: decision.reason }).toEqual({
      outcome: c.outcome,
      reason: c.reason,
    });
    expect(Object.values(ReasonCode)).toContain(decision.reason);
    if (c.weak !== undefined) expect(decision.weakEvidence).toBe(c.weak);
    if (c.message !== undefined) expect(decision.message).toMatch(c.message);
    if (decision.outcome === 'allow') {
      expect(decision.secrets).toEqual(policy.tasks[request.task]?.secrets ?? ['API_KEY']);
      expect(decision.output).toBeDefined();
    } else {
      expect(decision.secrets).toBeUndefined();
    }
  });

  it.each(CASES)('should list in CALLER_REASONS exactly the caller step’s refusals: $name', (c) => {
    // With a task that cannot exist, a caller that passes step 1 is refused UNKNOWN_TASK; one
    // that fails it keeps its caller reason (what the service's admission gate relies on).
    const request: EvaluationRequest = { caller: caller(AGENT), task: 'web', target: curl, ...c.request };
    const gate = evaluate(c.policy ?? policy, { ...request, task: '' }, context(c.context));
    if (CALLER_REASONS.includes(c.reason)) expect(gate.reason).toBe(c.reason);
    else expect(gate.reason).toBe('UNKNOWN_TASK');
  });

  it('should carry the task output mode and secret names on allow', () => {
    const d = evaluate(
      policy,
      { caller: caller(AGENT), task: 'win', target: curl },
      context({ grants: () => true }),
    );
    expect(d).toMatchObject({ outcome: 'allow', secrets: ['API_KEY', 'OTHER'], output: 'passthrough' });
  });

  it('should pass the grant query of (task, caller exe, parent pid, parent start time)', () => {
    const seen: GrantQuery[] = [];
    evaluate(
      policy,
      { caller: caller(AGENT), task: 'once', target: curl },
      context({ grants: (q) => (seen.push(q), false) }),
    );
    expect(seen).toEqual([{ task: 'once', callerExe: AGENT, parentPid: 4000, parentStartTime: 40_000n }]);
  });

  it('should not let an allowed interpreter rule for node match python scripts of the same path', () => {
    const p = allowCaller(emptyWith('web'), { exe: NODE, script: NODE_SCRIPT });
    const ok = evaluate(
      p,
      {
        caller: caller(NODE, { script: { interpreter: 'node', path: NODE_SCRIPT, weak: true } }),
        task: 'web',
        target: curl,
      },
      context(),
    );
    expect(ok).toMatchObject({ outcome: 'allow', weakEvidence: true });
    const other = evaluate(
      p,
      {
        caller: caller(NODE, { script: { interpreter: 'node', path: '/tmp/evil.js', weak: true } }),
        task: 'web',
        target: curl,
      },
      context(),
    );
    expect(other.reason).toBe('SCRIPT_NOT_ALLOWED');
  });

  it('should be pure: same inputs give the same decision and inputs are not changed', () => {
    const request: EvaluationRequest = { caller: caller(AGENT), task: 'rate', target: curl };
    const spawns = [NOW - 10];
    const ctx = context({ recentSpawns: () => spawns });
    const before = JSON.stringify(policy);
    expect(evaluate(policy, request, ctx)).toEqual(evaluate(policy, request, ctx));
    expect(JSON.stringify(policy)).toBe(before);
    expect(spawns).toEqual([NOW - 10]);
  });
});

describe('explain', () => {
  it('should list each passed step and end with the decision', () => {
    const lines = explain(
      policy,
      { caller: caller(AGENT), task: 'all', target: curl },
      context({ grants: () => true }),
    );
    expect(lines.map((l) => l.split(':')[0])).toEqual([
      '✓ caller',
      '✓ task',
      '✓ via',
      '✓ target',
      '✓ ttl',
      '✓ rate',
      '✓ confine',
      '✓ approval',
      '✓ decision',
      '→ allow (ALLOWED_BY_GRANT)',
    ]);
  });

  it('should stop at the first failing step', () => {
    const lines = explain(
      policy,
      { caller: caller(AGENT), task: 'web', target: { requested: 'wget', resolved: '/usr/bin/wget' } },
      context(),
    );
    expect(lines).toHaveLength(5);
    expect(lines[3]).toMatch(/^✗ target: wget resolves to \/usr\/bin\/wget/);
    expect(lines[4]).toBe('→ deny (TARGET_NOT_ALLOWED)');
  });

  it('should mark weaker evidence', () => {
    const lines = explain(
      policy,
      {
        caller: caller(PY, { script: { interpreter: 'python3.12', path: SCRIPT, weak: true } }),
        task: 'web',
        target: curl,
      },
      context(),
    );
    expect(lines[0]).toMatch(/weaker evidence/);
    expect(lines.at(-1)).toMatch(/\[weaker evidence\]$/);
  });
});

describe('targetsToResolve', () => {
  it('should list the entries of a task as written, and nothing for an unknown task', () => {
    expect(targetsToResolve(policy, 'py')).toEqual(['/usr/bin/python3']);
    expect(targetsToResolve(policy, 'nope')).toEqual([]);
    expect(targetsToResolve(policy, 'constructor')).toEqual([]);
  });
});
