// SPDX-License-Identifier: AGPL-3.0-only
/** `cr status`: whether the service runs and is unlocked (never a value). */
import { coraHome, serviceSocketPath, vaultPath } from '../../shared/paths.ts';
import { connectService } from '../client.ts';
import { VERSION } from '../../shared/version.ts';
import { existsSync } from 'node:fs';
import { localTime, out, printJson } from '../output.ts';

export async function cmdStatus(options: { json?: boolean }): Promise<void> {
  const socket = serviceSocketPath(coraHome());
  // Sends nothing secret: the fast connection (client.ts), as a status bar polls it.
  const service = await connectService(coraHome(), { noSecrets: true });
  let status: Record<string, unknown>;
  if (service === null) {
    status = {
      state: 'locked',
      secrets: 0,
      pid: null,
      socket,
      idleDeadline: null,
      version: VERSION,
      running: false,
    };
  } else {
    try {
      status = { ...(await service.status()), running: true };
    } finally {
      service.close();
    }
  }
  status['vault'] = vaultPath(coraHome());
  status['vaultExists'] = existsSync(vaultPath(coraHome()));
  if (options.json === true) {
    printJson(status);
    return;
  }
  out(`state:    ${String(status['state'])}${status['running'] === true ? '' : ' (service not running)'}`);
  if (status['state'] === 'unlocked') out(`secrets:  ${String(status['secrets'])}`);
  const idle = status['idleDeadline'];
  const pid = status['pid'];
  if (typeof idle === 'string') out(`locks at: ${localTime(idle)} if idle`);
  if (typeof pid === 'number') out(`pid:      ${String(pid)}`);
  out(`socket:   ${socket}`);
  out(
    `vault:    ${String(status['vault'])}${status['vaultExists'] === true ? '' : ' (none yet: run cr init)'}`,
  );
  out(`version:  ${VERSION}`);
}
