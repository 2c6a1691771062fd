// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useEffect, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { StatusResult } from '@cora/ipc';
import { useColor, useTui } from '../context.tsx';
import { Confirm, MAX_PASSPHRASE_BYTES, MaskedInput } from '../fields.tsx';
import { countdown, messageOf, withWipe } from '../util.ts';

/** How often the dashboard asks the service for its status. */
const STATUS_POLL_MS = 5000;

type Mode = 'view' | 'unlock' | 'lock';

/** Locked/unlocked, idle countdown, socket, vault, secret count; unlock and lock. */
export function Dashboard(): ReactElement {
  const { backend, call, compact } = useTui();
  const color = useColor();
  const [status, setStatus] = useState<StatusResult | null>(null);
  const [note, setNote] = useState<string>('');
  const [mode, setMode] = useState<Mode>('view');
  const [now, setNow] = useState(() => Date.now());

  const refresh = useCallback(async () => {
    try {
      setStatus(await call((s) => s.status()));
    } catch (error) {
      setNote(messageOf(error));
    }
  }, [call]);

  useEffect(() => {
    void refresh();
    const poll = setInterval(() => void refresh(), STATUS_POLL_MS);
    const tick = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    return () => {
      clearInterval(poll);
      clearInterval(tick);
    };
  }, [refresh]);

  useInput(
    (text) => {
      if (text === 'u' && status?.state !== 'unlocked') setMode('unlock');
      else if (text === 'l' && status?.state === 'unlocked') setMode('lock');
      else if (text === 'r') void refresh();
    },
    { isActive: mode === 'view' },
  );

  const unlocked = status?.state === 'unlocked';
  const rows: [string, string][] = [
    ['state', status === null ? '…' : status.state],
    ['idle lock in', unlocked ? countdown(status.idleDeadline, now) : '—'],
    ['secrets', unlocked ? String(status.secrets) : '—'],
    ['service pid', status === null ? '—' : String(status.pid)],
    ['socket', backend.socketPath],
    ['vault', backend.vaultPath],
  ];
  return (
    <Box flexDirection="column">
      {rows.map(([k, v]) => (
        <Text key={k}>
          <Text dimColor>{`${k.padEnd(compact ? 12 : 13)} `}</Text>
          {k === 'state' ? (
            <Text bold {...color(unlocked ? 'green' : 'yellow')}>
              {unlocked ? '● unlocked' : status === null ? v : '○ locked'}
            </Text>
          ) : (
            <Text wrap="truncate-middle">{v}</Text>
          )}
        </Text>
      ))}
      <Box marginTop={1} flexDirection="column">
        {mode === 'unlock' ? (
          <MaskedInput
            label="Passphrase to unlock:"
            maxBytes={MAX_PASSPHRASE_BYTES}
            onCancel={(why) => {
              setMode('view');
              setNote(why === 'too-long' ? 'the passphrase is too long' : 'cancelled');
            }}
            onSubmit={(passphrase) => {
              setMode('view');
              setNote('unlocking (Argon2id takes a moment)…');
              void withWipe(passphrase, async (p) => {
                try {
                  const r = await call((s) => s.unlock(p));
                  setNote(`unlocked: ${String(r.secrets)} secrets`);
                } catch (error) {
                  setNote(messageOf(error));
                }
                await refresh();
              });
            }}
          />
        ) : mode === 'lock' ? (
          <Confirm
            question="Lock now? Every secret is wiped from the service's memory."
            onNo={() => {
              setMode('view');
            }}
            onYes={() => {
              setMode('view');
              void (async () => {
                try {
                  await call((s) => s.lock());
                  setNote('locked');
                } catch (error) {
                  setNote(messageOf(error));
                }
                await refresh();
              })();
            }}
          />
        ) : (
          <Text dimColor>{unlocked ? 'l locks now' : 'u unlocks'}</Text>
        )}
        {note === '' ? null : <Text>{note}</Text>}
      </Box>
    </Box>
  );
}
