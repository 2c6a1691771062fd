// SPDX-License-Identifier: AGPL-3.0-only
// The hook that wipes what a screen's state lets go of.
import { afterEach, describe, expect, it } from 'vitest';
import { useEffect, type ReactElement } from 'react';
import { Text } from 'ink';
import { cleanup, render } from 'ink-testing-library';
import type { SecretBuf } from '@cora/memstore';
import {
  dropped,
  useSecretReducer,
  type SecretReducer,
  type SecretStore,
} from '../src/internal/secret-state.ts';
import { secret, tick } from './harness.tsx';

afterEach(() => {
  cleanup();
});

/** A toy state: a list of held buffers. Actions hold, release or hand one in and drop it. */
type Toy = { readonly held: readonly SecretBuf[]; readonly renders: number };
type ToyAction =
  | { readonly type: 'hold'; readonly buf: SecretBuf }
  | { readonly type: 'release'; readonly buf: SecretBuf }
  | { readonly type: 'refuse'; readonly buf: SecretBuf }
  | { readonly type: 'noop' };

const TOY: SecretReducer<Toy, ToyAction> = {
  reduce: (state, action) => {
    switch (action.type) {
      case 'hold':
        return { ...state, held: [...state.held, action.buf] };
      case 'release':
        return { ...state, held: state.held.filter((b) => b !== action.buf) };
      case 'refuse':
        return { ...state };
      case 'noop':
        return state;
    }
  },
  held: (state) => state.held,
  carried: (action) => (action.type === 'hold' || action.type === 'refuse' ? [action.buf] : []),
};

/** Render the hook and hand its store out. */
function mountToy(): {
  store: () => SecretStore<Toy, ToyAction>;
  frames: () => string[];
  unmount: () => void;
} {
  let store: SecretStore<Toy, ToyAction> | null = null;
  function Probe(): ReactElement {
    const s = useSecretReducer(TOY, () => ({ held: [], renders: 0 }));
    useEffect(() => {
      store = s;
    });
    store = s;
    return <Text>held {s.state.held.length}</Text>;
  }
  const view = render(<Probe />);
  return {
    store: () => {
      if (store === null) throw new Error('not rendered');
      return store;
    },
    frames: () => view.frames,
    unmount: () => {
      view.unmount();
    },
  };
}

describe('dropped', () => {
  it('should name what was held before and is not after, once each', () => {
    const [a, b, c] = [secret('a'), secret('b'), secret('c')];
    expect(dropped([a, b, a], [b])).toEqual([a]);
    expect(dropped([a], [a, c])).toEqual([]);
    expect(dropped([], [a])).toEqual([]);
    for (const x of [a, b, c]) x.wipe();
  });
});

describe('useSecretReducer', () => {
  it('should apply an action at once and return the new state', () => {
    const toy = mountToy();
    const a = secret('a');
    const next = toy.store().dispatch({ type: 'hold', buf: a });
    expect(next.held).toEqual([a]);
    expect(toy.store().current().held).toEqual([a]);
    expect(a.wiped).toBe(false);
    toy.unmount();
  });

  it('should wipe a buffer the state lets go of, and only that one', () => {
    const toy = mountToy();
    const [a, b] = [secret('a'), secret('b')];
    toy.store().dispatch({ type: 'hold', buf: a });
    toy.store().dispatch({ type: 'hold', buf: b });
    toy.store().dispatch({ type: 'release', buf: a });
    expect(a.wiped).toBe(true);
    expect(b.wiped).toBe(false);
    toy.unmount();
  });

  it('should wipe a buffer an action hands in that the state does not keep', () => {
    const toy = mountToy();
    const a = secret('a');
    toy.store().dispatch({ type: 'refuse', buf: a });
    expect(a.wiped).toBe(true);
    toy.unmount();
  });

  it('should wipe everything still held when the screen unmounts', () => {
    const toy = mountToy();
    const [a, b] = [secret('a'), secret('b')];
    toy.store().dispatch({ type: 'hold', buf: a });
    toy.store().dispatch({ type: 'hold', buf: b });
    toy.unmount();
    expect(a.wiped).toBe(true);
    expect(b.wiped).toBe(true);
  });

  it('should render the new state, and not re-render for an action that changes nothing', async () => {
    const toy = mountToy();
    toy.store().dispatch({ type: 'hold', buf: secret('a') });
    // Ink renders on its own schedule: give a loaded machine up to 2 s for the frame.
    for (let i = 0; i < 100 && toy.frames().at(-1) !== 'held 1'; i++) await tick(20);
    expect(toy.frames().at(-1)).toBe('held 1');
    const before = toy.frames().length;
    toy.store().dispatch({ type: 'noop' });
    await tick();
    expect(toy.frames().length).toBe(before);
    toy.unmount();
  });
});
