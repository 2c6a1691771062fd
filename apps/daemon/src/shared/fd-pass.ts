// SPDX-License-Identifier: AGPL-3.0-only
/**
 * Handing the caller's fds 0, 1 and 2 to the service for an `output: passthrough` task (issue
 * 15, SECURITY.md "Passthrough"). Not on the request's connection: libuv reads that one with
 * plain read(), which would drop (close) the descriptors of an SCM_RIGHTS message. The service
 * listens on a one-shot unix socket of its own in its run directory, the caller connects with
 * raw libc calls (no libuv), sends one byte with the three descriptors, and the service takes
 * them only from the process that made the request (SO_PEERCRED pid and uid).
 *
 * Linux, 64-bit: the struct layouts below (msghdr, cmsghdr, ucred, sockaddr_un) are those of
 * glibc on x86_64 and aarch64.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_DONTWAIT = 0x40;
const MSG_CTRUNC = 0x8;
const EAGAIN = 11;
const EINTR = 4;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
/** sun_path is 108 bytes, NUL included. */
const MAX_PATH_BYTES = 107;
/** cmsghdr header: size_t len, int level, int type. */
const CMSG_HEADER = 16;
/** Room for more descriptors than we accept, so extra ones are seen (and closed), not cut. */
const CONTROL_BYTES = CMSG_HEADER + 8 * 4;
/** How often the service looks for the caller's connection. */
const POLL_MS = 5;

interface SockLibc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, addr: null, len: null, flags: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint32Array): number;
  sendmsg(fd: number, msg: Uint8Array, flags: number): number;
  recvmsg(fd: number, msg: Uint8Array, flags: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  close(fd: number): number;
}

let libc: SockLibc | undefined;

function load(): SockLibc {
  if (libc !== undefined) return libc;
  const lib = koffi.load('libc.so.6');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const bind = lib.func('int bind(int fd, void *addr, unsigned int len)');
  const listen = lib.func('int listen(int fd, int backlog)');
  const accept4 = lib.func('int accept4(int fd, void *addr, void *len, int flags)');
  const connect = lib.func('int connect(int fd, void *addr, unsigned int len)');
  const getsockopt = lib.func('int getsockopt(int fd, int level, int name, void *value, void *len)');
  const sendmsg = lib.func('long sendmsg(int fd, void *msg, int flags)');
  const recvmsg = lib.func('long recvmsg(int fd, void *msg, int flags)');
  const close = lib.func('int close(int fd)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, int arg)');
  libc = {
    socket: (d, t, p) => socket(d, t, p) as number,
    bind: (fd, a, l) => bind(fd, a, l) as number,
    listen: (fd, b) => listen(fd, b) as number,
    accept4: (fd, a, l, f) => accept4(fd, a, l, f) as number,
    connect: (fd, a, l) => connect(fd, a, l) as number,
    getsockopt: (fd, lv, n, v, l) => getsockopt(fd, lv, n, v, l) as number,
    sendmsg: (fd, m, f) => Number(sendmsg(fd, m, f) as number | bigint),
    recvmsg: (fd, m, f) => Number(recvmsg(fd, m, f) as number | bigint),
    fcntl: (fd, cmd, arg) => fcntl(fd, cmd, arg) as number,
    close: (fd) => close(fd) as number,
  };
  return libc;
}

/** A fresh off-heap buffer (its address is stable while it lives). */
function bytes(length: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(length));
}

function sockaddr(path: string): { addr: Uint8Array; len: number } {
  const encoded = Buffer.from(path, 'utf8');
  if (encoded.length > MAX_PATH_BYTES || encoded.includes(0)) throw new Error('socket path too long');
  const addr = bytes(2 + MAX_PATH_BYTES + 1);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(encoded, 2);
  return { addr, len: 2 + encoded.length + 1 };
}

/** A msghdr with one iovec over `data` and a control buffer. */
function message(data: Uint8Array, control: Uint8Array): Uint8Array {
  const iov = bytes(16);
  const iovView = new DataView(iov.buffer);
  iovView.setBigUint64(0, koffi.address(data), true);
  iovView.setBigUint64(8, BigInt(data.length), true);
  const msg = bytes(56);
  const view = new DataView(msg.buffer);
  view.setBigUint64(16, koffi.address(iov), true);
  view.setBigUint64(24, 1n, true);
  view.setBigUint64(32, koffi.address(control), true);
  view.setBigUint64(40, BigInt(control.length), true);
  // Keep `iov` reachable while `msg` is used: its address is inside `msg`.
  keep.set(msg, iov);
  return msg;
}
const keep = new WeakMap<Uint8Array, Uint8Array>();

/**
 * The caller's side: send our fds 0, 1, 2 to the service's one-shot socket at `path`.
 * Synchronous and done in a few system calls (the service is already listening).
 * @param path - from the service's `fds` event
 * @throws Error naming the failing call and errno
 */
