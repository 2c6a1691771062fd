// SPDX-License-Identifier: AGPL-3.0-only
// The floor of ipc-python: a bare Node server on a Unix socket with Cora's framing (u32 BE
// length, u32 BE header length, JSON header) that answers every frame with one fixed frame of
// the size of a `status` reply — no parsing, no identity, no schema.
// Usage: node echo-server.ts SOCKET   (prints READY)
import { createServer } from 'node:net';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: echo-server SOCKET');
const header = Buffer.from(
  JSON.stringify({
    id: 0,
    ok: true,
    result: {
      state: 'locked',
      secrets: 0,
      pid: process.pid,
      socket: path,
      idleDeadline: null,
      version: 'echo',
    },
  }),
);
const reply = Buffer.alloc(8 + header.length);
reply.writeUInt32BE(4 + header.length, 0);
reply.writeUInt32BE(header.length, 4);
header.copy(reply, 8);

createServer((socket) => {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) break;
      pending = pending.subarray(4 + length);
      socket.write(reply);
    }
  });
  socket.on('error', () => undefined);
}).listen(path, () => {
  process.stdout.write('READY\n');
});
