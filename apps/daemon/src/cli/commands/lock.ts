// SPDX-License-Identifier: AGPL-3.0-only
/** `cr lock`: wipe every secret from the service's memory. */
import { coraHome } from '../../shared/paths.ts';
import { connectService } from '../client.ts';
import { out } from '../output.ts';

export async function cmdLock(): Promise<void> {
  const service = await connectService(coraHome());
  if (service === null) {
    out('The service is not running: nothing is unlocked.');
    return;
  }
  try {
    await service.lock();
    out('Locked.');
  } finally {
    service.close();
  }
}
