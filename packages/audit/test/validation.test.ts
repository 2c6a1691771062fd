// SPDX-License-Identifier: AGPL-3.0-only
// The closed schema, field by field: every wrong type, every bound, every optional key, and the
// ways a caller's object could change between the check and the write (getters, proxies, later
// mutation). The canary walk in events.test.ts covers bytes and nested objects in every field.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretBuf } from '@cora/memstore';
import { canaryForms, makeCanary, makeTempDir, type TempDir } from '@cora/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AUDIT_EVENT_TYPES,
  AuditLog,
  isAuditError,
  validateEvent,
  verifyLog,
  type AuditEvent,
  type VaultStateEvent,
} from '../src/index.ts';
import { allRecords, CALLER, FIXTURES, fileLinesOf, hasCode } from './helpers.ts';

/** The field names each type may omit (README "Record format": left out when absent). */
const OPTIONAL: Readonly<Record<string, readonly string[]>> = {
  lock: ['caller'],
  'protocol-error': ['uid'],
  // Records written before the command was recorded still validate.
  'task-start': ['command'],
  'approval-requested': ['command'],
};
const CALLER_OPTIONAL = ['sid', 'script', 'parentPid', 'parentExe'];

/** Values that no field of the fixture value's kind accepts. */
function wrongValues(sample: unknown): unknown[] {
  if (typeof sample === 'number') return ['1', 1.5, Number.NaN, Infinity, 2 ** 53, true, 1n, {}, []];
  if (typeof sample === 'boolean') return ['true', 1, 0, null, {}];
  if (typeof sample === 'string') return [1, true, {}, [], '', 'x'.repeat(5000), '\0', `${sample}\0`];
  if (Array.isArray(sample)) return ['A', [1], ['A', ''], ['bad-name'], ['A\n'], { 0: 'A', length: 1 }];
  if (sample === null) return ['null', {}, [], true, 0.5];
  return ['x', [], {}, { ...CALLER, pid: -1 }, { ...CALLER, exe: 'relative' }, { ...CALLER, cli: 1 }];
}

function without(object: object, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([name]) => name !== key));
}

