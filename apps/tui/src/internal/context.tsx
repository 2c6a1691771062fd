// SPDX-License-Identifier: AGPL-3.0-only
import { createContext, useContext } from 'react';
import type { TuiBackend, TuiService } from '../types.ts';
import type { InputRouter } from './raw-input.ts';

/** What every screen reads from the app: injected, so tests give strict fakes. */
export interface TuiContextValue {
  readonly backend: TuiBackend;
  readonly input: InputRouter;
  /** False under NO_COLOR: components then use bold and inverse only. */
  readonly color: boolean;
  /** Ring the terminal bell (a new approval request). */
  readonly bell: () => void;
  /** Run `fn` on the shared connection, connecting (and starting the service) when needed. */
  readonly call: <T>(fn: (service: TuiService) => Promise<T>) => Promise<T>;
  /** Screens with a text field claim the keyboard so the global keys (q, 1–6, ?) stay quiet. */
  readonly setTyping: (typing: boolean) => void;
  /** Terminal is below 72×20. */
  readonly compact: boolean;
  readonly columns: number;
  readonly rows: number;
}

const TuiContext = createContext<TuiContextValue | null>(null);

/** Provides {@link TuiContextValue}. */
export const TuiProvider = TuiContext.Provider;

/** The app context; throws outside a provider (a wiring bug, never a user error). */
export function useTui(): TuiContextValue {
  const value = useContext(TuiContext);
  if (value === null) throw new Error('useTui outside TuiProvider');
  return value;
}

/** Props that set a colour, or none under NO_COLOR: spread them onto a `<Text>`. */
export type ColorProps = { readonly color?: string };

/** `{ color: name }`, or `{}` under NO_COLOR. */
export function useColor(): (name: string) => ColorProps {
  const { color } = useTui();
  return (name) => (color ? { color: name } : {});
}
