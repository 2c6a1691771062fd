// SPDX-License-Identifier: AGPL-3.0-only
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SecretBuf } from '@cora/memstore';
import { canaryForms, makeCanary, makeTempDir } from '@cora/test-utils';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  AUDIT_EVENT_TYPES,
  AuditLog,
  callerSummary,
  isAuditError,
  validateEvent,
  verifyLog,
  type AuditEvent,
  type CallerSummary,
} from '../src/index.ts';
import { MacKey } from '../src/internal/mac.ts';
import { FIXTURES, CALLER } from './helpers.ts';

type Values<T> = T extends unknown ? T[keyof T] : never;
type Keys<T> = T extends unknown ? keyof T : never;

const FORBIDDEN_KEYS = ['value', 'secret', 'secrets_values', 'env', 'passphrase', 'key', 'token', 'password'];

function expectInvalid(input: unknown, canary: Buffer): void {
  let caught: unknown;
  try {
    validateEvent(input);
  } catch (error) {
    caught = error;
  }
  expect(isAuditError(caught, 'INVALID_EVENT')).toBe(true);
  const message = (caught as Error).message;
  for (const form of canaryForms(canary))
    expect(message.includes(Buffer.from(form).toString('latin1'))).toBe(false);
}

/** Every way a value could be smuggled into `field` of `event`. */
function smuggled(canary: Buffer): Array<[string, () => unknown]> {
  const text = canary.toString('latin1');
  return [
    ['Uint8Array', () => new Uint8Array(canary)],
    ['Buffer', () => Buffer.from(canary)],
    ['SecretBuf', () => SecretBuf.from(canary)],
    ['nested object', () => ({ value: text })],
    ['array of bytes', () => [Buffer.from(canary)]],
    ['over-long string', () => `/${text.repeat(Math.ceil(4200 / text.length))}`],
  ];
}

describe('validateEvent', () => {
  it('should accept a fixture of every event type', () => {
    expect(Object.keys(FIXTURES).sort()).toEqual([...AUDIT_EVENT_TYPES].sort());
    for (const type of AUDIT_EVENT_TYPES) expect(validateEvent(FIXTURES[type])).toBe(FIXTURES[type]);
  });

  it('should refuse a canary as bytes, nested object, extra key or over-long string in every field of every type', async () => {
    const canary = makeCanary();
    await using dir = await makeTempDir('cora-audit-');
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    log.setKey(SecretBuf.random(32));
    let attempts = 0;
    try {
      for (const type of AUDIT_EVENT_TYPES) {
        const base = FIXTURES[type] as unknown as Record<string, unknown>;
        const variants: unknown[] = [];
        for (const field of Object.keys(base)) {
          if (field === 'type') continue;
          for (const [, make] of smuggled(canary)) variants.push({ ...base, [field]: make() });
          const inner = base[field];
          if (typeof inner === 'object' && inner !== null && !Array.isArray(inner)) {
            // The caller summary's own fields, and extra keys inside it.
            for (const sub of Object.keys(inner)) {
              for (const [, make] of smuggled(canary))
                variants.push({ ...base, [field]: { ...inner, [sub]: make() } });
            }
            for (const key of FORBIDDEN_KEYS)
              variants.push({ ...base, [field]: { ...inner, [key]: canary.toString('latin1') } });
          }
          if (Array.isArray(inner))
            variants.push({ ...base, [field]: [...(inner as unknown[]), Buffer.from(canary)] });
        }
        for (const key of FORBIDDEN_KEYS.filter((k) => !(k in base))) {
          variants.push({ ...base, [key]: canary.toString('latin1') });
          variants.push({ ...base, [key]: Buffer.from(canary) });
        }
        for (const variant of variants) {
          attempts += 1;
          expectInvalid(variant, canary);
          await expect(log.append(variant as AuditEvent)).rejects.toSatisfy((e) =>
            isAuditError(e, 'INVALID_EVENT'),
          );
        }
        if (type !== 'file-start') await log.append(FIXTURES[type]);
      }
    } finally {
      await log.close();
    }
    expect(attempts).toBeGreaterThan(1000);
    const written = await readFile(`${dir.path}/audit.jsonl`);
    expect(written.toString('utf8').split('\n')).toHaveLength(AUDIT_EVENT_TYPES.length); // 24 records + ''
    for (const form of canaryForms(canary)) expect(written.includes(Buffer.from(form))).toBe(false);
  });

  it('should refuse non-objects, unknown types and out-of-range numbers', () => {
    const canary = makeCanary();
    for (const input of [null, 'connect', 42, [], { type: 'get' }, { type: 'connect' }])
      expectInvalid(input, canary);
    expectInvalid({ ...FIXTURES['task-end'], durationMs: -1 }, canary);
    expectInvalid({ ...FIXTURES['task-end'], pid: 1.5 }, canary);
    expectInvalid({ ...FIXTURES['task-end'], pid: 2 ** 53 }, canary);
    expectInvalid({ ...FIXTURES['task-end'], signal: 'KILL' }, canary);
    expectInvalid({ ...FIXTURES['task-start'], target: 'relative/path' }, canary);
    expectInvalid({ ...FIXTURES['secret-deleted'], name: '1BAD' }, canary);
    expectInvalid({ ...FIXTURES['task-start'], secrets: Array.from({ length: 10_001 }, () => 'A') }, canary);
    expectInvalid({ ...FIXTURES['service-start'], version: 'x'.repeat(33) }, canary);
    expectInvalid({ ...FIXTURES['protocol-error'], code: 'lower' }, canary);
    // -1 is Windows's "no uid" (the caller's SID names the user there); below it, nothing.
    expectInvalid({ ...FIXTURES['protocol-error'], uid: -2 }, canary);
    expectInvalid({ ...FIXTURES['protocol-error'], uid: null }, canary);
    expectInvalid({ ...FIXTURES['protocol-error'], uid: '0' }, canary);
    expectInvalid({ ...FIXTURES['approval-granted'], until: '2026-11-23' }, canary);
  });

  it('should have no key that could name a value and no byte-typed field (type level)', () => {
    type AllKeys = Keys<AuditEvent> | keyof CallerSummary;
    expectTypeOf<
      Extract<AllKeys, 'value' | 'passphrase' | 'key' | 'env' | 'password' | 'token'>
    >().toEqualTypeOf<never>();
    // The one `secret` key (secret-missing, fixed by the brief's API) holds a secret's NAME.
    type SecretKeyed = Extract<AuditEvent, { secret: unknown }>;
    expectTypeOf<SecretKeyed['type']>().toEqualTypeOf<'secret-missing'>();
    expectTypeOf<SecretKeyed['secret']>().toEqualTypeOf<string>();
    type AllValues = Values<AuditEvent> | Values<CallerSummary>;
    expectTypeOf<Extract<AllValues, Uint8Array>>().toEqualTypeOf<never>();
    expectTypeOf<Uint8Array>().not.toExtend<AllValues>();
    expectTypeOf<Buffer>().not.toExtend<AllValues>();
    expectTypeOf<SecretBuf>().not.toExtend<AllValues>();
  });
});

