// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `@cora/display`: text that came from an untrusted process (an agent's argv, its cwd, its
 * environment) shown to a human without letting it steer the terminal or hide what it is.
 * @packageDocumentation
 */
export {
  visible,
  shellQuote,
  quoteCommand,
  type CutOptions,
  type QuoteOptions,
  type CommandOptions,
} from './text.ts';
export {
  approvalLines,
  span,
  type ApprovalFields,
  type ApprovalLinesOptions,
  type DisplayLine,
} from './approval.ts';
export { localClock, lockReasonText } from './time.ts';
