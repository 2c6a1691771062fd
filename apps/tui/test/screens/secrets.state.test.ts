// SPDX-License-Identifier: AGPL-3.0-only
// The secrets screen's reducer, table, keys and ownership of secret bytes, as pure functions.
import { describe, expect, it } from 'vitest';
import type { SecretMeta } from '@cora/ipc';
import {
  heldBySecrets,
  passphraseLabel,
  initialSecrets,
  pendingRequest,
  reduceSecrets,
  requestBytes,
  SECRETS,
  secretsKey,
  secretsTable,
  type SecretsAction,
  type SecretsMode,
  type SecretsState,
} from '../../src/internal/screens/secrets/state.ts';
import type { DotenvImport } from '../../src/types.ts';
import { KEY, wipedAfterEach } from '../harness.tsx';

/** Test SecretBufs, wiped after each test. */
const buf = wipedAfterEach();

function meta(name: string, day = '2026-11-01'): SecretMeta {
  return { name, created: `${day}T10:00:00.000Z`, updated: `${day}T11:30:00.000Z` };
}

function dotenv(names: readonly string[], problems: readonly string[] = []): DotenvImport {
  return { names, values: names.map((n) => buf(n)), problems };
}

/** A state listing `names`, at `mode`. */
function at(mode: SecretsMode, names: readonly string[] = ['A', 'B', 'C']): SecretsState {
  return { ...reduceSecrets(initialSecrets(), { type: 'listed', list: names.map((n) => meta(n)) }), mode };
}

function run(state: SecretsState, ...actions: SecretsAction[]): SecretsState {
  return actions.reduce(reduceSecrets, state);
}

const LIST: SecretsMode = { kind: 'list' };

describe('reduceSecrets: the list', () => {
  it('should start unlisted (locked, or not asked yet)', () => {
    const state = initialSecrets();
    expect(state.list).toBeNull();
    expect(state.mode).toEqual(LIST);
    expect(heldBySecrets(state)).toEqual([]);
  });

  it('should list names, and keep the selection within them', () => {
    const state = run(at(LIST), { type: 'select', delta: 2 });
    expect(state.selected).toBe(2);
    expect(run(state, { type: 'select', delta: 5 }).selected).toBe(2);
    expect(run(state, { type: 'select', delta: -9 }).selected).toBe(0);
    // A shorter list (after a delete) moves the selection onto it.
    expect(run(state, { type: 'listed', list: [meta('A')] }).selected).toBe(0);
  });

  it('should forget the list and say why when it cannot be read', () => {
    const state = run(at(LIST), { type: 'unlisted', message: 'the vault is locked (LOCKED)' });
    expect(state.list).toBeNull();
    expect(state.note).toBe('the vault is locked (LOCKED)');
  });

  it('should keep the last-used times', () => {
    const used = new Map([['A', '2026-11-03T09:31:00.000Z']]);
    expect(run(at(LIST), { type: 'used', used }).used).toBe(used);
  });
});

describe('reduceSecrets: adding', () => {
  it('should ask a name, then a value, then the passphrase', () => {
    const v = buf('value');
    let state = run(at(LIST), { type: 'ask', what: 'add' });
    expect(state.mode).toEqual({ kind: 'name' });
    state = run(state, { type: 'name', name: 'NEW_ONE' });
    expect(state.mode).toEqual({ kind: 'value', name: 'NEW_ONE' });
    state = run(state, { type: 'value', value: v });
    expect(state.mode).toEqual({ kind: 'pass-set', name: 'NEW_ONE', value: v });
    expect(heldBySecrets(state)).toEqual([v]);
  });

  it('should refuse a name the vault refuses, keeping the prompt', () => {
    const state = at({ kind: 'name' });
    const refused = run(state, { type: 'name', name: 'has space' });
    expect(refused.mode).toBe(state.mode);
    expect(refused.seq).toBe(state.seq);
    expect(refused.note).toBe(`'has space' is not a valid name: use [A-Za-z_][A-Za-z0-9_]*`);
  });

  it('should hand the value and the passphrase to the request, and let go when it settles', () => {
    const v = buf('value');
    const p = buf('pass');
    const state = at({ kind: 'pass-set', name: 'K', value: v });
    const request = pendingRequest(state.mode, p);
    expect(request).toEqual({ kind: 'set', name: 'K', value: v, passphrase: p });
    const running = run(state, { type: 'passphrase', passphrase: p });
    expect(running.mode).toEqual(LIST);
    expect(running.note).toBe('storing K…');
    expect(heldBySecrets(running)).toEqual([v, p]);
    const done = run(running, { type: 'settled', sent: [v, p], note: 'Stored K.' });
    expect(done.note).toBe('Stored K.');
    expect(heldBySecrets(done)).toEqual([]);
  });

  it('should let go of a value when its passphrase prompt is left', () => {
    const state = run(at({ kind: 'pass-set', name: 'K', value: buf('v') }), {
      type: 'cancel',
      why: 'cancel',
    });
    expect(state.mode).toEqual(LIST);
    expect(state.note).toBe('cancelled');
    expect(heldBySecrets(state)).toEqual([]);
    expect(run(at({ kind: 'value', name: 'K' }), { type: 'cancel', why: 'too-long' }).note).toBe(
      'too long; nothing was changed',
    );
  });
});

