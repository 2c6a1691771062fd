// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { afterEach } from 'vitest';
import { render } from 'ink-testing-library';
import { SecretBuf } from '@cora/memstore';
import type { ApproveResult, StatusResult } from '@cora/ipc';
import { App } from '../src/internal/app.tsx';
import { ApproverProvider } from '../src/internal/approver.tsx';
import { Connection } from '../src/internal/connection.ts';
import { TuiProvider, type TuiContextValue } from '../src/internal/context.tsx';
import type { Keys } from '../src/internal/keys.ts';
import { InputRouter } from '../src/internal/raw-input.ts';
import type { ApprovalHandlers, AuditRecordLike, TuiBackend, TuiService } from '../src/types.ts';

/** A passphrase and a value no frame and no string Ink receives may ever contain. */
export const PASS = 'correct horse battery staple';
export const CANARY = 'CORACANARY_tui_0123456789';

export const ENTER = '\r';
export const ESC = '\u001b';
export const UP = '\u001b[A';
export const DOWN = '\u001b[B';
export const BACKSPACE = '\u007f';
export const CTRL_U = '\u0015';

/** Let React commit and the router's deferred bytes drain. */
export async function tick(ms = 15): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Wait until `screen`'s last frame contains `text` (async readers land when they land). */
export async function frameWith(
  screen: { frame(): string },
  text: string,
  timeoutMs = 2000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!screen.frame().includes(text) && Date.now() < deadline) await tick(10);
  return screen.frame();
}

/** Ink reports a lone Esc only after a short wait (it may start a sequence). */
export async function escape(screen: { keys(text: string): Promise<void> }): Promise<void> {
  await screen.keys(ESC);
  await tick(100);
}

