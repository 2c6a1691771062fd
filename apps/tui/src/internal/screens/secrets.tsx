// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useEffect, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { SecretMeta } from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import type { DotenvImport } from '../../types.ts';
import { useTui } from '../context.tsx';
import { Confirm, MAX_PASSPHRASE_BYTES, MAX_VALUE_BYTES, MaskedInput, TextField } from '../fields.tsx';
import { fit, isSecretName, lastUsed, messageOf, withWipe } from '../util.ts';

type Mode =
  | { readonly kind: 'list' }
  | { readonly kind: 'name' }
  | { readonly kind: 'value'; readonly name: string }
  | { readonly kind: 'pass-set'; readonly name: string; readonly value: SecretBuf }
  | { readonly kind: 'confirm-delete'; readonly name: string }
  | { readonly kind: 'pass-delete'; readonly name: string }
  | { readonly kind: 'import-path' }
  | { readonly kind: 'import-preview'; readonly file: string; readonly parsed: DotenvImport }
  | { readonly kind: 'pass-import'; readonly file: string; readonly parsed: DotenvImport };

/** Wipe whatever secret bytes a mode holds. */
function release(mode: Mode): void {
  if (mode.kind === 'pass-set') mode.value.wipe();
  if (mode.kind === 'import-preview' || mode.kind === 'pass-import')
    for (const v of mode.parsed.values) v.wipe();
}

/**
 * Names with created / updated / last used (from the audit log); add, delete and import, each
 * asking the passphrase once.
 */