export function sendStdio(path: string): void {
  const c = load();
  const { addr, len } = sockaddr(path);
  // The child expects blocking stdio, as a shell gives it; libuv may have made one of ours
  // non-blocking (a tty or pipe handle Node opened), and O_NONBLOCK belongs to the open file
  // the child would share: an interactive `input()` then fails at once with EAGAIN.
  for (const stdio of [0, 1, 2]) {
    const flags = c.fcntl(stdio, F_GETFL, 0);
    if (flags >= 0 && (flags & O_NONBLOCK) !== 0) c.fcntl(stdio, F_SETFL, flags & ~O_NONBLOCK);
  }
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket failed (errno ${String(koffi.errno())})`);
  try {
    if (c.connect(fd, addr, len) !== 0) throw new Error(`connect failed (errno ${String(koffi.errno())})`);
    const control = bytes(CMSG_HEADER + 16);
    const view = new DataView(control.buffer);
    view.setBigUint64(0, BigInt(CMSG_HEADER + 12), true);
    view.setInt32(8, SOL_SOCKET, true);
    view.setInt32(12, SCM_RIGHTS, true);
    view.setInt32(16, 0, true);
    view.setInt32(20, 1, true);
    view.setInt32(24, 2, true);
    const data = bytes(1);
    data[0] = 0x46; // 'F'
    if (c.sendmsg(fd, message(data, control), 0) !== 1) {
      throw new Error(`sendmsg failed (errno ${String(koffi.errno())})`);
    }
  } finally {
    c.close(fd);
  }
}

/** The service's one-shot socket for one request's fds. */
export interface StdioReceiver {
  /** Where the caller connects (sent to it in the `fds` event). */
  readonly path: string;
  /**
   * Wait for the caller's fds 0, 1, 2 (O_CLOEXEC here). The first connection decides: one from
   * another process or uid, or a message without exactly three descriptors, rejects (and every
   * descriptor received is closed).
   * @param expected - pid and uid of the process that made the request
   * @param signal - aborts the wait (the caller went away)
   * @param timeoutMs - how long the caller has
   */
  receive(
    expected: { pid: number; uid: number },
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<[number, number, number]>;
  /** Stop listening and remove the socket file. Idempotent. */
  close(): void;
}

/**
 * Listen on a fresh socket in `dir` (the service's run directory, 0700).
 * @param dir - where the socket file goes
 * @returns the receiver
 */
export function listenForStdio(dir: string): StdioReceiver {
  const c = load();
  const path = join(dir, `fds-${randomBytes(8).toString('hex')}.sock`);
  const { addr, len } = sockaddr(path);
  const listener = c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) throw new Error(`socket failed (errno ${String(koffi.errno())})`);
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    c.close(listener);
    rmSync(path, { force: true });
  };
  if (c.bind(listener, addr, len) !== 0 || c.listen(listener, 1) !== 0) {
    const errno = koffi.errno();
    close();
    throw new Error(`cannot listen for the caller's fds (errno ${String(errno)})`);
  }
  return {
    path,
    close,
    receive: async (expected, signal, timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      /** Retry `call` every POLL_MS while it answers EAGAIN, until the deadline or an abort. */
      const poll = async (call: () => number, what: string): Promise<number> => {
        for (;;) {
          if (!open) throw new Error('the receiver was closed');
          if (signal.aborted) throw new Error('the caller went away');
          const rc = call();
          if (rc >= 0) return rc;
          const errno = koffi.errno();
          if (errno !== EAGAIN && errno !== EINTR) throw new Error(`${what} failed (errno ${String(errno)})`);
          if (performance.now() >= deadline) throw new Error('the caller did not hand over its fds in time');
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
      };
      const conn = await poll(() => c.accept4(listener, null, null, SOCK_CLOEXEC | SOCK_NONBLOCK), 'accept');
      try {
        checkPeer(c, conn, expected);
        const data = bytes(1);
        const control = bytes(CONTROL_BYTES);
        const msg = message(data, control);
        const n = await poll(() => c.recvmsg(conn, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC), 'recvmsg');
        return takeFds(c, n, msg, control);
      } finally {
        c.close(conn);
      }
    },
  };
}

function checkPeer(c: SockLibc, conn: number, expected: { pid: number; uid: number }): void {
  const cred = bytes(12);
  const len = new Uint32Array(new ArrayBuffer(4));
  len[0] = 12;
  if (c.getsockopt(conn, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0) {
    throw new Error(`SO_PEERCRED failed (errno ${String(koffi.errno())})`);
  }
  const view = new DataView(cred.buffer);
  const pid = view.getInt32(0, true);
  const uid = view.getUint32(4, true);
  if (pid !== expected.pid || uid !== expected.uid) {
    throw new Error(`another process (pid ${String(pid)}) connected for the caller's fds`);
  }
}

/** The descriptors of the one byte read, or a throw (closing whatever came) when it is not 0, 1, 2's three. */
function takeFds(c: SockLibc, n: number, msg: Uint8Array, control: Uint8Array): [number, number, number] {
  const view = new DataView(msg.buffer);
  const flags = view.getInt32(48, true);
  const controlLen = Number(view.getBigUint64(40, true));
  const received: number[] = [];
  const cview = new DataView(control.buffer);
  if (
    controlLen >= CMSG_HEADER &&
    cview.getInt32(8, true) === SOL_SOCKET &&
    cview.getInt32(12, true) === SCM_RIGHTS
  ) {
    const cmsgLen = Math.min(Number(cview.getBigUint64(0, true)), controlLen);
    for (let at = CMSG_HEADER; at + 4 <= cmsgLen; at += 4) received.push(cview.getInt32(at, true));
  }
  if (n !== 1 || received.length !== 3 || (flags & MSG_CTRUNC) !== 0) {
    for (const fd of received) c.close(fd);
    throw new Error('the caller did not send exactly its fds 0, 1 and 2');
  }
  return received as [number, number, number];
}

/**
 * Close descriptors received from {@link StdioReceiver.receive} (once the child has its copies).
 * @param fds - the descriptors
 */
export function closeFds(fds: readonly number[]): void {
  const c = load();
  for (const fd of fds) c.close(fd);
}
