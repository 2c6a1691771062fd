// SPDX-License-Identifier: AGPL-3.0-only
import { useEffect, useLayoutEffect, useRef, useState, type ReactElement } from 'react';
import { Box, Text, useInput } from 'ink';
import { MAX_VALUE_BYTES, type SecretBuf } from '@cora/memstore';
import { useColor, useTui } from './context.tsx';
import type { CaptureEnd } from './raw-input.ts';
import { editText } from './text-edit.ts';

/**
 * What a masked field reads, which sets its limit: a passphrase (the CLI's limit, from the
 * backend) or a secret value (`@cora/memstore`'s).
 */
export type MaskedKind = 'passphrase' | 'value';

/** The strength shown for a passphrase's warnings: none is strong, one fair, more weak. */
export function strength(warnings: readonly string[]): 'strong' | 'fair' | 'weak' {
  return warnings.length === 0 ? 'strong' : warnings.length === 1 ? 'fair' : 'weak';
}

/** Props of {@link MaskedInput}. */
export interface MaskedInputProps {
  readonly label: string;
  readonly kind: MaskedKind;
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
 * learns how many characters there are (one `•` each). Unmounting wipes what was typed. A
 * capture ends with Enter: give the next prompt its own `key` so it captures afresh.
 */
export function MaskedInput(props: MaskedInputProps): ReactElement {
  const { input, backend } = useTui();
  const maxBytes = props.kind === 'passphrase' ? backend.maxPassphraseBytes : MAX_VALUE_BYTES;
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
    return input.capture(maxBytes, {
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
  }, [input, maxBytes, props.label]);
  const level = warnings === null ? null : strength(warnings);
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

/** A plain text field for non-secret input (names, paths, argv, filters). */
export function TextField(props: TextFieldProps): ReactElement {
  // Keyed on the label: the next prompt at the same place starts empty.
  return <TextFieldInner key={props.label} {...props} />;
}

function TextFieldInner(props: TextFieldProps): ReactElement {
  const { setTyping } = useTui();
  const color = useColor();
  const [value, setValue] = useState(props.initial ?? '');
  // Several keys may arrive before the next render: the ref is the text they edit.
  const valueRef = useRef(value);
  useEffect(() => {
    setTyping(true);
    return () => {
      setTyping(false);
    };
  }, [setTyping]);
  useInput((text, key) => {
    const edit = editText(valueRef.current, text, key);
    if (edit.value !== valueRef.current) {
      valueRef.current = edit.value;
      setValue(edit.value);
    }
    if (edit.submit === true) props.onSubmit(edit.value);
    else if (edit.cancel === true) props.onCancel();
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
