// SPDX-License-Identifier: AGPL-3.0-only
// The server half of ipc-roundtrip: @cora/ipc with the service's per-connection identity work.
// Only `status` answers; every other request is refused as the service would refuse a caller.
import { peerIdentity, type VerifiedPeer } from '@cora/identity';
import { IpcError, createIpcServer, type IpcHandlers } from '@cora/ipc';

const socketPath = process.argv[2];
if (socketPath === undefined) throw new Error('usage: ipc-server SOCKET');

const refuse = (): Promise<never> =>
  Promise.reject(new IpcError('NOT_ALLOWED', 'bench server answers status only'));
const handlers: IpcHandlers<VerifiedPeer> = {
  status: (_request, context) => {
    if (process.env['NO_RECHECK'] === undefined && !context.peer.stillSame())
      return Promise.reject(new IpcError('NOT_ALLOWED', 'caller changed'));
    return Promise.resolve({
      state: 'locked',
      secrets: 0,
      pid: process.pid,
      socket: socketPath,
      idleDeadline: null,
      version: 'bench',
    });
  },
  lock: refuse,
  unlock: refuse,
  init: refuse,
  'secrets.list': refuse,
  'secrets.set': refuse,
  'secrets.delete': refuse,
  'secrets.import': refuse,
  passwd: refuse,
};

await createIpcServer<VerifiedPeer>({
  socketPath,
  authenticate: (socket) => peerIdentity(socket),
  handlers,
  onDisconnect: (peer) => {
    peer.close();
  },
  // The default token bucket (100/s) would measure the limiter, not the round trip.
  limits: { rate: { capacity: 1_000_000, refillPerSecond: 1_000_000 } },
});
// Exit cleanly on SIGINT so --cpu-prof (BENCH_PROF=1) can write its profile.
process.on('SIGINT', () => process.exit(0));
console.log('listening');
