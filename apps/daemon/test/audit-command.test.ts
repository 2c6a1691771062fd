// SPDX-License-Identifier: AGPL-3.0-only
// The command in the audit log and in front of the approver, end to end (architecture §10, §7,
// issue 12): the real `cr exec`, `cr approve` and `cr audit show`, the real service and log.
// argv and cwd are recorded masked (no byte of a value, nor its hex or base64), bounded, and
// shown escaped; a hostile argv at the size limit of a request still reaches the approver.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_COMMAND_LIMITS, AuditLog, type AuditCommand } from '@cora/audit';
import { DEFAULT_MAX_FRAME_BYTES, EXEC_LIMITS } from '@cora/ipc';
import { canaryForms, makeCanary } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { offeredEnv } from '../src/cli/commands/exec.ts';
import { CR, useCoraHomes, withApprovalTask, withTask, type CoraHome } from './e2e-helpers.ts';

const PASS = 'audit command passphrase, long enough';
const ECHO = realpathSync('/bin/echo');
const SH = realpathSync('/bin/sh');
const newHome = useCoraHomes(PASS);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

interface Rec {
  readonly type: string;
  readonly command?: AuditCommand;
  readonly [key: string]: unknown;
}

function logBytes(home: CoraHome): Buffer {
  const dir = home.env['CORA_HOME'] ?? '';
  const files = readdirSync(dir).filter((f) => f.startsWith('audit') && f.endsWith('.jsonl'));
  return Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
}

/** Every byte a printable ASCII character or a line end: nothing in it can steer a terminal. */
function expectPrintableAscii(bytes: Buffer): void {
  const bad = bytes.findIndex((b) => b !== 0x0a && (b < 0x20 || b > 0x7e));
  expect(bad).toBe(-1);
}

function expectNoValue(bytes: Buffer, value: Buffer): void {
  for (const form of canaryForms(value)) expect(bytes.includes(Buffer.from(form))).toBe(false);
}

