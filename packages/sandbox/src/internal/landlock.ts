// SPDX-License-Identifier: AGPL-3.0-only
// The Landlock system calls and prctl through koffi (architecture §3, §12). Linux only.
import koffi from 'koffi';
import { SandboxError } from '../errors.ts';

/**
 * Syscall numbers: x86_64 (arch/x86/entry/syscalls/syscall_64.tbl) and the generic table
 * aarch64 uses (include/uapi/asm-generic/unistd.h) give Landlock the same three numbers.
 */
const SYSCALLS: Readonly<Record<string, { create: number; addRule: number; restrict: number }>> = {
  x64: { create: 444, addRule: 445, restrict: 446 },
  arm64: { create: 444, addRule: 445, restrict: 446 },
};

/** `LANDLOCK_CREATE_RULESET_VERSION`: ask for the ABI version instead of creating a ruleset. */
const CREATE_RULESET_VERSION = 1 << 0;
/** `LANDLOCK_RULE_PATH_BENEATH`. */
const RULE_PATH_BENEATH = 1;
/** `LANDLOCK_RULE_NET_PORT` (ABI 4). */
const RULE_NET_PORT = 2;
/** `PR_SET_NO_NEW_PRIVS` (<linux/prctl.h>). */
const PR_SET_NO_NEW_PRIVS = 38;
/** `O_PATH` on x86_64 and aarch64 (asm-generic/fcntl.h); Node's `fs.constants` lacks it. */
export const O_PATH = 0o10000000;

type SyscallFn = (number: number, ...args: unknown[]) => number | bigint;
type PrctlFn = (option: number, a2: number, a3: number, a4: number, a5: number) => number;

interface Libc {
  readonly syscall: SyscallFn;
  readonly prctl: PrctlFn;
  readonly close: (fd: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc !== undefined) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    syscall: lib.func('long syscall(long number, ...)') as SyscallFn,
    prctl: lib.func(
      'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
    ) as PrctlFn,
    close: lib.func('int close(int fd)') as (fd: number) => number,
  };
  return libc;
}

function numbers(): { create: number; addRule: number; restrict: number } {
  const found = SYSCALLS[process.arch];
  if (process.platform !== 'linux' || found === undefined) {
    throw new SandboxError(
      'ARCH_UNSUPPORTED',
      `Landlock syscall numbers are known for linux x64 and arm64 only, not ${process.platform} ${process.arch}`,
    );
  }
  return found;
}

function fail(call: string): never {
  const errno = koffi.errno();
  throw new SandboxError('SYSCALL_FAILED', `${call} failed with errno ${String(errno)}`, { errno });
}

/** The Landlock ABI version, or 0 when the kernel has none or it is disabled (ENOSYS, EOPNOTSUPP). */
export function abiVersion(): number {
  const n = numbers();
  const result = Number(
    load().syscall(n.create, 'void *', null, 'size_t', 0, 'uint32_t', CREATE_RULESET_VERSION),
  );
  return result < 0 ? 0 : result;
}

/**
 * A new ruleset handling `handledFs`, `handledNet` and `scoped` (struct landlock_ruleset_attr:
 * three u64, handled_access_fs, handled_access_net, scoped; an older kernel accepts the larger
 * struct when the fields it does not know are 0).
 */
export function createRuleset(handledFs: number, handledNet: number, scoped: number): number {
  const attr = Buffer.alloc(24);
  attr.writeBigUInt64LE(BigInt(handledFs), 0);
  attr.writeBigUInt64LE(BigInt(handledNet), 8);
  attr.writeBigUInt64LE(BigInt(scoped), 16);
  const fd = Number(load().syscall(numbers().create, 'void *', attr, 'size_t', 24, 'uint32_t', 0));
  if (fd < 0) fail('landlock_create_ruleset');
  return fd;
}

/** Add a path-beneath rule (struct landlock_path_beneath_attr, packed: u64 allowed, s32 fd). */
export function addPathRule(rulesetFd: number, pathFd: number, access: number): void {
  const attr = Buffer.alloc(12);
  attr.writeBigUInt64LE(BigInt(access), 0);
  attr.writeInt32LE(pathFd, 8);
  const n = numbers();
  const result = Number(
    load().syscall(n.addRule, 'int', rulesetFd, 'int', RULE_PATH_BENEATH, 'void *', attr, 'uint32_t', 0),
  );
  if (result !== 0) fail('landlock_add_rule');
}

/** Add a TCP port rule (struct landlock_net_port_attr: u64 allowed_access, u64 port). */
export function addNetRule(rulesetFd: number, port: number, access: number): void {
  const attr = Buffer.alloc(16);
  attr.writeBigUInt64LE(BigInt(access), 0);
  attr.writeBigUInt64LE(BigInt(port), 8);
  const n = numbers();
  const result = Number(
    load().syscall(n.addRule, 'int', rulesetFd, 'int', RULE_NET_PORT, 'void *', attr, 'uint32_t', 0),
  );
  if (result !== 0) fail('landlock_add_rule(net_port)');
}

/** `PR_SET_NO_NEW_PRIVS`: no setuid, setgid or file capability gain across execve, for good. */
export function setNoNewPrivs(): void {
  if (load().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) !== 0) fail('prctl(PR_SET_NO_NEW_PRIVS)');
}

/** Enforce the ruleset on the calling thread (and everything it execs or forks from now). */
export function restrictSelf(rulesetFd: number): void {
  const result = Number(load().syscall(numbers().restrict, 'int', rulesetFd, 'uint32_t', 0));
  if (result !== 0) fail('landlock_restrict_self');
}

/** close(2), ignoring errors (the fd is ours and closed once). */
export function closeFd(fd: number): void {
  load().close(fd);
}
