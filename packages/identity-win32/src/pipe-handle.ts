// SPDX-License-Identifier: AGPL-3.0-only

/**
 * The property (a `Symbol.for` key, so no import is needed) under which `@cora/ipc` on Windows
 * stores a pipe connection's Win32 handle on its `net.Socket`: Node exposes no handle for a
 * named pipe (`_handle.fd` is -1), so the pipe is made through the OS API and its handle kept
 * here for the peer lookup (`GetNamedPipeClientProcessId` / `GetNamedPipeServerProcessId`).
 */
export const PIPE_HANDLE: unique symbol = Symbol.for('@cora/identity-win32.pipeHandle');

/** What is stored under {@link PIPE_HANDLE}. */
export interface PipeHandleInfo {
  /** The Win32 HANDLE of this end of the pipe instance, owned by the socket (valid while it is open). */
  readonly handle: number;
  /** Which end this handle is: `'server'` looks up the client's pid, `'client'` the server's. */
  readonly end: 'server' | 'client';
}
