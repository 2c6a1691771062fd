// SPDX-License-Identifier: AGPL-3.0-only
import {
  IpcError,
  type IpcHandlers,
  type RequestContext,
  type SecretMeta,
  type StatusResult,
} from '@cora/ipc';
import type { VerifiedPeer } from '@cora/identity';
import type { SecretBuf } from '@cora/memstore';
import { isCrError, type CrErrorCode } from '../errors.ts';
import { createExecHandler } from './exec.ts';
import { policyExplain, policyGet, policySet } from './policy-handlers.ts';
import type { ServiceState } from './state.ts';

/** What `authenticate` hands every handler: the kernel-verified caller. */
export interface Peer {
  readonly verified: VerifiedPeer;
  /** Whether the caller is this installation's `cr` CLI (DESIGN §7: always passes `callers`). */
  readonly isCli: boolean;
}

/** Fixed facts a handler reports (`status`). */
export interface ServiceInfo {
  readonly socket: string;
  readonly version: string;
}

/** CrError codes the service may raise, as the closed list of wire codes (DESIGN §5). */
const WIRE: Partial<Record<CrErrorCode, ConstructorParameters<typeof IpcError>[0]>> = {
  AUTH_FAILED: 'AUTH_FAILED',
  NO_VAULT: 'NO_VAULT',
  LOCKED: 'LOCKED',
  NOT_FOUND: 'NOT_FOUND',
  INVALID_NAME: 'INVALID_NAME',
  TOO_LARGE: 'TOO_LARGE',
  INVALID_INPUT: 'BAD_REQUEST',
};

/**
 * Re-check the caller before each request (G5): it must still be the process that connected,
 * running the same executable. Then map our errors to wire codes; anything else is rethrown
 * and the server turns it into INTERNAL without its message.
 */
async function guarded<T>(context: RequestContext<Peer>, fn: () => Promise<T>): Promise<T> {
  if (!context.peer.verified.stillSame()) {
    throw new IpcError('NOT_ALLOWED', 'the calling process changed since it connected');
  }
  try {
    return await fn();
  } catch (error) {
    if (isCrError(error)) {
      const code = WIRE[error.code];
      if (code !== undefined) throw new IpcError(code, error.message);
    }
    throw error;
  }
}

function part(context: RequestContext<Peer>, index: number): SecretBuf {
  const buf = context.parts[index];
  if (buf === undefined) throw new IpcError('BAD_REQUEST', 'a part of the attachment is missing');
  return buf;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The service's request handlers (issue 3: status, lock, unlock, secrets.*, passwd).
 * Secrets arrive only as attachment parts, which the server wipes after the handler settles;
 * the state copies what it keeps. Every request but `status` and `lock` counts as activity
 * for the idle timeout (a status bar polling `cr status` must not keep the vault open).
 *
 * @param state - the service state
 * @param info - socket path and version for `status`
 * @returns one handler per request type
 */
export function createHandlers(state: ServiceState, info: ServiceInfo): IpcHandlers<Peer> {
  const status = (): StatusResult => {
    const snap = state.snapshot();
    return {
      state: snap.state,
      secrets: snap.secrets ?? 0,
      pid: process.pid,
      socket: info.socket,
      idleDeadline: snap.idleDeadline,
      version: info.version,
    };
  };
  return {
    status: (_request, context) => guarded(context, () => Promise.resolve(status())),
    lock: (_request, context) =>
      guarded(context, () => {
        state.lock('request');
        return Promise.resolve({ state: 'locked' as const });
      }),
    unlock: (_request, context) =>
      guarded(context, async () => {
        state.touch();
        const unlocked = await state.unlock(part(context, 0));
        if (!unlocked) throw new IpcError('UNLOCKED', 'the service is already unlocked');
        return { state: 'unlocked' as const, secrets: state.snapshot().secrets ?? 0 };
      }),
    'secrets.list': (_request, context) =>
      guarded(context, () => {
        state.touch();
        const list: SecretMeta[] = state
          .list()
          .map((s) => ({ name: s.name, created: iso(s.created), updated: iso(s.updated) }));
        return Promise.resolve(list);
      }),
    'secrets.set': (request, context) =>
      guarded(context, async () => {
        state.touch();
        const replaced = await state.setSecret(request.name, part(context, 1), part(context, 0));
        return { name: request.name, replaced };
      }),
    'secrets.delete': (request, context) =>
      guarded(context, async () => {
        state.touch();
        await state.deleteSecret(request.name, part(context, 0));
        return { name: request.name };
      }),
    'secrets.import': (request, context) =>
      guarded(context, async () => {
        state.touch();
        const items = request.names.map((name, i) => ({ name, value: part(context, i + 1) }));
        const result = await state.importSecrets(items, part(context, 0));
        return { created: result.added, replaced: result.replaced };
      }),
    passwd: (_request, context) =>
      guarded(context, async () => {
        state.touch();
        await state.changePassphrase(part(context, 0), part(context, 1));
        return { changed: true as const };
      }),
    'policy.get': (_request, context) =>
      guarded(context, () => {
        state.touch();
        return Promise.resolve(policyGet(state));
      }),
    'policy.set': (request, context) =>
      guarded(context, () => {
        state.touch();
        return policySet(state, request.policy, part(context, 0));
      }),
    'policy.explain': (request, context) =>
      guarded(context, () => {
        state.touch();
        return Promise.resolve(
          policyExplain(state, request, {
            identity: context.peer.verified.identity,
            isCli: context.peer.isCli,
          }),
        );
      }),
    exec: createExecHandler(state),
  };
}
