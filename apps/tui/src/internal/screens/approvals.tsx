// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { ApprovalDecision, ApprovalInfo } from '@cora/ipc';
import type { SecretBuf } from '@cora/memstore';
import type { ApprovalSession, TuiService } from '../../types.ts';
import { useColor, useTui } from '../context.tsx';
import { MAX_PASSPHRASE_BYTES, MaskedInput } from '../fields.tsx';
import { countdown, messageOf } from '../util.ts';

type Phase = 'idle' | 'passphrase' | 'starting' | 'ready' | 'ended';

/**
 * The approval queue (DESIGN §7 "Approvals"): prove the passphrase once, then decide pending
 * requests as they arrive, with a bell on each. Runs on its own connection so it lives as
 * long as the view, independent of the other screens' requests.
 */
export function Approvals(): ReactElement {
  const { backend, bell, compact } = useTui();
  const color = useColor();
  const [phase, setPhase] = useState<Phase>('idle');
  const [pending, setPending] = useState<readonly ApprovalInfo[]>([]);
  const [recent, setRecent] = useState<readonly string[]>([]);
  const [selected, setSelected] = useState(0);
  const [note, setNote] = useState('');
  const [now, setNow] = useState(() => Date.now());
  const session = useRef<{ service: TuiService; approval: ApprovalSession } | null>(null);

  useEffect(() => {
    const tick = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    return () => {
      clearInterval(tick);
      session.current?.service.close();
      session.current = null;
    };
  }, []);

  useInput(
    (text, key) => {
      if (phase === 'idle' || phase === 'ended') {
        if (key.return) setPhase('passphrase');
        return;
      }
      if (phase !== 'ready') return;
      if (key.upArrow) setSelected((i) => Math.max(0, i - 1));
      else if (key.downArrow) setSelected((i) => Math.min(Math.max(0, pending.length - 1), i + 1));
      else {
        const decision: ApprovalDecision | null =
          text === 'o' || text === 'y'
            ? 'allow-once'
            : text === 'w'
              ? 'allow-window'
              : text === 'n' || text === 'd'
                ? 'deny'
                : null;
        const info = pending[Math.min(selected, pending.length - 1)];
        if (decision === null || info === undefined || session.current === null) return;
        if (decision === 'allow-window' && info.window === null) {
          setNote(`task ${info.task} offers allow-once only`);
          return;
        }
        session.current.approval.decide(info.id, decision).then(
          () => {
            setNote(`#${String(info.id)} ${info.task}: ${decision}`);
          },
          (error: unknown) => {
            setNote(messageOf(error));
          },
        );
      }
    },
    { isActive: phase !== 'passphrase' },
  );

  const start = (passphrase: SecretBuf): void => {
    setPhase('starting');
    setNote('checking the passphrase…');
    let wiped = false;
    const wipe = (): void => {
      if (!wiped) passphrase.wipe();
      wiped = true;
    };
    backend.connect().then(
      (service) => {
        let approval: ApprovalSession;
        try {
          approval = service.approve(passphrase, {
            onReady: () => {
              wipe();
              setPhase('ready');
              setNote('approver ready: requests appear here as they arrive');
            },
            onPending: (info) => {
              bell();
              setPending((p) => [...p.filter((x) => x.id !== info.id), info]);
            },
            onResolved: (r) => {
              setPending((p) => {
                const info = p.find((x) => x.id === r.id);
                if (info !== undefined)
                  setRecent((old) =>
                    [`#${String(r.id)} ${info.task} ${info.target}: ${r.outcome}`, ...old].slice(0, 5),
                  );
                return p.filter((x) => x.id !== r.id);
              });
            },
          });
        } catch (error) {
          wipe();
          service.close();
          setPhase('ended');
          setNote(messageOf(error));
          return;
        }
        // The request frame (with its copy of the passphrase) was built inside approve().
        wipe();
        session.current = { service, approval };
        approval.done
          .then(
            (r) => {
              setNote(
                r.ended === 'locked'
                  ? 'the service locked: approvals ended (Enter to start again)'
                  : `approvals ended: ${r.ended}`,
              );
            },
            (error: unknown) => {
              setNote(`${messageOf(error)} (Enter to try again)`);
            },
          )
          .finally(() => {
            wipe();
            service.close();
            session.current = null;
            setPending([]);
            setPhase('ended');
          });
      },
      (error: unknown) => {
        wipe();
        setPhase('ended');
        setNote(messageOf(error));
      },
    );
  };

  return (
    <Box flexDirection="column">
      {phase === 'idle' ? (
        <Text>
          Approve or deny requests of tasks with approve: once/session/window. Press Enter and give the
          passphrase to start.
        </Text>
      ) : null}
      {phase === 'passphrase' ? (
        <MaskedInput
          label="Passphrase to approve:"
          maxBytes={MAX_PASSPHRASE_BYTES}
          onCancel={() => {
            setPhase('idle');
          }}
          onSubmit={start}
        />
      ) : null}
      {phase === 'ready' && pending.length === 0 ? <Text dimColor>No pending requests.</Text> : null}
      {pending.map((info, i) => (
        <Box
          key={info.id}
          flexDirection="column"
          borderStyle={i === selected ? 'double' : 'single'}
          paddingX={1}
        >
          <Text>
            <Text bold {...color('yellow')}>
              #{info.id} {info.task}
            </Text>{' '}
            → {info.target} <Text dimColor>expires in {countdown(info.expiresAt, now)}</Text>
          </Text>
          <Text wrap="truncate-end">argv: {info.argv.join(' ')}</Text>
          <Text wrap="truncate-middle">cwd: {info.cwd}</Text>
          <Text wrap="truncate-middle">
            caller: {info.caller.exe} (pid {info.caller.pid})
            {info.caller.script === null ? '' : ` script ${info.caller.script} (weaker evidence)`}
          </Text>
          {compact ? null : (
            <Text wrap="truncate-middle">
              ancestry: {info.ancestry.map((a) => `${a.exe}[${String(a.pid)}]`).join(' ← ') || '—'}
            </Text>
          )}
          <Text>secrets: {info.secrets.join(', ') || '—'}</Text>
          <Text dimColor>
            o allow once{info.window === null ? '' : ` · w allow for ${info.window}`} · n deny
          </Text>
        </Box>
      ))}
      {recent.length === 0 ? null : (
        <Box flexDirection="column" marginTop={1}>
          <Text bold>Recent</Text>
          {recent.map((r) => (
            <Text key={r} dimColor>
              {r}
            </Text>
          ))}
        </Box>
      )}
      {note === '' ? null : <Text>{note}</Text>}
    </Box>
  );
}
