// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback } from 'react';
import type { SecretBuf } from '@cora/memstore';
import type { TuiService } from '../../../types.ts';
import { useTui } from '../../context.tsx';
import type { CaptureEnd } from '../../raw-input.ts';
import { useListKeys } from '../../screen-keys.ts';
import { useSecretReducer } from '../../secret-state.ts';
import { lastUsed, messageOf } from '../../util.ts';
import {
  initialSecrets,
  pendingRequest,
  requestBytes,
  SECRETS,
  secretsKey,
  type SecretsRequest,
  type SecretsState,
} from './state.ts';

/** What the secrets view shows and calls. */
export interface SecretsModel {
  readonly state: SecretsState;
  readonly rows: number;
  readonly compact: boolean;
  readonly cancel: (why: CaptureEnd) => void;
  readonly name: (name: string) => void;
  readonly value: (value: SecretBuf) => void;
  readonly deleteAnswer: (yes: boolean) => void;
  readonly importPath: (file: string) => void;
  readonly importAnswer: (yes: boolean) => void;
  readonly passphrase: (passphrase: SecretBuf) => void;
}

/** Send `request`; resolves to the note that says how it went. */
async function send(service: TuiService, request: SecretsRequest): Promise<string> {
  switch (request.kind) {
    case 'set': {
      const r = await service.setSecret(request.name, request.value, request.passphrase);
      return `${r.replaced ? 'Replaced' : 'Stored'} ${request.name}.`;
    }
    case 'delete':
      await service.deleteSecret(request.name, request.passphrase);
      return `Deleted ${request.name}.`;
    case 'import': {
      const { names, values } = request.parsed;
      const r = await service.importSecrets(names, values, request.passphrase);
      return `Added: ${r.created.join(', ') || '—'} · Replaced: ${r.replaced.join(', ') || '—'}`;
    }
  }
}

/** The secrets screen's state: the list, last-used times, and add / delete / import. */
export function useSecrets(): SecretsModel {
  const { call, backend, compact, rows } = useTui();
  const { state, dispatch, current } = useSecretReducer(SECRETS, initialSecrets);

  const refresh = useCallback(async () => {
    try {
      dispatch({ type: 'listed', list: await call((s) => s.listSecrets()) });
    } catch (error) {
      dispatch({ type: 'unlisted', message: messageOf(error) });
      return;
    }
    try {
      dispatch({ type: 'used', used: await lastUsed(backend.readAudit({})) });
    } catch {
      // An unreadable log only costs the column; `cr audit verify` says why.
      dispatch({ type: 'used', used: new Map() });
    }
  }, [call, backend, dispatch]);
  useListKeys(secretsKey, dispatch, refresh, state.mode.kind === 'list');

  return {
    state,
    rows,
    compact,
    cancel: (why) => dispatch({ type: 'cancel', why }),
    name: (name) => dispatch({ type: 'name', name }),
    value: (value) => dispatch({ type: 'value', value }),
    deleteAnswer: (yes) => dispatch({ type: 'delete-answer', yes }),
    importPath: (file) => {
      dispatch({ type: 'reading', file });
      backend.readDotenv(file).then(
        (parsed) => dispatch({ type: 'import-read', parsed }),
        (error: unknown) => dispatch({ type: 'import-unreadable', message: messageOf(error) }),
      );
    },
    importAnswer: (yes) => dispatch({ type: 'import-answer', yes }),
    passphrase: (passphrase) => {
      const request = pendingRequest(current().mode, passphrase);
      // The state holds the request's bytes until it settles (a stray passphrase is wiped now).
      dispatch({ type: 'passphrase', passphrase });
      if (request === null) return;
      const sent = requestBytes(request);
      call((s) => send(s, request))
        .then(
          (note) => dispatch({ type: 'settled', sent, note }),
          (error: unknown) => dispatch({ type: 'settled', sent, note: messageOf(error) }),
        )
        .finally(() => void refresh());
    },
  };
}
