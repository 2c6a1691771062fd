// SPDX-License-Identifier: AGPL-3.0-only
// The tasks screen's reducer and keys, as pure functions.
import { describe, expect, it } from 'vitest';
import type { PolicyExplainResult } from '@cora/ipc';
import { parsePolicy, type Policy } from '@cora/policy';
import {
  callerOf,
  explainRequest,
  initialTasks,
  outcomeColor,
  reduceTasks,
  taskNames,
  tasksKey,
  type TasksMode,
  type TasksState,
} from '../../src/internal/screens/tasks/state.ts';
import { KEY } from '../harness.tsx';

const POLICY: Policy = parsePolicy({
  version: 1,
  callers: [{ exe: '/usr/bin/claude' }],
  tasks: {
    web: { secrets: ['K'], targets: ['/usr/bin/curl'] },
    deploy: { secrets: ['K'], targets: ['/usr/bin/curl'], approve: 'once' },
  },
});

const RESULT: PolicyExplainResult = {
  steps: [{ step: 'caller', ok: true, detail: 'cr' }],
  outcome: 'allow',
  reason: 'allowed',
};

function at(mode: TasksMode, selected = 0): TasksState {
  return { ...reduceTasks(initialTasks(), { type: 'policy', policy: POLICY }), mode, selected };
}

const LIST: TasksMode = { kind: 'list' };

describe('taskNames', () => {
  it('should sort the task names, and give none without a policy', () => {
    expect(taskNames(POLICY)).toEqual(['deploy', 'web']);
    expect(taskNames(null)).toEqual([]);
  });
});

describe('reduceTasks', () => {
  it('should keep the policy and clear an old note', () => {
    const failed = reduceTasks(initialTasks(), { type: 'no-policy', message: 'locked (LOCKED)' });
    expect(failed.policy).toBeNull();
    expect(failed.note).toBe('locked (LOCKED)');
    const loaded = reduceTasks(failed, { type: 'policy', policy: POLICY });
    expect(loaded.policy).toBe(POLICY);
    expect(loaded.note).toBe('');
  });

  it('should select within the tasks', () => {
    expect(reduceTasks(at(LIST), { type: 'select', delta: 1 }).selected).toBe(1);
    expect(reduceTasks(at(LIST, 1), { type: 'select', delta: 1 }).selected).toBe(1);
    expect(reduceTasks(at(LIST), { type: 'select', delta: -1 }).selected).toBe(0);
  });

  it('should explain the selected task: its command line, then the caller', () => {
    let state = reduceTasks(at(LIST, 1), { type: 'explain' });
    expect(state.mode).toEqual({ kind: 'argv', task: 'web' });
    state = reduceTasks(state, { type: 'argv', line: '  curl   https://x  ' });
    expect(state.mode).toEqual({ kind: 'caller', task: 'web', argv: ['curl', 'https://x'] });
    state = reduceTasks(state, { type: 'caller', input: '', resolved: null });
    expect(state.mode).toEqual(LIST);
  });

  it('should not explain without a task', () => {
    const empty = reduceTasks(initialTasks(), { type: 'explain' });
    expect(empty.mode).toEqual(LIST);
  });

  it('should ask for a command when the line is empty', () => {
    const state = reduceTasks(at({ kind: 'argv', task: 'web' }), { type: 'argv', line: '   ' });
    expect(state.mode).toEqual({ kind: 'argv', task: 'web' });
    expect(state.note).toBe('type the command to check');
  });

  it('should refuse a caller name not found on PATH, keeping the prompt', () => {
    const mode: TasksMode = { kind: 'caller', task: 'web', argv: ['curl'] };
    const state = reduceTasks(at(mode), { type: 'caller', input: ' nosuchagent ', resolved: null });
    expect(state.mode).toBe(mode);
    expect(state.note).toBe('nosuchagent: no executable by that name on PATH');
  });

  it('should close a prompt on cancel', () => {
    expect(reduceTasks(at({ kind: 'argv', task: 'web' }), { type: 'cancel' }).mode).toEqual(LIST);
  });

  it('should ignore a line or a caller when its prompt is not open', () => {
    const state = at(LIST);
    expect(reduceTasks(state, { type: 'argv', line: 'curl' })).toBe(state);
    expect(reduceTasks(state, { type: 'caller', input: '', resolved: null })).toBe(state);
  });

  it('should show what the service explained, or why it could not', () => {
    const explained = { task: 'web', argv: ['curl'], result: RESULT };
    const state = reduceTasks({ ...at(LIST), note: 'old' }, { type: 'explained', explained });
    expect(state.explained).toBe(explained);
    expect(state.note).toBe('');
    expect(reduceTasks(state, { type: 'failed', message: 'UNKNOWN_TASK' }).note).toBe('UNKNOWN_TASK');
  });
});

describe('callerOf and explainRequest', () => {
  it('should take empty as this cr, a path as it is, and a bare name as found on PATH', () => {
    expect(callerOf('', null)).toBeUndefined();
    expect(callerOf('   ', null)).toBeUndefined();
    expect(callerOf('/opt/a/bin/agent', null)).toBe('/opt/a/bin/agent');
    expect(callerOf('claude', '/opt/claude/bin/claude')).toBe('/opt/claude/bin/claude');
    expect(callerOf('claude', null)).toBeNull();
  });

  it('should build the request from the open caller prompt only', () => {
    const mode: TasksMode = { kind: 'caller', task: 'web', argv: ['curl', 'x'] };
    expect(explainRequest(mode, 'claude', '/c')).toEqual({ task: 'web', argv: ['curl', 'x'], caller: '/c' });
    expect(explainRequest(mode, '', null)).toEqual({ task: 'web', argv: ['curl', 'x'], caller: undefined });
    expect(explainRequest(mode, 'nope', null)).toBeNull();
    expect(explainRequest(LIST, '', null)).toBeNull();
  });
});

describe('tasksKey and outcomeColor', () => {
  it('should map arrows, e and r', () => {
    expect(tasksKey('', KEY.up)).toEqual({ type: 'select', delta: -1 });
    expect(tasksKey('', KEY.down)).toEqual({ type: 'select', delta: 1 });
    expect(tasksKey('e', KEY.none)).toEqual({ type: 'explain' });
    expect(tasksKey('r', KEY.none)).toEqual({ type: 'refresh' });
    expect(tasksKey('q', KEY.none)).toBeNull();
    expect(tasksKey('e', KEY.ctrl)).toBeNull();
  });

  it('should colour allow, deny and needs-approval', () => {
    expect(outcomeColor('allow')).toBe('green');
    expect(outcomeColor('deny')).toBe('red');
    expect(outcomeColor('needs-approval')).toBe('yellow');
  });
});
