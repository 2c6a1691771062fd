// SPDX-License-Identifier: AGPL-3.0-only
import { render } from 'ink-testing-library';
import type { SecretBuf } from '@cora/memstore';
import { App } from '../src/internal/app.tsx';
import { InputRouter } from '../src/internal/raw-input.ts';
import type { TuiBackend, TuiService } from '../src/types.ts';

/** Let React commit and the router's deferred bytes drain. */
export async function tick(ms = 15): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
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

/** A strict backend with the fixed fields filled in. */
export function fakeBackend(impl: Partial<TuiBackend>, service?: Partial<TuiService>): TuiBackend {
  return strict<TuiBackend>('backend', {
    home: '/home/u/.cora',
    vaultPath: '/home/u/.cora/vault.cora',
    socketPath: '/run/user/1/cora/cora.sock',
    version: '0.1.0',
    vaultExists: () => true,
    ...(service === undefined
      ? {}
      : {
          connect: () =>
            Promise.resolve(strict<TuiService>('service', { close: () => undefined, ...service })),
        }),
    ...impl,
  });
}

/** Copy of a SecretBuf's bytes as text, for assertions only. */
export function textOf(buf: SecretBuf): string {
  return buf.use((b) => Buffer.from(b).toString('utf8'));
}

/** A rendered app and the handles the tests drive it with. */
export type RenderedApp = ReturnType<typeof render> & {
  readonly router: InputRouter;
  keys(text: string): Promise<void>;
  /** Everything Ink ever received as text, and everything ever drawn. */
  seen(): string;
  readonly exits: number[];
  bells(): number;
};

/** Render the app; `keys` types through the input router as the terminal would. */
export function renderApp(
  backend: TuiBackend,
  size: { columns?: number; rows?: number; color?: boolean } = {},
): RenderedApp {
  const router = new InputRouter();
  const sunk: string[] = [];
  const exits: number[] = [];
  let bells = 0;
  const view = render(
    <App
      backend={backend}
      input={router}
      color={size.color ?? true}
      columns={size.columns ?? 100}
      rows={size.rows ?? 30}
      bell={() => {
        bells += 1;
      }}
      onExit={(code) => {
        exits.push(code);
      }}
    />,
  );
  router.setSink((text) => {
    sunk.push(text);
    view.stdin.write(text);
  });
  const keys = async (text: string): Promise<void> => {
    router.feed(Buffer.from(text));
    await tick();
  };
  return {
    ...view,
    router,
    keys,
    /** Everything Ink ever received as text, and everything ever drawn. */
    seen: () => sunk.join('') + view.frames.join(''),
    exits,
    bells: () => bells,
  };
}

export const ENTER = '\r';
export const ESC = '\u001b';
export const DOWN = '\u001b[B';
