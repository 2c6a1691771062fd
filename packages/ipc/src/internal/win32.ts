// SPDX-License-Identifier: AGPL-3.0-only
// Windows glue of createIpcServer / connectIpc (architecture §5): the named pipe in place of the
// Unix socket, the same admission and protocol behind it. Loaded only on win32.
import type { Socket } from 'node:net';
import { win32 } from 'node:path';
import { IpcError } from '../errors.ts';
import { adoptWithOwnBuffer } from '../own-read.ts';
import { connectPipe, markPipe, pipeHandleOf, PipeListener, windowsPipePath } from './win32-pipe.ts';

/** The vault home on Windows: `CORA_HOME`, else `%LOCALAPPDATA%\Cora`. */
export function windowsHome(env: NodeJS.ProcessEnv = process.env): string {
  const coraHome = env['CORA_HOME'];
  if (coraHome !== undefined && coraHome !== '') return coraHome;
  const local = env['LOCALAPPDATA'];
  if (local === undefined || local === '') {
    throw new IpcError('UNSAFE_SOCKET_DIR', 'LOCALAPPDATA is not set: cannot place the vault home');
  }
  return win32.join(local, 'Cora');
}

let own: string | undefined;

/** This process's token user SID, through @cora/identity (its Windows package reads the token). */
export async function ownSid(): Promise<string> {
  if (own !== undefined) return own;
  const { processIdentity } = await import('@cora/identity');
  const self = await processIdentity(process.pid);
  self.close();
  const sid = self.identity.sid;
  if (sid === undefined) throw new IpcError('UNSAFE_SOCKET', 'cannot read our own user SID');
  own = sid;
  return sid;
}

/** The default pipe of this user and vault home. */
export async function defaultPipePath(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return windowsPipePath(await ownSid(), windowsHome(env));
}

/** Listen on the pipe; each client arrives as a paused socket reading into `readBuffer`. */
export async function listenPipe(
  path: string,
  readBuffer: Buffer,
  onSocket: (socket: Socket) => void,
): Promise<{ close(): Promise<void> }> {
  const listener = new PipeListener(path, await ownSid(), (raw) => {
    const info = pipeHandleOf(raw);
    const socket = adoptWithOwnBuffer(raw, { buffer: readBuffer });
    if (socket === null || info === undefined) {
      raw.destroy();
      return;
    }
    onSocket(markPipe(socket, info.handle, info.end));
  });
  listener.listen();
  return listener;
}

/** Open the pipe as a client; the caller checks the server before sending anything. */
export function connectToPipe(path: string, timeoutMs: number): Promise<Socket> {
  return connectPipe(path, timeoutMs);
}