async function until(fn: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the command in the audit log (e2e)', () => {
  it('should record argv and cwd masked, bounded and as data, and show them escaped', async () => {
    const home = await newHome();
    const canary = makeCanary();
    const value = canary.toString('latin1');
    const add = await withTask(home, {
      secret: 'API_KEY',
      value,
      task: 'show',
      args: ['--target', ECHO],
    });
    expect(add.code).toBe(0);
    const long = `L${'x'.repeat(3000)}`;
    const argv = [
      'echo',
      `--header=Authorization: Bearer ${value}`,
      canary.toString('hex'),
      canary.toString('base64'),
      'red\x1b[31mtext\x1b[2J',
      'rtl\u202eevil',
      'a b',
      '',
      long,
      // Past the total of 16 KiB: 20 more arguments of 3 KiB each.
      ...Array.from({ length: 20 }, () => long),
    ];
    const run = await home.cr(['exec', 'show', '--', ...argv]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--header=Authorization: Bearer <concealed:API_KEY>');

    const bytes = logBytes(home);
    expectNoValue(bytes, canary);
    expectPrintableAscii(bytes);

    const shown = await home.cr(['audit', 'show', '--json', '--type', 'task-start']);
    expect(shown.code).toBe(0);
    expectPrintableAscii(Buffer.from(shown.stdout));
    const starts = shown.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Rec);
    const command = starts.at(-1)?.command;
    if (command === undefined) throw new Error('task-start without a command');
    expect(command.cwd).toBe(realpathSync(home.dir.path));
    expect(command.cwdMore).toBe(0);
    expect(command.argv.slice(0, 8)).toEqual([
      'echo',
      '--header=Authorization: Bearer <concealed:API_KEY>',
      '<concealed:API_KEY>',
      '<concealed:API_KEY>',
      'red\x1b[31mtext\x1b[2J', // data: exact after JSON.parse
      'rtl\u202eevil',
      'a b',
      '',
    ]);
    expect(command.argv[8]).toBe(long.slice(0, AUDIT_COMMAND_LIMITS.maxArgBytes));
    expect(command.argvMore[8]).toBe(long.length - AUDIT_COMMAND_LIMITS.maxArgBytes);
    const kept = command.argv.reduce((sum, a) => sum + Buffer.byteLength(a), 0);
    expect(kept).toBeLessThanOrEqual(AUDIT_COMMAND_LIMITS.maxArgvBytes);
    expect(command.argvOmitted).toBeGreaterThan(0);
    expect(command.argv.length + command.argvOmitted).toBe(argv.length);

    const human = await home.cr(['audit', 'show', '--type', 'task-start']);
    expect(human.code).toBe(0);
    expectNoValue(Buffer.from(human.stdout), canary);
    expect(/[\p{Cc}\p{Cf}]/u.test(human.stdout.replaceAll('\n', ''))).toBe(false);
    expect(human.stdout).toContain(`cwd=${realpathSync(home.dir.path)}`);
    expect(human.stdout).toContain(
      "command=echo '--header=Authorization: Bearer <concealed:API_KEY>' '<concealed:API_KEY>'",
    );
    expect(human.stdout).toContain(`$'red\\e[31mtext\\e[2J' $'rtl\\xe2\\x80\\xaeevil' 'a b' ''`);
    expect(human.stdout).toContain(`…(${String(long.length - AUDIT_COMMAND_LIMITS.maxArgBytes)} more bytes)`);
    expect(human.stdout).toContain(`…(${String(command.argvOmitted)} more arguments)`);
  });

  it('should bring a hostile argv at the request size limit to the approver, bounded, and let it run', async () => {
    const home = await withApprovalTask(await newHome(), ECHO, 'once');
    const value = Buffer.from('approve-me-0123456789'); // the TOKEN withApprovalTask stores
    // A small environment, so the request's size is known here to the byte.
    const env: NodeJS.ProcessEnv = {
      PATH: home.env['PATH'],
      HOME: home.env['HOME'],
      PWD: home.dir.path,
      CORA_HOME: home.env['CORA_HOME'],
      XDG_RUNTIME_DIR: home.env['XDG_RUNTIME_DIR'],
      CORA_NODE: home.env['CORA_NODE'],
    };
    const judge = spawn(CR, ['approve', '--passphrase-fd', '3'], {
      env: home.env,
      cwd: home.dir.path,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    children.push(judge);
    let judged = '';
    judge.stdout.on('data', (d: Buffer) => (judged += d.toString()));
    (judge.stdio[3] as NodeJS.WritableStream).end(`${PASS}\n`);
    await until(() => judged.includes('Approver ready'), 'the approver');

    // 256 arguments of escapes (six bytes each as JSON), C1 controls, bidi overrides and a
    // value in three encodings, filling the request to within a few hundred bytes of its frame:
    // the pending event made from it was larger than a frame before arguments were bounded.
    const hostile = (i: number): string => `\x1b[2J\x1b]0;pwned\x07\u202e${String(i)}${'\x9b'.repeat(8)}Z`;
    const cwd = realpathSync(home.dir.path);
    const json = (x: unknown): number => Buffer.byteLength(JSON.stringify(x));
    const argv = ['echo', value.toString(), value.toString('hex'), value.toString('base64')];
    // Frame = 8 bytes + the header; each further argument adds its JSON and a comma.
    let room =
      DEFAULT_MAX_FRAME_BYTES -
      300 -
      8 -
      json({ v: 1, id: 1000, type: 'exec', task: 't', argv, cwd, env: offeredEnv(env) });
    for (let i = argv.length; i < EXEC_LIMITS.maxArgs; i++) argv.push(hostile(i));
    room -= argv.slice(4).reduce((sum, a) => sum + json(a) + 1, 0);
    // Fill each argument to its byte limit with Z (one JSON byte each), then turn Zs into ESC
    // (six JSON bytes for the same one byte) until the frame is nearly full.
    const fill = (i: number, z: number, esc: number): string =>
      `${hostile(i)}${'\x1b'.repeat(esc)}${'Z'.repeat(z)}`;
    const zs = argv.map((a) => EXEC_LIMITS.maxArgBytes - Buffer.byteLength(a));
    for (let i = 4; i < argv.length; i++) {
      const z = Math.min(room, zs[i] ?? 0);
      zs[i] = z;
      argv[i] = fill(i, z, 0);
      room -= z;
    }
    for (let i = 4; i < argv.length && room >= 5; i++) {
      const esc = Math.min(Math.floor(room / 5), zs[i] ?? 0);
      argv[i] = fill(i, (zs[i] ?? 0) - esc, esc);
      room -= 5 * esc;
    }
    const size = 8 + json({ v: 1, id: 1000, type: 'exec', task: 't', argv, cwd, env: offeredEnv(env) });
    expect(size).toBeGreaterThan(DEFAULT_MAX_FRAME_BYTES - 400);
    expect(size).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);

    // Through a shell, so the requester's parent is not an ancestor of the approver.
    const requester = spawn(SH, ['-c', '"$0" exec t -- "$@"; exit $?', CR, ...argv], {
      env,
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(requester);
    let out = 0;
    let err = '';
    requester.stdout.on('data', (d: Buffer) => (out += d.length));
    requester.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((resolve) => requester.on('close', resolve));

    await until(
      () => /Request \d+ \(denied at/.test(judged) && judged.includes('\n  secrets'),
      'the request',
    );
    expectNoValue(Buffer.from(judged), value);
    expect(/[\p{Cc}\p{Cf}]/u.test(judged.replaceAll('\n', ''))).toBe(false);
    expect(judged).toMatch(
      /command {3}echo '<concealed:TOKEN>' '<concealed:TOKEN>' '<concealed:TOKEN>' \$'\\e\[2J\\e\]0;pwned\\x07\\xe2\\x80\\xae4\\xc2\\x9b/,
    );
    // Complete: every line of the request is there, the command cut with its counts.
    for (const line of [
      `  target    ${ECHO}`,
      `  cwd       ${cwd}`,
      '  caller    pid ',
      '  secrets   TOKEN',
    ]) {
      expect(judged).toContain(line);
    }
    expect(judged).toMatch(/…\(\d+ more bytes\)/);
    expect(judged).toMatch(/…\(\d+ more arguments/);
    judge.stdin.write('o\n');
    expect(await exit).toBe(0);
    expect(err).toMatch(/needs approval/);
    expect(out).toBeGreaterThan(900_000); // echo printed every argument, masked

    await until(() => logBytes(home).includes('"type":"task-end"'), 'the task-end record');
    const bytes = logBytes(home);
    expectNoValue(bytes, value);
    expectPrintableAscii(bytes);
    const lines = bytes.toString().trim().split('\n');
    const wanted = lines.filter((l) => /"type":"(approval-requested|task-start)"/.test(l));
    expect(wanted).toHaveLength(2);
    for (const line of wanted) {
      // At most 16 KiB of argument text, six bytes per byte at worst, plus the rest of the record.
      expect(line.length).toBeLessThan(6 * AUDIT_COMMAND_LIMITS.maxArgvBytes + 8192);
      const command = (JSON.parse(line) as Rec).command;
      if (command === undefined) throw new Error('no command');
      expect(command.argv.slice(0, 4)).toEqual([
        'echo',
        '<concealed:TOKEN>',
        '<concealed:TOKEN>',
        '<concealed:TOKEN>',
      ]);
      expect(command.argv.reduce((s, a) => s + Buffer.byteLength(a), 0)).toBeLessThanOrEqual(
        AUDIT_COMMAND_LIMITS.maxArgvBytes,
      );
      expect(command.argv.length + command.argvOmitted).toBe(argv.length);
      expect(command.cwd).toBe(cwd);
    }
  });

  it('should print what other processes chose escaped in tail --follow, and skip lines of no known shape', async () => {
    const home = await newHome();
    const dir = home.env['CORA_HOME'] ?? '';
    mkdirSync(dir, { mode: 0o700 });
    const hostile = '/tmp/\x1b[2J\u202eevil';
    const start = {
      type: 'task-start',
      caller: { pid: 7, uid: 1000, exe: hostile, cli: false },
      task: 't',
      target: hostile,
      secrets: [],
      output: 'masked',
      reason: 'ALLOWED',
      weak: false,
      command: { argv: ['x\x1b]0;t\x07', 'a b'], argvMore: [0, 9], argvOmitted: 2, cwd: hostile, cwdMore: 0 },
    } as const;
    const log = await AuditLog.open({ dir, fsync: false });
    try {
      await log.append(start);
    } finally {
      await log.close();
    }
    const tail = spawn(CR, ['audit', 'tail', '--follow'], {
      env: home.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(tail);
    let out = '';
    tail.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('#1 task-start'), 'the first record');
    // Lines a same-uid process appends behind the writer: the chain is verify's business, but
    // the reader must not print a shape it does not know, nor a control character it was given.
    const forged = (seq: number, fields: object): string =>
      `${JSON.stringify({ v: 1, seq, time: '2026-12-04T00:00:00.000Z', ...fields, prev: '0'.repeat(64), mac: null })}\n`;
    appendFileSync(join(dir, 'audit.jsonl'), forged(2, { ...start, command: { argv: 'NOT-A-LIST' } }));
    appendFileSync(join(dir, 'audit.jsonl'), forged(3, { type: 'x\x1b[2J', caller: start.caller }));
    appendFileSync(
      join(dir, 'audit.jsonl'),
      forged(4, { ...start, command: { ...start.command, argv: ['\u202eX'], argvMore: [0] } }),
    );
    await until(() => out.includes('#4 task-start'), 'the forged record');
    tail.kill('SIGTERM');
    expect(/[\p{Cc}\p{Cf}]/u.test(out.replaceAll('\n', ''))).toBe(false);
    expect(out).not.toContain('NOT-A-LIST');
    expect(out).not.toContain('#2 ');
    expect(out).not.toContain('#3 ');
    expect(out).toContain(`caller=/tmp/\\e[2J\\u202eevil[7]`);
    expect(out).toContain(
      `cwd=$'/tmp/\\e[2J\\xe2\\x80\\xaeevil' command=$'x\\e]0;t\\x07' 'a b' …(9 more bytes) …(2 more arguments)`,
    );
    expect(out).toContain(`command=$'\\xe2\\x80\\xaeX' …(2 more arguments)`);
  });
});
