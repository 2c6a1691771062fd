// SPDX-License-Identifier: AGPL-3.0-only
import { useCallback, useMemo, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { TuiBackend, TuiService } from '../types.ts';
import { TuiProvider, type TuiContextValue } from './context.tsx';
import type { InputRouter } from './raw-input.ts';
import { Onboarding } from './screens/onboarding.tsx';
import { Dashboard } from './screens/dashboard.tsx';
import { Secrets } from './screens/secrets.tsx';
import { Tasks } from './screens/tasks.tsx';
import { Audit } from './screens/audit.tsx';
import { Approvals } from './screens/approvals.tsx';

/** The views of the main screen, in tab order (keys 1–5). */
const TABS = [
  { key: '1', name: 'Dashboard', short: 'Dash' },
  { key: '2', name: 'Secrets', short: 'Sec' },
  { key: '3', name: 'Tasks', short: 'Task' },
  { key: '4', name: 'Audit', short: 'Aud' },
  { key: '5', name: 'Approvals', short: 'Appr' },
] as const;

/** Per-view keys, shown in the footer and on `?`. */
const VIEW_KEYS: Readonly<Record<string, readonly (readonly [string, string])[]>> = {
  Dashboard: [
    ['u', 'unlock'],
    ['l', 'lock'],
    ['r', 'refresh'],
  ],
  Secrets: [
    ['↑↓', 'select'],
    ['a', 'add'],
    ['d', 'delete'],
    ['i', 'import .env'],
    ['r', 'refresh'],
  ],
  Tasks: [
    ['↑↓', 'select task'],
    ['e', 'explain'],
    ['r', 'refresh'],
  ],
  Audit: [
    ['↑↓ PgUp PgDn', 'scroll'],
    ['Enter', 'detail'],
    ['/', 'filter'],
    ['f', 'follow'],
    ['v', 'verify'],
  ],
  Approvals: [
    ['Enter', 'start approving'],
    ['↑↓', 'select'],
    ['o', 'allow once'],
    ['w', 'allow for window'],
    ['n', 'deny'],
  ],
};

const GLOBAL_KEYS: readonly (readonly [string, string])[] = [
  ['1–5 Tab', 'switch view'],
  ['?', 'help'],
  ['q Ctrl-C', 'quit'],
];

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
  const { backend } = props;
  const [onboarding, setOnboarding] = useState(() => !backend.vaultExists());
  const [tab, setTab] = useState(0);
  const [help, setHelp] = useState(false);
  const typingCount = useRef(0);
  const [typing, setTypingState] = useState(false);
  const serviceRef = useRef<Promise<TuiService> | null>(null);

  const setTyping = useCallback((on: boolean) => {
    typingCount.current = Math.max(0, typingCount.current + (on ? 1 : -1));
    setTypingState(typingCount.current > 0);
  }, []);

  const call = useCallback(
    async <T,>(fn: (service: TuiService) => Promise<T>): Promise<T> => {
      serviceRef.current ??= backend.connect();
      let service: TuiService;
      try {
        service = await serviceRef.current;
      } catch (error) {
        serviceRef.current = null;
        throw error;
      }
      try {
        return await fn(service);
      } catch (error) {
        // A dropped connection is re-made on the next call.
        if ((error as { code?: unknown } | null)?.code === 'CONNECTION_CLOSED') {
          serviceRef.current = null;
          service.close();
        }
        throw error;
      }
    },
    [backend],
  );

  const quit = useCallback(() => {
    void serviceRef.current?.then(
      (s) => {
        s.close();
      },
      () => undefined,
    );
    props.onExit(0);
  }, [props]);

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
    if (key.ctrl && text === 'c') {
      quit();
      return;
    }
    if (typing || onboarding) return;
    if (help) {
      setHelp(false);
      return;
    }
    if (text === 'q') quit();
    else if (text === '?') setHelp(true);
    else if (key.tab) setTab((t) => (t + (key.shift ? TABS.length - 1 : 1)) % TABS.length);
    else {
      const index = TABS.findIndex((t) => t.key === text);
      if (index >= 0) setTab(index);
    }
  });

  const current = TABS[tab] ?? TABS[0];
  const body = onboarding ? (
    <Onboarding
      onDone={() => {
        setOnboarding(false);
      }}
      onQuit={quit}
    />
  ) : help ? (
    <Help view={current.name} />
  ) : (
    <View name={current.name} />
  );
  return (
    <TuiProvider value={context}>
      <Box flexDirection="column">
        <Header
          tab={onboarding ? null : tab}
          compact={compact}
          color={props.color}
          version={backend.version}
        />
        <Box flexDirection="column" flexGrow={1} paddingX={compact ? 0 : 1}>
          {body}
        </Box>
        <Footer view={onboarding ? null : current.name} compact={compact} />
      </Box>
    </TuiProvider>
  );
}

function View({ name }: { name: string }): ReactElement {
  switch (name) {
    case 'Secrets':
      return <Secrets />;
    case 'Tasks':
      return <Tasks />;
    case 'Audit':
      return <Audit />;
    case 'Approvals':
      return <Approvals />;
    default:
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
    </Box>
  );
}

function Footer(props: { view: string | null; compact: boolean }): ReactElement {
  const keys = props.view === null ? [] : (VIEW_KEYS[props.view] ?? []);
  const shown = props.compact ? keys.slice(0, 3) : keys;
  const global = props.compact ? [['?', 'help'] as const, ['q', 'quit'] as const] : GLOBAL_KEYS;
  if (props.view === null) return <Text dimColor>Ctrl-C quits the setup</Text>;
  return (
    <Text dimColor wrap="truncate">
      {[...shown, ...global].map(([k, what]) => `${k} ${what}`).join(' · ')}
    </Text>
  );
}

function Help({ view }: { view: string }): ReactElement {
  return (
    <Box flexDirection="column">
      <Text bold>Keys — {view}</Text>
      {(VIEW_KEYS[view] ?? []).map(([k, what]) => (
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
