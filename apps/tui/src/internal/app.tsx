// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { TuiBackend, TuiService } from '../types.ts';
import { ApprovalBadge, ApproverProvider } from './approver.tsx';
import { Connection } from './connection.ts';
import { TuiProvider, type TuiContextValue } from './context.tsx';
import type { InputRouter } from './raw-input.ts';
import {
  footerKeys,
  GLOBAL_KEYS,
  shellKey,
  TABS,
  VIEW_KEYS,
  type ShellState,
  type ViewName,
} from './shell.ts';
import { Onboarding } from './screens/onboarding/view.tsx';
import { Dashboard } from './screens/dashboard/view.tsx';
import { Secrets } from './screens/secrets/view.tsx';
import { Tasks } from './screens/tasks/view.tsx';
import { Audit } from './screens/audit/view.tsx';
import { Approvals } from './screens/approvals/view.tsx';
import { Grants } from './screens/grants/view.tsx';

/** Props of {@link App}. */
export interface AppProps {
  readonly backend: TuiBackend;
  readonly input: InputRouter;
  readonly color: boolean;
  readonly columns: number;
  readonly rows: number;
  readonly bell: () => void;
  readonly onExit: (code: number) => void;
}

/**
 * The whole TUI: onboarding when there is no vault, else the tabbed main screen. Pure: the
 * backend, the input router, the size and the colour switch come in as props.
 */
export function App(props: AppProps): ReactElement {
  const { backend, onExit } = props;
  const [onboarding, setOnboarding] = useState(() => !backend.vaultExists());
  const [shell, setShell] = useState<ShellState>({ tab: 0, help: false });
  const typingCount = useRef(0);
  const [typing, setTypingState] = useState(false);
  // One connection for every screen and the approver session, made on first use.
  const connection = useMemo(() => new Connection(() => backend.connect()), [backend]);
  useEffect(
    () => () => {
      connection.close();
    },
    [connection],
  );

  const setTyping = useCallback((on: boolean) => {
    typingCount.current = Math.max(0, typingCount.current + (on ? 1 : -1));
    setTypingState(typingCount.current > 0);
  }, []);
  const call = useCallback(
    <T,>(fn: (service: TuiService) => Promise<T>): Promise<T> => connection.call(fn),
    [connection],
  );
  const quit = useCallback(() => {
    connection.close();
    onExit(0);
  }, [connection, onExit]);

  const compact = props.columns < 72 || props.rows < 20;
  const context: TuiContextValue = useMemo(
    () => ({
      backend,
      input: props.input,
      color: props.color,
      bell: props.bell,
      call,
      setTyping,
      compact,
      columns: props.columns,
      rows: props.rows,
    }),
    [backend, props.input, props.color, props.bell, call, setTyping, compact, props.columns, props.rows],
  );

  useInput((text, key) => {
    const next = shellKey(shell, text, key, { typing, onboarding });
    if (next === 'quit') quit();
    else if (next !== shell) setShell(next);
  });

  const current = (TABS[shell.tab] ?? TABS[0]).name;
  const body = onboarding ? (
    <Onboarding
      onDone={() => {
        setOnboarding(false);
      }}
      onQuit={quit}
    />
  ) : shell.help ? (
    <Help view={current} />
  ) : (
    <View name={current} />
  );
  return (
    <TuiProvider value={context}>
      {/* Above the views: switching views keeps the approver session (approver.tsx). */}
      <ApproverProvider>
        <Box flexDirection="column">
          <Header
            tab={onboarding ? null : shell.tab}
            compact={compact}
            color={props.color}
            version={backend.version}
          />
          <Box flexDirection="column" flexGrow={1} paddingX={compact ? 0 : 1}>
            {body}
          </Box>
          <Footer view={onboarding ? null : current} compact={compact} />
        </Box>
      </ApproverProvider>
    </TuiProvider>
  );
}

function View({ name }: { name: ViewName }): ReactElement {
  switch (name) {
    case 'Secrets':
      return <Secrets />;
    case 'Tasks':
      return <Tasks />;
    case 'Audit':
      return <Audit />;
    case 'Approvals':
      return <Approvals />;
    case 'Grants':
      return <Grants />;
    case 'Dashboard':
      return <Dashboard />;
  }
}

function Header(props: {
  tab: number | null;
  compact: boolean;
  color: boolean;
  version: string;
}): ReactElement {
  return (
    <Box>
      <Text bold {...(props.color ? { color: 'magenta' } : {})}>
        Cora{props.compact ? '' : ` ${props.version}`}
      </Text>
      {props.tab === null ? (
        <Text> · setup</Text>
      ) : (
        TABS.map((t, i) => (
          <Text key={t.key} inverse={i === props.tab} bold={i === props.tab}>
            {` ${t.key} ${props.compact ? t.short : t.name} `}
          </Text>
        ))
      )}
      {props.tab === null ? null : <ApprovalBadge color={props.color} compact={props.compact} />}
    </Box>
  );
}

function Footer(props: { view: ViewName | null; compact: boolean }): ReactElement {
  if (props.view === null) return <Text dimColor>Ctrl-C quits the setup</Text>;
  return (
    <Text dimColor wrap="truncate">
      {footerKeys(props.view, props.compact)
        .map(([k, what]) => `${k} ${what}`)
        .join(' · ')}
    </Text>
  );
}

function Help({ view }: { view: ViewName }): ReactElement {
  return (
    <Box flexDirection="column">
      <Text bold>Keys — {view}</Text>
      {VIEW_KEYS[view].map(([k, what]) => (
        <Text key={k}>
          {'  '}
          {k.padEnd(14)} {what}
        </Text>
      ))}
      <Text bold>Everywhere</Text>
      {GLOBAL_KEYS.map(([k, what]) => (
        <Text key={k}>
          {'  '}
          {k.padEnd(14)} {what}
        </Text>
      ))}
      <Text dimColor>
        Passphrases and values are typed into masked fields: the TUI reads them as raw bytes into secure
        memory and shows one • per character.
      </Text>
      <Text dimColor>Any key closes this help.</Text>
    </Box>
  );
}
