// SPDX-License-Identifier: AGPL-3.0-only
// The command as the audit log and the approver get it (service/command-record.ts): masked with
// the task's secrets through the real masker, bounded so the audit schema and the approval
// event always accept it, with every cut counted.
import { validateEvent, type AuditCommand } from '@cora/audit';
import { SecretBuf } from '@cora/memstore';
import { canaryForms, makeCanary } from '@cora/test-utils';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { COMMAND_LIMITS, recordedCommand, type SecretSource } from '../src/service/command-record.ts';

/** The vault as the service state answers: only the names it holds; every copy handed out is kept to check the wipe. */
function vault(held: Record<string, Uint8Array>): SecretSource & { readonly copies: SecretBuf[] } {
  const copies: SecretBuf[] = [];
  return {
    copies,
    secretsFor(names) {
      return names.map((name) => {
        const bytes = held[name];
        if (bytes === undefined) throw new Error(`strict fake: ${name} was not provided`);
        const value = SecretBuf.from(bytes);
        copies.push(value);
        return { name, value };
      });
    },
    missingSecret(names) {
      return names.find((name) => held[name] === undefined) ?? null;
    },
  };
}

const originals: Buffer[] = [];
afterEach(() => {
  for (const b of originals.splice(0)) b.fill(0);
});

function canary(): Buffer {
  const c = makeCanary();
  originals.push(c);
  return c;
}

/** The command as it would be written: JSON of every string. */
function written(command: AuditCommand): Buffer {
  return Buffer.from(JSON.stringify(command));
}

function startEvent(command: AuditCommand): unknown {
  return {
    type: 'task-start',
    caller: { pid: 1, uid: 1000, exe: '/usr/bin/node', cli: true },
    task: 't',
    target: '/usr/bin/curl',
    secrets: ['TOKEN'],
    output: 'masked',
    reason: 'ALLOWED',
    weak: false,
    command,
  };
}

describe('recordedCommand', () => {
  it('should conceal a value of the task in argv and cwd, raw, hex and base64, and wipe its copies', () => {
    const value = canary();
    const source = vault({ TOKEN: value });
    const text = value.toString('latin1');
    const argv = [
      'curl',
      `-HAuthorization: Bearer ${text}`,
      value.toString('hex'),
      value.toString('hex').toUpperCase(),
      `x${value.toString('base64')}y`,
      value.toString('base64url'),
      `--data=${encodeURIComponent(text)}`,
    ];
    const command = recordedCommand(source, ['TOKEN', 'NOT_HELD'], { argv, cwd: `/tmp/${text}/d` });
    const out = written(command);
    for (const form of canaryForms(value)) expect(out.includes(Buffer.from(form))).toBe(false);
    expect(command.argv[1]).toBe('-HAuthorization: Bearer <concealed:TOKEN>');
    expect(command.argv.slice(2, 6)).toEqual([
      '<concealed:TOKEN>',
      '<concealed:TOKEN>',
      'x<concealed:TOKEN>y',
      '<concealed:TOKEN>',
    ]);
    expect(command.cwd).toBe('/tmp/<concealed:TOKEN>/d');
    expect(source.copies.length).toBeGreaterThan(0);
    for (const copy of source.copies) expect(copy.wiped).toBe(true);
    expect(() => validateEvent(startEvent(command))).not.toThrow();
  });

  it('should keep argv and cwd as data: escapes are shown by the readers, not stored', () => {
    const argv = ['printf', 'a\x1b[2Jb', '', 'i\u202ej', 'k\u200bl'];
    const command = recordedCommand(vault({}), [], { argv, cwd: '/tmp/\x1b]0;x\x07' });
    expect(command).toEqual({
      argv,
      argvMore: [0, 0, 0, 0, 0],
      argvOmitted: 0,
      cwd: '/tmp/\x1b]0;x\x07',
      cwdMore: 0,
    });
  });

  it('should cut each argument, spend the total, and count what it left out', () => {
    const huge = 'A'.repeat(4096);
    const argv = ['curl', ...Array.from({ length: 255 }, () => huge)];
    const command = recordedCommand(vault({}), [], { argv, cwd: '/' });
    expect(command.argv[0]).toBe('curl');
    expect(command.argv[1]).toBe('A'.repeat(COMMAND_LIMITS.maxArgBytes));
    expect(command.argvMore[1]).toBe(4096 - COMMAND_LIMITS.maxArgBytes);
    const kept = command.argv.reduce((sum, a) => sum + Buffer.byteLength(a), 0);
    expect(kept).toBe(COMMAND_LIMITS.maxArgvBytes);
    expect(command.argv.length + command.argvOmitted).toBe(argv.length);
    expect(command.argvOmitted).toBeGreaterThan(200);
    // The last kept argument was cut by the total, not only by its own bound.
    const last = command.argv.length - 1;
    expect(Buffer.byteLength(command.argv[last] ?? '') + (command.argvMore[last] ?? 0)).toBe(4096);
    expect(() => validateEvent(startEvent(command))).not.toThrow();
  });

  it('should never cut inside a character, and count a cwd grown by masking', () => {
    const value = Buffer.from('s3cr3t-value');
    const source = vault({ A_VERY_LONG_SECRET_NAME_THAT_GROWS_EVERY_TAG: value });
    const cwd = `/${'s3cr3t-value/'.repeat(330)}`; // about 4 KiB, each value becomes a 58-byte tag
    const command = recordedCommand(source, ['A_VERY_LONG_SECRET_NAME_THAT_GROWS_EVERY_TAG'], {
      argv: ['x', 'é'.repeat(600)],
      cwd,
    });
    expect(Buffer.byteLength(command.cwd)).toBeLessThanOrEqual(COMMAND_LIMITS.maxCwdBytes);
    expect(command.cwdMore).toBeGreaterThan(0);
    expect(command.cwd).not.toContain('s3cr3t-value');
    expect(command.argv[1]).toBe('é'.repeat(512));
    expect(command.argvMore[1]).toBe(176);
    expect(() => validateEvent(startEvent(command))).not.toThrow();
  });

  it('should give what the audit schema accepts for any argv the exec request allows', () => {
    const value = canary();
    const source = vault({ TOKEN: value });
    const arg = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }).map((s) => s.replaceAll('\0', '')),
      fc.constant(value.toString('latin1')),
      fc.string({ unit: 'grapheme', maxLength: 1365 }),
    );
    fc.assert(
      fc.property(fc.array(arg, { minLength: 1, maxLength: 256 }), (argv) => {
        const command = recordedCommand(source, ['TOKEN'], { argv, cwd: '/tmp' });
        expect(() => validateEvent(startEvent(command))).not.toThrow();
        expect(command.argv.length + command.argvOmitted).toBe(argv.length);
        expect(written(command).includes(value)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });
});
