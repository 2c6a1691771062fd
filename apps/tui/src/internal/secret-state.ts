// SPDX-License-Identifier: AGPL-3.0-only
/**
 * State that holds secret bytes. A screen's reducer stays pure: it only says which
 * `SecretBuf`s the state holds. This hook wipes every buffer a transition lets go of (one the
 * old state or the action held that the new state does not), and everything still held when
 * the screen unmounts, so a value typed and then abandoned at any step is wiped (architecture §1 G3).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { SecretBuf } from '@cora/memstore';

/**
 * The buffers of `before` that are not in `after`: what a transition lets go of.
 * @param before - held before the transition (the old state's and the action's)
 * @param after - held by the new state
 * @returns the buffers to wipe, each once
 */
export function dropped(before: readonly SecretBuf[], after: readonly SecretBuf[]): SecretBuf[] {
  const kept = new Set(after);
  return [...new Set(before)].filter((buf) => !kept.has(buf));
}

/** How a screen's state and actions hold secret bytes. */
export interface SecretReducer<S, A> {
  /** Pure: the next state. Must not wipe (the hook does). */
  readonly reduce: (state: S, action: A) => S;
  /** The buffers `state` holds. */
  readonly held: (state: S) => readonly SecretBuf[];
  /** The buffers `action` hands to the reducer (wiped unless the new state keeps them). */
  readonly carried: (action: A) => readonly SecretBuf[];
}

/** What {@link useSecretReducer} returns. */
export interface SecretStore<S, A> {
  readonly state: S;
  /** Apply `action` at once (not at the next render) and return the new state. */
  readonly dispatch: (action: A) => S;
  /** The latest state, for callbacks that outlive a render (a request that settles later). */
  readonly current: () => S;
}

/**
 * `useReducer` for a state that holds secret bytes, wiping what each transition drops.
 * Transitions apply synchronously, so a handler can dispatch and then read what the new
 * state holds (the bytes a request is about to send).
 * @param spec - the reducer and what its states and actions hold
 * @param initial - the first state
 * @returns the state, `dispatch` and `current`
 */
export function useSecretReducer<S, A>(spec: SecretReducer<S, A>, initial: () => S): SecretStore<S, A> {
  const [state, setState] = useState<S>(initial);
  const ref = useRef<S>(state);
  const specRef = useRef(spec);
  specRef.current = spec;
  const dispatch = useCallback((action: A): S => {
    const { reduce, held, carried } = specRef.current;
    const before = ref.current;
    const after = reduce(before, action);
    ref.current = after;
    for (const buf of dropped([...held(before), ...carried(action)], held(after))) buf.wipe();
    if (after !== before) setState(after);
    return after;
  }, []);
  const current = useCallback((): S => ref.current, []);
  useEffect(
    () => () => {
      for (const buf of specRef.current.held(ref.current)) buf.wipe();
    },
    [],
  );
  return { state, dispatch, current };
}