/** Strict fake: any member the test did not provide throws when used. */
export function strict<T extends object>(name: string, impl: Partial<T>): T {
  return new Proxy(impl as T, {
    get(target, prop, receiver) {
      if (prop === 'then' || typeof prop === 'symbol') return Reflect.get(target, prop, receiver) as unknown;
      if (!(prop in target)) throw new Error(`${name}.${prop} was not expected by this test`);
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

/** A strict service: open until closed, every request the test did not give throws. */
export function fakeService(impl: Partial<TuiService> = {}): TuiService & { readonly closes: number } {
  let closes = 0;
  return strict<TuiService & { closes: number }>('service', {
    get closed() {
      return closes > 0;
    },
    get closes() {
      return closes;
    },
    close: () => {
      closes += 1;
    },
    ...impl,
  });
}

/** A strict backend with the fixed fields filled in; `service` answers `connect`. */
export function fakeBackend(impl: Partial<TuiBackend>, service?: Partial<TuiService>): TuiBackend {
  return strict<TuiBackend>('backend', {
    home: '/home/u/.cora',
    vaultPath: '/home/u/.cora/vault.cora',
    socketPath: '/run/user/1/cora/cora.sock',
    version: '0.1.0',
    maxPassphraseBytes: 1024,
    vaultExists: () => true,
    ...(service === undefined ? {} : { connect: () => Promise.resolve(fakeService(service)) }),
    ...impl,
  });
}

/** A status as the service reports it. */
export function status(state: 'locked' | 'unlocked', extra: Partial<StatusResult> = {}): StatusResult {
  return {
    state,
    secrets: 2,
    pid: 4242,
    socket: '/s',
    idleDeadline: state === 'unlocked' ? new Date(Date.now() + 600_000).toISOString() : null,
    version: '0.1.0',
    ...extra,
  };
}

/** The service's `status` while unlocked. */
export const unlocked: Partial<TuiService> = { status: () => Promise.resolve(status('unlocked')) };

/** Copy of a SecretBuf's bytes as text, for assertions only. */
export function textOf(buf: SecretBuf): string {
  return buf.use((b) => Buffer.from(b).toString('utf8'));
}

/** A SecretBuf holding `text` (test data). */
export function secret(text: string): SecretBuf {
  return SecretBuf.from(Buffer.from(text));
}

/** An audit log of `records`, read once. */
export function auditOf(records: readonly AuditRecordLike[]): () => AsyncIterable<AuditRecordLike> {
  return async function* () {
    await Promise.resolve();
    yield* records;
  };
}

/**
 * `secret`, for a test file's pure tests: every buffer made is wiped after each test.
 * @returns a maker of test SecretBufs
 */
export function wipedAfterEach(): (text: string) => SecretBuf {
  const made: SecretBuf[] = [];
  afterEach(() => {
    for (const b of made.splice(0)) b.wipe();
  });
  return (text) => {
    const b = secret(text);
    made.push(b);
    return b;
  };
}

/** Every SecretBuf a masked field hands over, caught at the router (to check it was wiped). */
export function catchSubmits(router: InputRouter): SecretBuf[] {
  const caught: SecretBuf[] = [];
  const capture = router.capture.bind(router);
  router.capture = (max, handlers) =>
    capture(max, {
      ...handlers,
      onSubmit: (value) => {
        caught.push(value);
        handlers.onSubmit(value);
      },
    });
  return caught;
}

/** A rendered tree and the handles the tests drive it with. */
export type Screen = ReturnType<typeof render> & {
  readonly router: InputRouter;
  /** Type `text` as the terminal would: through the input router. */
  keys(text: string): Promise<void>;
  /** Everything Ink ever received as text, and everything ever drawn. */
  seen(): string;
  /** The last frame. */
  frame(): string;
  readonly exits: number[];
  bells(): number;
};

/** Options of {@link renderScreen} and {@link renderApp}. */
export interface ScreenOptions {
  readonly columns?: number;
  readonly rows?: number;
  readonly color?: boolean;
}

/** Render `build(router, hooks)` with the router wired to Ink's stdin as `runTui` does. */
function mount(build: (router: InputRouter, exits: number[], bell: () => void) => ReactElement): Screen {
  const router = new InputRouter();
  const sunk: string[] = [];
  const exits: number[] = [];
  let bells = 0;
  const view = render(
    build(router, exits, () => {
      bells += 1;
    }),
  );
  router.setSink((text) => {
    sunk.push(text);
    view.stdin.write(text);
  });
  return {
    ...view,
    router,
    keys: async (text: string): Promise<void> => {
      router.feed(Buffer.from(text));
      await tick();
    },
    seen: () => sunk.join('') + view.frames.join(''),
    frame: () => view.lastFrame() ?? '',
    exits,
    bells: () => bells,
  };
}

/** Render the whole app; `keys` types through the input router as the terminal would. */
export function renderApp(backend: TuiBackend, size: ScreenOptions = {}): Screen {
  return mount((router, exits, bell) => (
    <App
      backend={backend}
      input={router}
      color={size.color ?? true}
      columns={size.columns ?? 100}
      rows={size.rows ?? 30}
      bell={bell}
      onExit={(code) => {
        exits.push(code);
      }}
    />
  ));
}

/**
 * Render one screen alone, with the app's context around it: the backend, a connection over
 * `backend.connect`, and the typing flag the fields set.
 */
export function renderScreen(
  screen: ReactElement,
  backend: TuiBackend,
  size: ScreenOptions = {},
): Screen & { typing(): boolean } {
  let typing = 0;
  const connection = new Connection(() => backend.connect());
  const columns = size.columns ?? 100;
  const rows = size.rows ?? 30;
  const mounted = mount((router, _exits, bell) => {
    const context: TuiContextValue = {
      backend,
      input: router,
      color: size.color ?? true,
      bell,
      call: (fn) => connection.call(fn),
      setTyping: (on) => {
        typing += on ? 1 : -1;
      },
      compact: columns < 72 || rows < 20,
      columns,
      rows,
    };
    return (
      <TuiProvider value={context}>
        <ApproverProvider settleMs={0}>{screen}</ApproverProvider>
      </TuiProvider>
    );
  });
  return { ...mounted, typing: () => typing > 0 };
}

/** Named keys for the pure key maps (only what is pressed). */
export const KEY = {
  enter: { return: true },
  esc: { escape: true },
  up: { upArrow: true },
  down: { downArrow: true },
  pageUp: { pageUp: true },
  pageDown: { pageDown: true },
  tab: { tab: true },
  shiftTab: { tab: true, shift: true },
  ctrl: { ctrl: true },
  none: {},
} as const satisfies Record<string, Keys>;

/** A fake approver the test drives (see {@link approverSession}). */
export interface ApproverFake {
  readonly backend: TuiBackend;
  readonly service: TuiService & { readonly closes: number };
  /** `id:decision` for each decision sent. */
  readonly decided: string[];
  /** The passphrase of each `approve` call. */
  readonly passes: string[];
  handlers(): ApprovalHandlers;
  end(result: ApproveResult): void;
  fail(error: Error): void;
  connects(): number;
}

/**
 * An approver session the test drives: handlers to call, decisions recorded, `end` to settle.
 * @param options - replace `approve` or make `decide` fail
 * @param more - what else the strict service answers
 */
export function approverSession(
  options: { decide?: () => Promise<void>; approve?: TuiService['approve'] } = {},
  more: Partial<TuiService> = {},
): ApproverFake {
  let handlers: ApprovalHandlers = {};
  const decided: string[] = [];
  const passes: string[] = [];
  let end: (r: ApproveResult) => void = () => undefined;
  let fail: (e: Error) => void = () => undefined;
  let connects = 0;
  const service = fakeService({
    ...more,
    approve:
      options.approve ??
      ((p, h) => {
        passes.push(textOf(p));
        handlers = h;
        return {
          done: new Promise<ApproveResult>((resolve, reject) => {
            end = resolve;
            fail = reject;
          }),
          decide: (id, d) => {
            decided.push(`${String(id)}:${d}`);
            return options.decide?.() ?? Promise.resolve();
          },
        };
      }),
  });
  const backend = fakeBackend({
    connect: () => {
      connects += 1;
      return Promise.resolve(service);
    },
  });
  return {
    backend,
    service,
    decided,
    passes,
    handlers: () => handlers,
    end: (r: ApproveResult) => {
      end(r);
    },
    fail: (e: Error) => {
      fail(e);
    },
    connects: () => connects,
  };
}
