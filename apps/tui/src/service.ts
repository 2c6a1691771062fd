// SPDX-License-Identifier: AGPL-3.0-only
import type { IpcClient } from '@cora/ipc';
import type { TuiService } from './types.ts';

/**
 * A {@link TuiService} over an `@cora/ipc` client: the same requests `cr` sends, the
 * passphrase and values only as attachment parts (DESIGN §5). Errors are the client's
 * `IpcError`s, unchanged.
 *
 * @param client - a connected client (closed by {@link TuiService.close})
 * @returns the service
 * @example
 * ```ts
 * const service = serviceFromIpc(await connectIpc({ clientName: 'cr/0.1.0' }));
 * const status = await service.status();
 * ```
 */
export function serviceFromIpc(client: IpcClient): TuiService {
  return {
    status: () => client.request('status', {}),
    unlock: (passphrase) => client.request('unlock', {}, { parts: [passphrase] }),
    lock: async () => {
      await client.request('lock', {});
    },
    listSecrets: () => client.request('secrets.list', {}),
    setSecret: (name, value, passphrase) =>
      client.request('secrets.set', { name }, { parts: [passphrase, value] }),
    deleteSecret: async (name, passphrase) => {
      await client.request('secrets.delete', { name }, { parts: [passphrase] });
    },
    importSecrets: (names, values, passphrase) =>
      client.request('secrets.import', { names }, { parts: [passphrase, ...values] }),
    getPolicy: async () => (await client.request('policy.get', {})).policy,
    setPolicy: async (policy, passphrase) => {
      await client.request('policy.set', { policy }, { parts: [passphrase] });
    },
    explain: (task, argv, caller) =>
      client.request('policy.explain', caller === undefined ? { task, argv } : { task, argv, caller }),
    approve: (passphrase, handlers) => {
      const handle = client.approve(passphrase, handlers);
      return { done: handle.done, decide: (id, decision) => handle.decide(id, decision) };
    },
    verifyAudit: () => client.request('audit.verify', {}),
    close: () => {
      client.close();
    },
  };
}
