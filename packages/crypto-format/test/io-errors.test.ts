// SPDX-License-Identifier: AGPL-3.0-only
// Real file-system failures reach the caller as CryptoFormatErrors it can tell apart (DISK_FULL,
// READ_ONLY, PERMISSION_DENIED, IO_ERROR) with the step that failed and the errno, and leave no
// temp file behind. Failures come from the kernel: strace fault injection into the real system
// calls, a tiny or read-only tmpfs in a private mount namespace, a directory without write
// permission for a process without DAC override. Each case is one short child process.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CryptoFormatError, isCryptoFormatError, writeFileAtomic } from '../src/index.ts';
import { ioError } from '../src/internal/ioerror.ts';
import { fixture, tempDir } from './helpers.ts';

/** What the fixture reports: the error's fields, the directory listing, the files' content. */
interface Outcome {
  readonly ok: boolean;
  readonly code?: string;
  readonly step?: string;
  readonly errno?: string;
  readonly path?: string;
  readonly message?: string;
  readonly files: string[];
  readonly content: string | null;
  readonly prev: string | null;
}

const CHILD = [process.execPath, '--conditions=cora-source', fixture('io-fault.ts')];
const isRoot = process.getuid?.() === 0;

function works(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

// ptrace may be forbidden (containers, yama); then there is nothing to inject with.
const canTrace = works('strace', ['-qq', '-o', '/dev/null', 'true']);
const canMount = ((): boolean => {
  if (!isRoot) return false;
  const probe = mkdtempSync(join(tmpdir(), 'cora-cf-mount-'));
  try {
    return works('unshare', ['--mount', 'sh', '-c', 'mount -t tmpfs -o size=4k tmpfs "$0"', probe]);
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();
// Root bypasses file modes; without CAP_DAC_OVERRIDE (dropped from the bounding set) it does not.
const dropDac = isRoot ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'] : [];
const canDenyAccess = !isRoot || works('setpriv', ['--bounding-set=-dac_override,-dac_read_search', 'true']);

function run(prefix: readonly string[], op: string, path: string, bytes = '8'): Outcome {
  const [command, ...args] = [...prefix, ...CHILD, op, path, bytes];
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`the fixture printed no outcome: ${result.stderr}`);
  return JSON.parse(line) as Outcome;
}

/** strace making every matching call fail with `errno`; `only` limits it to calls on that path. */
function inject(syscall: string, errno: string, only?: string): string[] {
  const where = only === undefined ? [] : ['-P', only];
  const tamper = ['-e', `trace=${syscall}`, '-e', `inject=${syscall}:error=${errno}`];
  return ['strace', '-f', '-qq', '--seccomp-bpf', '-o', '/dev/null', ...where, ...tamper, '--'];
}

let dir: string;
let cleanup: () => void;
let path: string;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  path = join(dir, 'vault.cora');
  writeFileSync(path, 'old', { mode: 0o600 });
});
afterEach(() => {
  chmodSync(dir, 0o700);
  cleanup();
});

function expectFailure(outcome: Outcome, code: string, step: string, errno: string): void {
  expect(outcome.ok).toBe(false);
  expect({ code: outcome.code, step: outcome.step, errno: outcome.errno }).toEqual({ code, step, errno });
  expect(outcome.message).toContain(`(${errno})`);
  expect(outcome.files.filter((name) => name.endsWith('.tmp'))).toEqual([]); // no temp left
}

describe.skipIf(!canTrace)('I/O failures injected with strace', () => {
  it('should report EIO at the temp file fsync as IO_ERROR/fsync and leave the old file', () => {
    const outcome = run(inject('fsync', 'EIO'), 'write', path);
    expectFailure(outcome, 'IO_ERROR', 'fsync', 'EIO');
    expect(outcome.path).toBe(path);
    expect(outcome.message).toContain('the file was not changed');
    expect([outcome.files, outcome.content]).toEqual([['vault.cora'], 'old']);
  });

  it('should report EIO at the directory fsync as IO_ERROR/fsync-dir: the new file IS in place', () => {
    const outcome = run(inject('fsync', 'EIO', dir), 'write', path);
    expectFailure(outcome, 'IO_ERROR', 'fsync-dir', 'EIO');
    expect(outcome.message).toContain('the new file IS in place');
    expect([outcome.content, outcome.prev]).toEqual(['nnnnnnnn', 'old']);
    expect(outcome.files).toEqual(['vault.cora', 'vault.cora.prev']);
  });

  it('should report ENOSPC while writing the temp file as DISK_FULL/write-temp', () => {
    const outcome = run(inject('pwrite64', 'ENOSPC'), 'write', path);
    expectFailure(outcome, 'DISK_FULL', 'write-temp', 'ENOSPC');
    expect(outcome.message).toMatch(/no space left on device.*free some space/i);
    expect([outcome.files, outcome.content]).toEqual([['vault.cora'], 'old']);
  });

  it('should report EDQUOT as DISK_FULL too, with its own errno', () => {
    const outcome = run(inject('pwrite64', 'EDQUOT'), 'write', path);
    expectFailure(outcome, 'DISK_FULL', 'write-temp', 'EDQUOT');
    expect(outcome.content).toBe('old');
  });

  it('should report EIO at the .prev rename as IO_ERROR/keep-previous, both names unchanged', () => {
    const outcome = run(inject('rename', 'EIO'), 'write', path);
    expectFailure(outcome, 'IO_ERROR', 'keep-previous', 'EIO');
    expect([outcome.files, outcome.content, outcome.prev]).toEqual([['vault.cora'], 'old', null]);
  });

  it('should report EIO at the final rename as IO_ERROR/rename and leave the old file', () => {
    const outcome = run(inject('rename', 'EIO'), 'write-noprev', path);
    expectFailure(outcome, 'IO_ERROR', 'rename', 'EIO');
    expect(outcome.message).toContain('the file was not replaced');
    expect([outcome.files, outcome.content]).toEqual([['vault.cora'], 'old']);
  });

  it('should report EIO while reading as IO_ERROR/read', () => {
    const outcome = run(inject('pread64', 'EIO', path), 'read', path);
    expectFailure(outcome, 'IO_ERROR', 'read', 'EIO');
    expect(outcome.content).toBe('old');
  });
});

describe.skipIf(!canMount)('I/O failures on a real tmpfs (private mount namespace, root)', () => {
  /** Mount a tmpfs of `size` on a fresh directory, put "old" there, run `prepare`, then the op. */
  function onTmpfs(size: string, prepare: string, op: string, bytes?: string): Outcome {
    const mount = join(dir, 'mnt');
    mkdirSync(mount);
    const script = `mount -t tmpfs -o size=${size},mode=0700 tmpfs "$0" && printf old > "$0/vault.cora" && ${prepare} && exec "$@"`;
    return run(['unshare', '--mount', 'sh', '-c', script, mount], op, join(mount, 'vault.cora'), bytes);
  }

  it('should report a full file system as DISK_FULL/write-temp and leave the old file', () => {
    const outcome = onTmpfs('16k', 'true', 'write', String(64 * 1024));
    expectFailure(outcome, 'DISK_FULL', 'write-temp', 'ENOSPC');
    expect([outcome.files, outcome.content]).toEqual([['vault.cora'], 'old']);
  });

  it('should report a read-only file system as READ_ONLY at create-temp and at lock', () => {
    const write = onTmpfs('64k', 'mount -o remount,ro "$0"', 'write');
    expectFailure(write, 'READ_ONLY', 'create-temp', 'EROFS');
    expect(write.message).toContain('remount the file system read-write');
    expect([write.files, write.content]).toEqual([['vault.cora'], 'old']);
    rmSync(join(dir, 'mnt'), { recursive: true });
    const lock = onTmpfs('64k', 'mount -o remount,ro "$0"', 'lock');
    expectFailure(lock, 'READ_ONLY', 'lock', 'EROFS');
    expect(lock.path).toMatch(/vault\.cora\.lock$/);
  });
});

describe.skipIf(!canDenyAccess)('permission failures (no DAC override)', () => {
  it('should report a directory without write permission as PERMISSION_DENIED/create-temp', () => {
    chmodSync(dir, 0o500);
    const outcome = run(dropDac, 'write', path);
    expectFailure(outcome, 'PERMISSION_DENIED', 'create-temp', 'EACCES');
    expect(outcome.message).toContain('check the owner and mode');
    expect([outcome.files, outcome.content]).toEqual([['vault.cora'], 'old']);
    expectFailure(run(dropDac, 'lock', path), 'PERMISSION_DENIED', 'lock', 'EACCES');
  });

  it('should report an unreadable file as PERMISSION_DENIED/read', () => {
    chmodSync(path, 0o000);
    expectFailure(run(dropDac, 'read', path), 'PERMISSION_DENIED', 'read', 'EACCES');
  });
});

describe('errno to code', () => {
  it('should map every errno to its code and keep path, step and errno', () => {
    const cases: [string, string][] = [
      ['ENOSPC', 'DISK_FULL'],
      ['EDQUOT', 'DISK_FULL'],
      ['EFBIG', 'DISK_FULL'],
      ['EROFS', 'READ_ONLY'],
      ['EACCES', 'PERMISSION_DENIED'],
      ['EPERM', 'PERMISSION_DENIED'],
      ['EIO', 'IO_ERROR'],
      ['ENOTDIR', 'IO_ERROR'],
      ['EMFILE', 'IO_ERROR'],
    ];
    for (const [errno, code] of cases) {
      const cause = Object.assign(new Error(`${errno}: from the kernel`), { code: errno, errno: -1 });
      const error = ioError(cause, 'fsync', '/home/u/.cora/vault.cora');
      expect(isCryptoFormatError(error), errno).toBe(true);
      const { path: where, step, cause: inner } = error as CryptoFormatError;
      expect([(error as CryptoFormatError).code, where, step, (error as CryptoFormatError).errno]).toEqual([
        code,
        '/home/u/.cora/vault.cora',
        'fsync',
        errno,
      ]);
      expect(inner).toBe(cause);
    }
  });

  it('should name an errno libuv does not know from its number (EDQUOT is -122 on Linux)', () => {
    const number = -constants.errno.EDQUOT;
    const cause = Object.assign(new Error(`Unknown system error ${number}`), {
      code: `Unknown system error ${number}`,
      errno: number,
    });
    const error = ioError(cause, 'write-temp', '/v') as CryptoFormatError;
    expect([error.code, error.errno]).toEqual(['DISK_FULL', 'EDQUOT']);
    expect(error.message).toContain('disk quota exceeded (EDQUOT)');
  });

  it('should pass through what is not a system error', () => {
    const bug = new TypeError('not a file-system error');
    expect(ioError(bug, 'read', '/x')).toBe(bug);
    const own = new CryptoFormatError('FILE_CHANGED', 'grew');
    expect(ioError(own, 'read', '/x')).toBe(own);
  });

  it('should report a rename over a non-empty directory as IO_ERROR/rename and remove the temp', async () => {
    const target = join(dir, 'occupied');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'x');
    let caught: unknown;
    try {
      await writeFileAtomic(target, Buffer.from('data'));
    } catch (error) {
      caught = error;
    }
    expect(isCryptoFormatError(caught, 'IO_ERROR')).toBe(true);
    expect([(caught as CryptoFormatError).step, (caught as CryptoFormatError).path]).toEqual([
      'rename',
      target,
    ]);
  });
});