describe('protocol-error', () => {
  it('should take a uid or none, and write it after pid', async () => {
    // Records written before `uid` existed still validate.
    const bare = { type: 'protocol-error', pid: null, code: 'FRAME_TOO_LARGE' } as const;
    expect(validateEvent(bare)).toBe(bare);
    await using dir = await makeTempDir('cora-audit-');
    const log = await AuditLog.open({ dir: dir.path, fsync: false });
    try {
      await log.append(bare);
      await log.append({ type: 'protocol-error', pid: 31337, uid: 65534, code: 'NOT_ALLOWED' });
    } finally {
      await log.close();
    }
    const lines = (await readFile(`${dir.path}/audit.jsonl`, 'utf8')).trim().split('\n');
    expect(lines[0]).toContain('"type":"protocol-error","pid":null,"code":"FRAME_TOO_LARGE"');
    expect(lines[1]).toContain('"type":"protocol-error","pid":31337,"uid":65534,"code":"NOT_ALLOWED"');
    expect((await verifyLog(dir.path)).ok).toBe(true);
  });
});

describe('callerSummary', () => {
  it('should keep pid, uid, exe, script and the parent, and drop argv', () => {
    const summary = callerSummary(
      {
        uid: 1000,
        gid: 1000,
        pid: 4242,
        exe: '/usr/bin/node',
        argv: ['node', '/home/me/agent.js', '--token=abc'],
        startTime: 1n,
        script: { interpreter: 'node', path: '/home/me/agent.js', weak: true },
        ancestry: [{ pid: 4000, uid: 1000, exe: '/usr/bin/bash', argv0: 'bash', startTime: 1n }],
        pinned: true,
      },
      false,
    );
    expect(summary).toEqual(CALLER);
    expect(validateEvent({ type: 'connect', caller: summary })).toBeTruthy();
    const bare = callerSummary(
      {
        uid: 0,
        gid: 0,
        pid: 1,
        exe: '/sbin/init',
        argv: [],
        startTime: 1n,
        ancestry: [{ pid: 0, uid: 0, exe: null, argv0: null, startTime: null }],
        pinned: false,
      },
      true,
    );
    expect(bare).toEqual({ pid: 1, uid: 0, exe: '/sbin/init', parentPid: 0, cli: true });
  });
});

describe('MacKey', () => {
  it('should compute HMAC-SHA256 (RFC 2104) as node:crypto does', () => {
    const raw = Buffer.alloc(32, 7);
    const key = SecretBuf.from(raw);
    const mac = new MacKey(key);
    try {
      for (const message of ['', 'abc', 'x'.repeat(1000)]) {
        const expected = createHmac('sha256', raw).update(message).digest('hex');
        expect(mac.hex(Buffer.from(message))).toBe(expected);
        expect(mac.verify(Buffer.from(message), expected)).toBe(true);
        expect(
          mac.verify(
            Buffer.from(message),
            expected.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
          ),
        ).toBe(false);
      }
    } finally {
      mac.wipe();
      key.wipe();
    }
  });
});
