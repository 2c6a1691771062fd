// SPDX-License-Identifier: AGPL-3.0-only
// A revoke is effective at once (architecture §7): an exec that was allowed by a grant and is
// waiting for its task-start record when the grant is revoked must not start. A real
// @cora/ipc server and client, the real exec handler and Approvals; the audit log is a fake
// whose task-start write the test holds back, so the revoke lands in exactly that window.
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent, AuditLog } from '@cora/audit';
import type { CallerIdentity } from '@cora/identity';
import { peerIdentity } from '@cora/identity';
import {
  IpcError,
  connectIpc,
  createIpcServer,
  type IpcClient,
  type IpcHandlers,
  type IpcServer,
} from '@cora/ipc';
import { SecretBuf } from '@cora/memstore';
import { parsePolicy } from '@cora/policy';
import { makeTempDir, type TempDir } from '@cora/test-utils';
import { Approvals, type ApproverSession } from '../src/service/approvals.ts';
import { ServiceAudit } from '../src/service/audit.ts';
import { createExecHandler, type ExecDeps } from '../src/service/exec-handler.ts';
import type { Peer } from '../src/service/peer.ts';

const SH = realpathSync('/bin/sh');
const policy = parsePolicy({
  version: 1,
  callers: [],
  tasks: { t: { secrets: ['SECRET'], targets: [SH], approve: 'window:1m' } },
});
const deps: ExecDeps = {
  policy: () => policy,
  unlockedAt: () => Date.now() - 1000,
  secretsFor: (names) =>
    names.map((name) => ({ name, value: SecretBuf.from(Buffer.from('race-value-0123')) })),
  missingSecret: () => null,
};
const refuse = (): Promise<never> => Promise.reject(new IpcError('NOT_ALLOWED', 'not in this test'));
/** Every handler a server must have, refusing: this test sends `exec` only. */
const REQUIRED = [
  ...['status', 'lock', 'unlock', 'init', 'passwd'],
  ...['secrets.list', 'secrets.set', 'secrets.delete', 'secrets.import'],
] as const;
const refuseAll = Object.fromEntries(REQUIRED.map((type) => [type, refuse])) as unknown as Pick<
  IpcHandlers<Peer>,
  (typeof REQUIRED)[number]
>;

/** An audit log that records events and holds `task-start` until the test releases it. */
function heldLog(): { log: AuditLog; events: AuditEvent[]; held: Promise<() => void> } {
  const events: AuditEvent[] = [];
  let onHeld: (release: () => void) => void = () => undefined;
  const held = new Promise<() => void>((resolve) => (onHeld = resolve));
  const fake = {
    append: (event: AuditEvent): Promise<void> => {
      events.push(event);
      if (event.type !== 'task-start') return Promise.resolve();
      return new Promise<void>((resolve) => {
        onHeld(resolve);
      });
    },
  };
  // Strict: anything but append is a test bug.
  const log = new Proxy(fake, {
    get: (target, key) => {
      if (key === 'append') return target.append;
      throw new Error(`the fake audit log has no ${String(key)}`);
    },
  }) as unknown as AuditLog;
  return { log, events, held };
}

let dir: TempDir | undefined;
let server: IpcServer | undefined;
let client: IpcClient | undefined;
afterEach(async () => {
  client?.close();
  await server?.close();
  await dir?.remove();
});

/** A grant for this process (the exec's caller), made by an approver from elsewhere. */
async function grantFor(approvals: Approvals, caller: CallerIdentity): Promise<void> {
  const approver: ApproverSession = {
    identity: { ...caller, pid: 999_999, startTime: 1n, ancestry: [] },
    send: () => undefined,
    end: () => undefined,
  };
  approvals.attach(approver);
  const asked = approvals.ask(
    {
      task: 't',
      target: SH,
      command: { argv: ['sh'], argvMore: [0], argvOmitted: 0, cwd: '/', cwdMore: 0 },
      secrets: ['SECRET'],
      caller,
      windowMs: 60_000,
      windowLabel: '1m',
    },
    new AbortController().signal,
  );
  expect(approvals.decide(approver, asked.id, 'allow-window')).toBe(true);
  await expect(asked.outcome).resolves.toMatchObject({ kind: 'granted', scope: 'window' });
}

describe('grants.revoke racing an exec', () => {
  it('should refuse an exec whose grant is revoked while its task-start record is written', async () => {
    dir = await makeTempDir('cora-grants-race-');
    const { log, events, held } = heldLog();
    const audit = new ServiceAudit(log, () => undefined);
    const approvals = new Approvals();
    let identity: CallerIdentity | undefined;
    server = await createIpcServer<Peer>({
      socketPath: join(dir.path, 's.sock'),
      authenticate: async (socket) => {
        const verified = await peerIdentity(socket);
        identity = verified.identity;
        return { verified, isCli: true };
      },
      handlers: { ...refuseAll, exec: createExecHandler(deps, audit, approvals) },
      onDisconnect: (peer) => {
        peer.verified.close();
      },
    });
    client = await connectIpc({ socketPath: server.path });
    if (identity === undefined) throw new Error('not identified');
    await grantFor(approvals, identity);
    expect(approvals.grants()).toHaveLength(1);

    let started = false;
    const run = client.exec(
      { task: 't', argv: [SH, '-c', 'true'], cwd: dir.path, env: { PATH: '/usr/bin:/bin' } },
      {
        onStarted: () => {
          started = true;
        },
      },
    );
    // The grant allowed it; now it waits for task-start. Revoke in that window.
    const release = await held;
    expect(events.at(-1)).toMatchObject({ type: 'task-start', reason: 'ALLOWED_BY_GRANT' });
    expect(approvals.revoke('all')).toHaveLength(1);
    release();
    await expect(run.done).rejects.toMatchObject({ code: 'DENIED', message: /revoked meanwhile/ });
    expect(started).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'task-refused', task: 't', reason: 'GRANT_REVOKED' });
  });
});