describe('reduceSecrets: deleting', () => {
  it('should confirm the selected name, then ask the passphrase', () => {
    let state = run(at(LIST), { type: 'select', delta: 1 }, { type: 'ask', what: 'delete' });
    expect(state.mode).toEqual({ kind: 'confirm-delete', name: 'B' });
    state = run(state, { type: 'delete-answer', yes: true });
    expect(state.mode).toEqual({ kind: 'pass-delete', name: 'B' });
    const p = buf('p');
    const running = run(state, { type: 'passphrase', passphrase: p });
    expect(running.note).toBe('deleting B…');
    expect(heldBySecrets(running)).toEqual([p]);
  });

  it('should do nothing with no secret selected, and cancel on n', () => {
    const empty = at(LIST, []);
    expect(run(empty, { type: 'ask', what: 'delete' })).toBe(empty);
    const no = run(at({ kind: 'confirm-delete', name: 'A' }), { type: 'delete-answer', yes: false });
    expect(no.mode).toEqual(LIST);
    expect(no.note).toBe('cancelled');
  });
});

describe('reduceSecrets: importing', () => {
  it('should read, preview, ask the passphrase and hand every value to the request', () => {
    let state = run(at(LIST), { type: 'ask', what: 'import' }, { type: 'reading', file: '/p/.env' });
    expect(state.mode).toEqual({ kind: 'import-path' });
    expect(state.note).toBe('reading /p/.env…');
    const parsed = dotenv(['A', 'B']);
    state = run(state, { type: 'import-read', parsed });
    expect(state.mode).toEqual({ kind: 'import-preview', parsed });
    expect(state.note).toBe('');
    expect(heldBySecrets(state)).toEqual(parsed.values);
    state = run(state, { type: 'import-answer', yes: true });
    expect(state.mode).toEqual({ kind: 'pass-import', parsed });
    const p = buf('p');
    const running = run(state, { type: 'passphrase', passphrase: p });
    expect(running.note).toBe('importing…');
    expect(heldBySecrets(running)).toEqual([p, ...parsed.values]);
    expect(requestBytes({ kind: 'import', parsed, passphrase: p })).toEqual([p, ...parsed.values]);
  });

  it('should let go of a file declined or one that cannot be imported', () => {
    for (const parsed of [dotenv(['A']), dotenv(['A'], ['line 1: bad']), dotenv([])]) {
      const yes = parsed.names.length === 1 && parsed.problems.length === 0 ? false : true;
      const state = run(at({ kind: 'import-preview', parsed }), { type: 'import-answer', yes });
      expect(state.mode).toEqual(LIST);
      expect(state.note).toBe('cancelled');
      expect(heldBySecrets(state)).toEqual([]);
    }
  });

  it('should say why a file could not be read, and ignore a read that lands late', () => {
    const state = run(at({ kind: 'import-path' }), { type: 'import-unreadable', message: 'EACCES' });
    expect(state.mode).toEqual(LIST);
    expect(state.note).toBe('EACCES');
    const late = run(at(LIST), { type: 'import-read', parsed: dotenv(['A']) });
    expect(late.mode).toEqual(LIST);
    expect(run(at(LIST), { type: 'reading', file: 'x' }).note).toBe('');
  });
});