export function Secrets(): ReactElement {
  const { call, backend, compact, rows } = useTui();
  const [list, setList] = useState<readonly SecretMeta[] | null>(null);
  const [used, setUsed] = useState<ReadonlyMap<string, string>>(new Map());
  const [selected, setSelected] = useState(0);
  const [mode, setModeState] = useState<Mode>({ kind: 'list' });
  const [note, setNote] = useState('');
  // The mode holds secret bytes between steps (a value waiting for its passphrase): a ref
  // tracks it so leaving a step, or the view, wipes them.
  const modeRef = useRef<Mode>(mode);

  /** Move to `next`, wiping what the previous step held. */
  const setMode = useCallback((next: Mode) => {
    if (modeRef.current !== next) release(modeRef.current);
    modeRef.current = next;
    setModeState(next);
  }, []);
  /** Move to `next`, handing the previous step's bytes over to it (or to a request). */
  const handOver = useCallback((next: Mode) => {
    modeRef.current = next;
    setModeState(next);
  }, []);
  useEffect(
    () => () => {
      release(modeRef.current);
    },
    [],
  );

  const refresh = useCallback(async () => {
    try {
      setList(await call((s) => s.listSecrets()));
    } catch (error) {
      setList(null);
      setNote(messageOf(error));
      return;
    }
    try {
      setUsed(await lastUsed(backend.readAudit({})));
    } catch {
      setUsed(new Map()); // an unreadable log only costs the column; `cr audit verify` says why
    }
  }, [call, backend]);
  useEffect(() => {
    void refresh();
  }, [refresh]);

  useInput(
    (text, key) => {
      const count = list?.length ?? 0;
      if (key.upArrow) setSelected((i) => Math.max(0, i - 1));
      else if (key.downArrow) setSelected((i) => Math.min(Math.max(0, count - 1), i + 1));
      else if (text === 'a') setMode({ kind: 'name' });
      else if (text === 'i') setMode({ kind: 'import-path' });
      else if (text === 'r') void refresh();
      else if (text === 'd') {
        const target = list?.[selected];
        if (target !== undefined) setMode({ kind: 'confirm-delete', name: target.name });
      }
    },
    { isActive: mode.kind === 'list' },
  );

  const toList = (message: string): void => {
    setNote(message);
    setMode({ kind: 'list' });
  };
  const cancelled = (why: string): void => {
    toList(why === 'too-long' ? 'too long; nothing was changed' : 'cancelled');
  };

  let action: ReactElement | null = null;
  switch (mode.kind) {
    case 'name':
      action = (
        <TextField
          label="Name of the new secret:"
          onCancel={() => {
            cancelled('cancel');
          }}
          onSubmit={(name) => {
            if (!isSecretName(name)) {
              setNote(`'${name}' is not a valid name: use [A-Za-z_][A-Za-z0-9_]*`);
              return;
            }
            setNote('');
            setMode({ kind: 'value', name });
          }}
        />
      );
      break;
    case 'value':
      action = (
        <MaskedInput
          label={`Value for ${mode.name} (hidden):`}
          maxBytes={MAX_VALUE_BYTES}
          onCancel={cancelled}
          onSubmit={(value) => {
            setMode({ kind: 'pass-set', name: mode.name, value });
          }}
        />
      );
      break;
    case 'pass-set':
      action = (
        <MaskedInput
          label={`Passphrase to store ${mode.name}:`}
          maxBytes={MAX_PASSPHRASE_BYTES}
          onCancel={cancelled}
          onSubmit={(passphrase) => {
            const { name, value } = mode;
            // The value now belongs to this request: take it out of the mode before leaving it.
            handOver({ kind: 'list' });
            setNote(`storing ${name}…`);
            void withWipe(value, (v) =>
              withWipe(passphrase, async (p) => {
                try {
                  const r = await call((s) => s.setSecret(name, v, p));
                  setNote(`${r.replaced ? 'Replaced' : 'Stored'} ${name}.`);
                } catch (error) {
                  setNote(messageOf(error));
                }
                await refresh();
              }),
            );
          }}
        />
      );
      break;
    case 'confirm-delete':
      action = (
        <Confirm
          question={`Delete ${mode.name}?`}
          onNo={() => {
            cancelled('cancel');
          }}
          onYes={() => {
            setMode({ kind: 'pass-delete', name: mode.name });
          }}
        />
      );
      break;
    case 'pass-delete':
      action = (
        <MaskedInput
          label={`Passphrase to delete ${mode.name}:`}
          maxBytes={MAX_PASSPHRASE_BYTES}
          onCancel={cancelled}
          onSubmit={(passphrase) => {
            const { name } = mode;
            toList(`deleting ${name}…`);
            void withWipe(passphrase, async (p) => {
              try {
                await call((s) => s.deleteSecret(name, p));
                setNote(`Deleted ${name}.`);
              } catch (error) {
                setNote(messageOf(error));
              }
              await refresh();
            });
          }}
        />
      );
      break;
    case 'import-path':
      action = (
        <TextField
          label="Path of the .env file:"
          onCancel={() => {
            cancelled('cancel');
          }}
          onSubmit={(file) => {
            setNote(`reading ${file}…`);
            backend.readDotenv(file).then(
              (parsed) => {
                setNote('');
                setMode({ kind: 'import-preview', file, parsed });
              },
              (error: unknown) => {
                toList(messageOf(error));
              },
            );
          }}
        />
      );
      break;
    case 'import-preview':
      action = (
        <ImportPreview
          parsed={mode.parsed}
          onNo={() => {
            cancelled('cancel');
          }}
          onYes={() => {
            handOver({ kind: 'pass-import', file: mode.file, parsed: mode.parsed });
          }}
        />
      );
      break;
    case 'pass-import':
      action = (
        <MaskedInput
          label={`Passphrase to import ${String(mode.parsed.names.length)} secret(s):`}
          maxBytes={MAX_PASSPHRASE_BYTES}
          onCancel={cancelled}
          onSubmit={(passphrase) => {
            const { parsed } = mode;
            handOver({ kind: 'list' });
            setNote('importing…');
            void withWipe(passphrase, async (p) => {
              try {
                const r = await call((s) => s.importSecrets(parsed.names, parsed.values, p));
                setNote(`Added: ${r.created.join(', ') || '—'} · Replaced: ${r.replaced.join(', ') || '—'}`);
              } catch (error) {
                setNote(messageOf(error));
              } finally {
                for (const v of parsed.values) v.wipe();
              }
              await refresh();
            });
          }}
        />
      );
      break;
    case 'list':
      break;
  }

  const nameWidth = Math.max(4, ...(list ?? []).map((s) => s.name.length));
  const visible = Math.max(3, rows - 10);
  const start = Math.max(0, Math.min(selected - visible + 1, (list?.length ?? 0) - visible));
  return (
    <Box flexDirection="column">
      {list === null ? (
        <Text dimColor>Secrets are listed while the service is unlocked (Dashboard: u).</Text>
      ) : list.length === 0 ? (
        <Text dimColor>No secrets yet. a adds one, i imports a .env file.</Text>
      ) : (
        <Box flexDirection="column">
          <Text bold>
            {fit('NAME', nameWidth)}{' '}
            {compact ? 'UPDATED' : `${fit('CREATED', 20)}  ${fit('UPDATED', 20)}  LAST USED`}
          </Text>
          {list.slice(start, start + visible).map((s, i) => (
            <Text key={s.name} inverse={start + i === selected}>
              {fit(s.name, nameWidth)}{' '}
              {compact
                ? day(s.updated)
                : `${fit(day(s.created), 20)}  ${fit(day(s.updated), 20)}  ${used.has(s.name) ? day(used.get(s.name) ?? '') : 'never'}`}
            </Text>
          ))}
        </Box>
      )}
      <Box marginTop={1} flexDirection="column">
        {action}
        {note === '' ? null : <Text>{note}</Text>}
      </Box>
    </Box>
  );
}

/** `2026-11-02 14:03` from an ISO time. */
function day(iso: string): string {
  return iso.replace('T', ' ').slice(0, 16);
}

function ImportPreview(props: { parsed: DotenvImport; onYes: () => void; onNo: () => void }): ReactElement {
  const { parsed } = props;
  if (parsed.problems.length > 0 || parsed.names.length === 0) {
    return (
      <Box flexDirection="column">
        {parsed.problems.map((p) => (
          <Text key={p}>{p}</Text>
        ))}
        <Confirm
          question={
            parsed.names.length === 0
              ? 'Nothing to import. Back?'
              : 'The file has problems; nothing will be imported. Back?'
          }
          onYes={props.onNo}
          onNo={props.onNo}
        />
      </Box>
    );
  }
  return (
    <Box flexDirection="column">
      <Text>
        {parsed.names.length} secret(s): <Text bold>{parsed.names.join(', ')}</Text>
      </Text>
      <Confirm question="Import them?" onYes={props.onYes} onNo={props.onNo} />
    </Box>
  );
}
