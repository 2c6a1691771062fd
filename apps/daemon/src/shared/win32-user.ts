// SPDX-License-Identifier: AGPL-3.0-only
// The user's SID on Windows, read once at start-up (the token read is asynchronous in
// @cora/identity) so that the path and ACL checks that need it can stay synchronous.

let sid: string | undefined;

/**
 * Read this process's token user SID (Windows only; elsewhere a no-op). The CLI and the
 * service call it before anything that needs {@link userSid}.
 * @returns the SID, or undefined off Windows
 */
export async function loadUserSid(): Promise<string | undefined> {
  if (process.platform !== 'win32') return undefined;
  if (sid !== undefined) return sid;
  const { processIdentity } = await import('@cora/identity');
  const self = await processIdentity(process.pid);
  self.close();
  if (self.identity.sid === undefined) throw new Error('cannot read the user SID of this process');
  sid = self.identity.sid;
  return sid;
}

/**
 * The SID {@link loadUserSid} read.
 * @throws Error when it was not read (a start-up path that forgot to).
 */
export function userSid(): string {
  if (sid === undefined) throw new Error('the user SID was not read at start-up (loadUserSid)');
  return sid;
}