function refusal(input: unknown): string {
  try {
    validateEvent(input);
  } catch (error) {
    if (isAuditError(error, 'INVALID_EVENT')) return error.message;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('validateEvent, field by field', () => {
  it('should refuse every wrong-typed or out-of-range value in every field of every type, naming that field', () => {
    let attempts = 0;
    for (const type of AUDIT_EVENT_TYPES) {
      const base = FIXTURES[type] as unknown as Record<string, unknown>;
      for (const [field, sample] of Object.entries(base)) {
        if (field === 'type') continue;
        for (const wrong of wrongValues(sample)) {
          attempts += 1;
          expect(refusal({ ...base, [field]: wrong })).toMatch(new RegExp(`^${type}\\.${field}[.:]`));
        }
      }
    }
    expect(attempts).toBeGreaterThan(600);
  });

  it('should require every field except the documented optional ones', () => {
    for (const type of AUDIT_EVENT_TYPES) {
      const base = FIXTURES[type] as unknown as Record<string, unknown>;
      for (const field of Object.keys(base)) {
        const rest = without(base, field);
        if (field === 'type') {
          expect(refusal(rest)).toBe('type: not an audit event type');
        } else if (OPTIONAL[type]?.includes(field) === true) {
          expect(validateEvent(rest)).toBe(rest);
        } else {
          expect(refusal(rest)).toMatch(new RegExp(`^${type}\\.${field}:`));
        }
      }
    }
    for (const field of Object.keys(CALLER)) {
      const event = { type: 'connect', caller: without(CALLER, field) };
      if (CALLER_OPTIONAL.includes(field)) expect(validateEvent(event)).toBe(event);
      else expect(refusal(event)).toMatch(new RegExp(`^connect\\.caller\\.${field}:`));
    }
  });

  it('should refuse an extra key even when its value is undefined or inherited', () => {
    for (const type of AUDIT_EVENT_TYPES) {
      const base = FIXTURES[type];
      expect(refusal({ ...base, note: undefined })).toMatch(/strict_object/);
      const inherited = Object.assign(Object.create({ note: 'x' }) as object, base);
      expect(refusal(inherited)).toMatch(/strict_object/);
    }
    expect(refusal({ type: 'connect', caller: { ...CALLER, argv: undefined } })).toMatch(
      /^connect\.caller\.argv:/,
    );
  });

  it('should hold each bound exactly at its documented limit', () => {
    const accept = (event: unknown): void => {
      expect(validateEvent(event)).toBe(event);
    };
    const longPath = `/${'p'.repeat(4095)}`;
    accept({ ...FIXTURES['task-start'], target: longPath });
    expect(refusal({ ...FIXTURES['task-start'], target: `${longPath}p` })).toMatch(/^task-start\.target:/);
    accept({ ...FIXTURES['task-refused'], task: `a${'-'.repeat(63)}` });
    expect(refusal({ ...FIXTURES['task-refused'], task: `a${'-'.repeat(64)}` })).toMatch(/\.task:/);
    for (const task of ['-lead', '.hidden', 'dé', 'a b', 'a/b']) {
      expect(refusal({ ...FIXTURES['task-refused'], task })).toMatch(/\.task:/);
    }
    accept({ ...FIXTURES['secret-deleted'], name: `_${'A'.repeat(127)}` });
    expect(refusal({ ...FIXTURES['secret-deleted'], name: `_${'A'.repeat(128)}` })).toMatch(/\.name:/);
    for (const name of ['É', 'A-B', 'A B', 'A.B']) {
      expect(refusal({ ...FIXTURES['secret-deleted'], name })).toMatch(/\.name:/);
    }
    accept({ ...FIXTURES['secret-set'], names: Array.from({ length: 10_000 }, () => 'A') });
    accept({ ...FIXTURES['service-start'], version: 'v'.repeat(32) });
    expect(refusal({ ...FIXTURES['service-start'], version: '1.0 beta' })).toMatch(/\.version:/);
    accept({ ...FIXTURES['task-end'], signal: `SIG${'A'.repeat(10)}` });
    expect(refusal({ ...FIXTURES['task-end'], signal: `SIG${'A'.repeat(11)}` })).toMatch(/\.signal:/);
    accept({ ...FIXTURES['protocol-error'], code: `A${'_'.repeat(31)}` });
    expect(refusal({ ...FIXTURES['protocol-error'], code: `A${'_'.repeat(32)}` })).toMatch(/\.code:/);
    accept({ ...FIXTURES['task-end'], code: -1, durationMs: 0 });
    accept({ ...FIXTURES['task-end'], pid: Number.MAX_SAFE_INTEGER });
    expect(refusal({ ...FIXTURES['vault-write'], sha256: 'AB'.repeat(32) })).toMatch(/\.sha256:/);
    expect(refusal({ ...FIXTURES['vault-write'], sha256: 'ab'.repeat(33) })).toMatch(/\.sha256:/);
    expect(refusal({ ...FIXTURES['file-start'], previous: '../audit.jsonl' })).toMatch(/\.previous:/);
    expect(refusal({ ...FIXTURES['file-start'], previous: 'a\nb' })).toMatch(/\.previous:/);
    expect(refusal({ ...FIXTURES['approval-granted'], until: '2026-11-23T12:00:00Z' })).toMatch(/\.until:/);
  });

  it('should refuse a closed-list member in another case or from another list', () => {
    expect(refusal({ ...FIXTURES['caller-refused'], op: 'EXEC' })).toMatch(/\.op:/);
    expect(refusal({ ...FIXTURES['caller-refused'], reason: 'allowed' })).toMatch(/\.reason:/);
    expect(refusal({ ...FIXTURES.lock, reason: 'DENIED' })).toMatch(/^lock\.reason:/);
    expect(refusal({ ...FIXTURES['vault-write'], op: 'exec' })).toMatch(/\.op:/);
    expect(refusal({ ...FIXTURES['caller-refused'], op: 'toString' })).toMatch(/\.op:/);
    expect(refusal({ type: '__proto__' })).toBe('type: not an audit event type');
    expect(refusal({ type: 'constructor' })).toBe('type: not an audit event type');
  });

  it('should take a Windows caller (uid -1, its SID, drive paths) and nothing looser', () => {
    const windows = {
      pid: 412,
      uid: -1,
      sid: 'S-1-5-21-1004336348-1177238915-682003330-1001',
      exe: 'C:\\Program Files\\nodejs\\node.exe',
      script: 'C:\\Users\\me\\cli.js',
      cli: true,
    };
    const event = { type: 'connect', caller: windows } as const;
    expect(validateEvent(event)).toBe(event);
    expect(validateEvent({ type: 'protocol-error', pid: 412, uid: -1, code: 'BAD_FRAME' })).toBeTruthy();
    expect(refusal({ type: 'connect', caller: { ...windows, uid: -2 } })).toMatch(/uid/);
    expect(refusal({ type: 'connect', caller: { ...windows, sid: 'S-1-5-21-x' } })).toMatch(/sid/);
    expect(refusal({ type: 'connect', caller: { ...windows, sid: `S-1-5-21-1)(A;;GA;;;WD` } })).toMatch(
      /sid/,
    );
    expect(refusal({ type: 'connect', caller: { ...windows, exe: 'node.exe' } })).toMatch(/exe/);
    expect(refusal({ type: 'connect', caller: { ...windows, exe: 'C:node.exe' } })).toMatch(/exe/);
    expect(refusal({ type: 'connect', caller: { ...windows, exe: '\\\\?\\C:\\x.exe' } })).toMatch(/exe/);
  });
});

describe('AuditLog.append, what reaches the file', () => {
  let dir: TempDir;
  beforeEach(async () => {
    dir = await makeTempDir('cora-audit-validation-');
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('should keep a path holding a newline and a forged record on one escaped line', async () => {
    // An attacker names its executable; the kernel reports the name as it is.
    const forged = '{"v":1,"seq":2,"time":"2026-01-01T00:00:00.000Z","type":"unlock"}';
    const paths = [`/tmp/x\n${forged}`, '/tmp/\r\u2028\u2029"\\', '/tmp/\u{1F511}\u00e9', '/tmp/\ud800'];
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    for (const exe of paths) await log.append({ type: 'connect', caller: { ...CALLER, exe, script: exe } });
    const head = log.head();
    await log.close();
    const lines = await fileLinesOf(join(dir.path, 'audit.jsonl'));
    expect(lines).toHaveLength(paths.length);
    expect(lines[0]).toContain('"exe":"/tmp/x\\n{\\"v\\":1');
    expect((await allRecords(dir.path)).map((r) => r.type === 'connect' && r.caller.exe)).toEqual(paths);
    expect(await verifyLog(dir.path, { expectHead: head })).toMatchObject({ ok: true, records: 4 });
  });

  it('should write the values it checked when a getter changes its answer', async () => {
    const canary = makeCanary();
    let reads = 0;
    const caller = {
      ...CALLER,
      get exe(): unknown {
        reads += 1;
        return reads === 1 ? '/usr/bin/node' : Buffer.from(canary);
      },
    };
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    const record = await log.append({ type: 'connect', caller } as unknown as AuditEvent);
    await log.close();
    expect(record.type === 'connect' && record.caller.exe).toBe('/usr/bin/node');
    const written = await readFile(join(dir.path, 'audit.jsonl'));
    for (const form of canaryForms(canary)) expect(written.includes(Buffer.from(form))).toBe(false);
    expect(await verifyLog(dir.path)).toMatchObject({ ok: true, records: 1 });
  });

  it('should write the values it checked when a proxy changes its answer', async () => {
    let reads = 0;
    const event = new Proxy(
      { ...FIXTURES['task-end'] },
      {
        get(target, property, receiver): unknown {
          if (property === 'durationMs') return (reads += 1) === 1 ? 5 : '5,"value":"x"';
          return Reflect.get(target, property, receiver) as unknown;
        },
      },
    );
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    await log.append(event);
    await log.close();
    expect(await fileLinesOf(join(dir.path, 'audit.jsonl'))).toEqual([
      expect.stringContaining('"durationMs":5,"prev"') as string,
    ]);
    expect((await verifyLog(dir.path)).ok).toBe(true);
  });

  it('should carry the event as it was at setCarry, not as the caller later changed it', async () => {
    const carried = { ...FIXTURES['vault-state'], generation: 3 };
    const log = await AuditLog.open({ dir: dir.path, maxBytes: 1024, keep: 10, fsync: false });
    log.setCarry(carried);
    // A later change (even an invalid one) must neither reach the log nor break its verify.
    (carried as { generation: unknown }).generation = '3,"smuggled":"x"';
    (carried as { sha256: unknown }).sha256 = 'cd'.repeat(32);
    for (let i = 0; i < 12; i++) await log.append(FIXTURES['service-stop']);
    await log.close();
    const records = await allRecords(dir.path);
    const states = records.filter((r): r is VaultStateEvent & typeof r => r.type === 'vault-state');
    expect(states.length).toBeGreaterThan(0);
    for (const state of states) expect(state).toMatchObject({ generation: 3, sha256: 'ab'.repeat(32) });
    expect(await verifyLog(dir.path)).toMatchObject({ ok: true, records: records.length });
  });

  it('should refuse every invalid event without consuming a seq or touching the file', async () => {
    const key = SecretBuf.random(32);
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    try {
      log.setKey(key);
      await log.append(FIXTURES.unlock);
      const before = await readFile(log.path);
      const head = log.head();
      for (const type of AUDIT_EVENT_TYPES) {
        const bad = { ...FIXTURES[type], extra: 1 } as unknown as AuditEvent;
        await expect(log.append(bad)).rejects.toSatisfy(hasCode('INVALID_EVENT'));
      }
      expect(log.head()).toEqual(head);
      expect(await readFile(log.path)).toEqual(before);
      expect((await log.append(FIXTURES.connect)).seq).toBe(2);
    } finally {
      await log.close();
      key.wipe();
    }
  });
});
