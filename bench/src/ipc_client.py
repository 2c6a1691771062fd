# SPDX-License-Identifier: AGPL-3.0-only
"""IPC round trips from a Python client (issue 14): what an integrator's non-Node agent sees.

Usage: python3 ipc_client.py KIND SOCKET N
  KIND cora: a Cora `hello`, then N sequential `status` requests (architecture §5 framing:
             u32 BE length of the rest, u32 BE header length, UTF-8 JSON header);
       echo: the same frames to a bare Node server that answers each with a fixed frame;
       ssh:  N ssh-agent REQUEST_IDENTITIES (u32 length, type 11; answer type 12).
Prints one JSON line: {"p50": µs, "p99": µs, "n": N}.
"""
import json
import socket
import struct
import sys
import time


def frame(header):
    body = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack(">II", 4 + len(body), len(body)) + body


def read_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the server closed the connection")
        got += k
    return bytes(buf)


def read_frame(sock):
    (length,) = struct.unpack(">I", read_exact(sock, 4))
    return read_exact(sock, length)


def main():
    kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    if kind == "ssh":
        request = struct.pack(">IB", 1, 11)
    else:
        if kind == "cora":
            sock.sendall(frame({"id": 1, "type": "hello", "protocol": 1, "client": "bench-python"}))
            read_frame(sock)
        request = None
    times = []
    for i in range(n + 200):
        payload = request if request is not None else frame({"id": i + 2, "type": "status"})
        start = time.perf_counter_ns()
        sock.sendall(payload)
        reply = read_frame(sock)
        elapsed = time.perf_counter_ns() - start
        if kind == "ssh" and reply[0] != 12:
            raise RuntimeError("ssh-agent answered type %d" % reply[0])
        if kind == "cora" and b'"error"' in reply:
            raise RuntimeError("cora answered an error: %r" % reply[:200])
        if i >= 200:  # the first 200 warm up both ends
            times.append(elapsed / 1000.0)
    sock.close()
    times.sort()
    print(json.dumps({"p50": times[len(times) // 2], "p99": times[min(len(times) - 1, len(times) * 99 // 100)], "n": n}))


main()
