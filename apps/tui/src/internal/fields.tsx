// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect, useLayoutEffect, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import type { SecretBuf } from '@cora/memstore';
import { useColor, useTui } from './context.tsx';
import type { CaptureEnd } from './raw-input.ts';

/** Longest passphrase accepted (the CLI's limit, DESIGN §9). */
export const MAX_PASSPHRASE_BYTES = 1024;
/** Longest secret value (DESIGN §4). */
export const MAX_VALUE_BYTES = 64 * 1024;

/** Props of {@link MaskedInput}. */
export interface MaskedInputProps {
  readonly label: string;
  readonly maxBytes: number;
  /** Gets the bytes in secure memory and owns them: wipe in `finally`. */
  readonly onSubmit: (value: SecretBuf) => void;
  readonly onCancel: (why: CaptureEnd) => void;
  /**
   * Strength of what is typed so far, measured on a secure-memory copy that is wiped at once:
   * warnings, never the bytes.
   */
  readonly measure?: (value: SecretBuf) => readonly string[];
}

/**
 * A masked field. Its bytes never pass through Ink or React state: while it is mounted the
 * input router captures the raw terminal bytes into a SecretBuf and this component only
 * learns how many characters there are (one `•` each). Unmounting wipes what was typed.
 */
export function MaskedInput(props: MaskedInputProps): ReactElement {
  const { input } = useTui();
  const color = useColor();
  const [chars, setChars] = useState(0);
  const [warnings, setWarnings] = useState<readonly string[] | null>(null);
  const latest = useRef(props);
  latest.current = props;
  // A layout effect: the capture is installed in the same commit that shows the field, before
  // the next terminal read is routed.
  // Keyed on the label too: one MaskedInput reused for the next prompt captures afresh.
  useLayoutEffect(() => {
    setChars(0);
    setWarnings(null);
    return input.capture(props.maxBytes, {
      onChange: (n) => {
        setChars(n);
        if (n === 0) setWarnings(null);
      },
      inspect: (value) => {
        const measure = latest.current.measure;
        // Warnings name lengths and character classes, never the bytes.
        if (measure !== undefined && value.length > 0) setWarnings(measure(value));
      },
      onSubmit: (value) => {
        latest.current.onSubmit(value);
      },
      onCancel: (why) => {
        latest.current.onCancel(why);
      },
    });
  }, [input, props.maxBytes, props.label]);
  const level =
    warnings === null ? null : warnings.length === 0 ? 'strong' : warnings.length === 1 ? 'fair' : 'weak';
  const levelColor = level === 'strong' ? 'green' : level === 'fair' ? 'yellow' : 'red';
  return (
    <Box flexDirection="column">
      <Text>
        {props.label} <Text {...color('cyan')}>{'•'.repeat(Math.min(chars, 64))}</Text>
        <Text inverse> </Text>
      </Text>
      {level === null ? null : (
        <Text>
          strength: <Text {...color(levelColor)}>{level}</Text>
          {warnings !== null && warnings.length > 0 ? <Text dimColor> ({warnings.join('; ')})</Text> : null}
        </Text>
      )}
      <Text dimColor>Enter to confirm · Esc to cancel · Ctrl-U to clear</Text>
    </Box>
  );
}

/** Props of {@link TextField}. */
export interface TextFieldProps {
  readonly label: string;
  readonly initial?: string;
  readonly onSubmit: (value: string) => void;
  readonly onCancel: () => void;
  readonly hint?: string;
}

/** `text` without C0 control characters and DEL (a paste may carry them). */
function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0;
    if (code >= 0x20 && code !== 0x7f) out += c;
  }
  return out;
}

/** A plain text field for non-secret input (names, paths, argv, filters). */
export function TextField(props: TextFieldProps): ReactElement {
  // Keyed on the label: the next prompt at the same place starts empty.
  return <TextFieldInner key={props.label} {...props} />;
}

function TextFieldInner(props: TextFieldProps): ReactElement {
  const { setTyping } = useTui();
  const color = useColor();
  const [value, setValueState] = useState(props.initial ?? '');
  // Ink may deliver "text⏎" as one string: the ref lets Enter submit what came before it.
  const valueRef = useRef(value);
  const setValue = (next: (v: string) => string): void => {
    valueRef.current = next(valueRef.current);
    setValueState(valueRef.current);
  };
  useEffect(() => {
    setTyping(true);
    return () => {
      setTyping(false);
    };
  }, [setTyping]);
  useInput((text, key) => {
    const enter = text.search(/[\r\n]/u);
    if (enter > 0 && !key.ctrl && !key.meta) {
      const before = printable(text.slice(0, enter));
      setValue((v) => v + before);
      props.onSubmit(valueRef.current);
      return;
    }
    if (key.return) props.onSubmit(valueRef.current);
    else if (key.escape) props.onCancel();
    else if (key.backspace || key.delete) setValue((v) => Array.from(v).slice(0, -1).join(''));
    else if (key.ctrl && text === 'u') setValue(() => '');
    else if (!key.ctrl && !key.meta && !key.tab && !key.upArrow && !key.downArrow && text.length > 0) {
      // Drop control characters a paste may carry.
      setValue((v) => v + printable(text));
    }
  });
  return (
    <Box flexDirection="column">
      <Text>
        {props.label} <Text {...color('cyan')}>{value}</Text>
        <Text inverse> </Text>
      </Text>
      <Text dimColor>{props.hint ?? 'Enter to confirm · Esc to cancel'}</Text>
    </Box>
  );
}

/** Props of {@link Confirm}. */
export interface ConfirmProps {
  readonly question: string;
  readonly onYes: () => void;
  readonly onNo: () => void;
}

/** A y/n question. */
export function Confirm(props: ConfirmProps): ReactElement {
  const { setTyping } = useTui();
  useEffect(() => {
    setTyping(true);
    return () => {
      setTyping(false);
    };
  }, [setTyping]);
  useInput((text, key) => {
    if (text === 'y' || text === 'Y') props.onYes();
    else if (text === 'n' || text === 'N' || key.escape) props.onNo();
  });
  return (
    <Text>
      {props.question} <Text bold>[y/n]</Text>
    </Text>
  );
}