describe('reduceSecrets: requests', () => {
  it('should label the passphrase prompt with the request it starts', () => {
    expect(passphraseLabel({ kind: 'pass-set', name: 'K', value: buf('v') })).toBe('Passphrase to store K:');
    expect(passphraseLabel({ kind: 'pass-delete', name: 'K' })).toBe('Passphrase to delete K:');
    expect(passphraseLabel({ kind: 'pass-import', parsed: dotenv(['A', 'B']) })).toBe(
      'Passphrase to import 2 secret(s):',
    );
    expect(passphraseLabel({ kind: 'name' })).toBeNull();
    expect(passphraseLabel(LIST)).toBeNull();
  });

  it('should take a passphrase only at a passphrase prompt', () => {
    const p = buf('p');
    for (const mode of [LIST, { kind: 'name' }, { kind: 'confirm-delete', name: 'A' }] as SecretsMode[]) {
      expect(pendingRequest(mode, p)).toBeNull();
      const state = at(mode);
      expect(run(state, { type: 'passphrase', passphrase: p })).toBe(state);
    }
  });

  it('should keep the bytes of other requests in flight when one settles', () => {
    const [v1, p1, p2] = [buf('v1'), buf('p1'), buf('p2')];
    let state = run(at({ kind: 'pass-set', name: 'A', value: v1 }), { type: 'passphrase', passphrase: p1 });
    state = run(
      state,
      { type: 'select', delta: 0 },
      { type: 'ask', what: 'delete' },
      { type: 'delete-answer', yes: true },
    );
    state = run(state, { type: 'passphrase', passphrase: p2 });
    expect(heldBySecrets(state)).toEqual([v1, p1, p2]);
    state = run(state, { type: 'settled', sent: [p2], note: 'Deleted A.' });
    expect(heldBySecrets(state)).toEqual([v1, p1]);
  });

  it('should name what each action hands over', () => {
    const v = buf('v');
    const parsed = dotenv(['A']);
    expect(SECRETS.carried({ type: 'value', value: v })).toEqual([v]);
    expect(SECRETS.carried({ type: 'passphrase', passphrase: v })).toEqual([v]);
    expect(SECRETS.carried({ type: 'import-read', parsed })).toEqual(parsed.values);
    expect(SECRETS.carried({ type: 'ask', what: 'add' })).toEqual([]);
  });

  it('should open prompts only from the list, each as a new field', () => {
    const state = at({ kind: 'name' });
    expect(run(state, { type: 'ask', what: 'import' })).toBe(state);
    const opened = run(at(LIST), { type: 'ask', what: 'add' });
    expect(opened.seq).toBeGreaterThan(at(LIST).seq);
  });
});

describe('secretsKey', () => {
  it('should map arrows, a, i, d and r', () => {
    expect(secretsKey('', KEY.up)).toEqual({ type: 'select', delta: -1 });
    expect(secretsKey('', KEY.down)).toEqual({ type: 'select', delta: 1 });
    expect(secretsKey('a', KEY.none)).toEqual({ type: 'ask', what: 'add' });
    expect(secretsKey('i', KEY.none)).toEqual({ type: 'ask', what: 'import' });
    expect(secretsKey('d', KEY.none)).toEqual({ type: 'ask', what: 'delete' });
    expect(secretsKey('r', KEY.none)).toEqual({ type: 'refresh' });
    expect(secretsKey('x', KEY.none)).toBeNull();
    expect(secretsKey('d', KEY.ctrl)).toBeNull();
  });
});

describe('secretsTable', () => {
  const used = new Map([['GH_TOKEN', '2026-11-03T09:31:00.000Z']]);
  const state = { list: [meta('GH_TOKEN'), meta('OPENAI_API_KEY', '2026-11-02')], used, selected: 1 };

  it('should show created, updated and last used, to the minute', () => {
    const table = secretsTable(state, 30, false);
    expect(table.header).toBe(`NAME           CREATED               UPDATED               LAST USED`);
    expect(table.rows).toEqual([
      {
        name: 'GH_TOKEN',
        text: 'GH_TOKEN       2026-11-01 10:00      2026-11-01 11:30      2026-11-03 09:31',
        selected: false,
      },
      {
        name: 'OPENAI_API_KEY',
        text: 'OPENAI_API_KEY 2026-11-02 10:00      2026-11-02 11:30      never',
        selected: true,
      },
    ]);
  });

  it('should show only the update time when compact', () => {
    const table = secretsTable(state, 18, true);
    expect(table.header).toBe('NAME           UPDATED');
    expect(table.rows[0]?.text).toBe('GH_TOKEN       2026-11-01 11:30');
  });

  it('should scroll to keep the selected row in view', () => {
    const list = Array.from({ length: 20 }, (_, i) => meta(`S${String(i).padStart(2, '0')}`));
    const table = secretsTable({ list, used: new Map(), selected: 15 }, 14, false);
    expect(table.rows).toHaveLength(4);
    expect(table.rows.map((r) => r.name)).toEqual(['S12', 'S13', 'S14', 'S15']);
    expect(table.rows.at(-1)?.selected).toBe(true);
    const top = secretsTable({ list, used: new Map(), selected: 0 }, 5, false);
    expect(top.rows.map((r) => r.name)).toEqual(['S00', 'S01', 'S02']);
  });

  it('should draw nothing for no list', () => {
    expect(secretsTable({ list: null, used: new Map(), selected: 0 }, 30, false).rows).toEqual([]);
  });
});
