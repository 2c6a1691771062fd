// SPDX-License-Identifier: AGPL-3.0-only
// The fields: masked input through the router (never Ink), plain text, y/n.
import { afterEach, describe, expect, it } from 'vitest';
import { useState, type ReactElement } from 'react';
import { Text } from 'ink';
import { cleanup } from 'ink-testing-library';
import type { SecretBuf } from '@cora/memstore';
import { Confirm, MaskedInput, strength, TextField, type MaskedKind } from '../src/internal/fields.tsx';
import { useColor } from '../src/internal/context.tsx';
import type { CaptureEnd } from '../src/internal/raw-input.ts';
import {
  BACKSPACE,
  CANARY,
  CTRL_U,
  ENTER,
  escape,
  fakeBackend,
  PASS,
  renderScreen,
  textOf,
  tick,
} from './harness.tsx';

afterEach(() => {
  cleanup();
});

/** A masked field that records what it hands over. */
function masked(kind: MaskedKind, measure?: (v: SecretBuf) => readonly string[], maxPassphraseBytes = 1024) {
  const submitted: SecretBuf[] = [];
  const texts: string[] = [];
  const cancels: CaptureEnd[] = [];
  const screen = renderScreen(
    <MaskedInput
      label="Secret:"
      kind={kind}
      {...(measure === undefined ? {} : { measure })}
      onSubmit={(v) => {
        texts.push(textOf(v));
        submitted.push(v);
      }}
      onCancel={(why) => cancels.push(why)}
    />,
    fakeBackend({ maxPassphraseBytes }),
  );
  return { screen, submitted, texts, cancels };
}

describe('MaskedInput', () => {
  it('should show one dot a character and hand the bytes over on Enter, never to Ink', async () => {
    const m = masked('passphrase');
    await tick();
    expect(m.screen.router.capturing).toBe(true);
    await m.screen.keys('héllo');
    expect(m.screen.frame()).toContain('Secret: •••••');
    await m.screen.keys(ENTER);
    expect(m.texts).toEqual(['héllo']);
    expect(m.screen.seen()).not.toContain('héllo');
  });

  it('should edit with Backspace and Ctrl-U', async () => {
    const m = masked('passphrase');
    await tick();
    await m.screen.keys(`abc${BACKSPACE}`);
    expect(m.screen.frame()).toContain('Secret: ••');
    await m.screen.keys(`${CTRL_U}${PASS}${ENTER}`);
    expect(m.texts).toEqual([PASS]);
  });

  it('should cancel on Esc and Ctrl-C, handing nothing over', async () => {
    const m = masked('value');
    await tick();
    await m.screen.keys(`${CANARY}\u001b`);
    expect(m.cancels).toEqual(['cancel']);
    expect(m.submitted).toEqual([]);
    expect(m.screen.seen()).not.toContain(CANARY);
  });

  it("should take up to the backend's passphrase limit, and cancel past it", async () => {
    const m = masked('passphrase', undefined, 6);
    await tick();
    await m.screen.keys(`1234567${ENTER}`);
    expect(m.cancels).toEqual(['too-long']);
    const ok = masked('passphrase', undefined, 6);
    await tick();
    await ok.screen.keys(`123456${ENTER}`);
    expect(ok.texts).toEqual(['123456']);
  });

  it("should take a value up to memstore's limit (64 KiB), and refuse one byte more", async () => {
    const m = masked('value');
    await tick();
    await m.screen.keys(`${'v'.repeat(64 * 1024)}${ENTER}`);
    expect(m.texts[0]).toHaveLength(64 * 1024);
    const over = masked('value');
    await tick();
    await over.screen.keys(`${'v'.repeat(64 * 1024 + 1)}${ENTER}`);
    expect(over.cancels).toEqual(['too-long']);
  });

  it('should show at most 64 dots', async () => {
    const m = masked('value');
    await tick();
    await m.screen.keys('x'.repeat(100));
    expect(m.screen.frame()).toContain(`Secret: ${'•'.repeat(64)}`);
    expect(m.screen.frame()).not.toContain('•'.repeat(65));
  });

  it('should rate the strength from warnings, never showing the bytes', async () => {
    const m = masked('passphrase', (v) =>
      v.length < 8 ? ['short', 'one kind'] : v.length < 12 ? ['no digit'] : [],
    );
    await tick();
    expect(m.screen.frame()).not.toContain('strength');
    await m.screen.keys('abc');
    expect(m.screen.frame()).toContain('strength: weak (short; one kind)');
    await m.screen.keys('defghi');
    expect(m.screen.frame()).toContain('strength: fair (no digit)');
    await m.screen.keys('jklmno');
    expect(m.screen.frame()).toContain('strength: strong');
    await m.screen.keys(CTRL_U);
    expect(m.screen.frame()).not.toContain('strength');
  });

  it('should wipe what was typed when it unmounts', async () => {
    const m = masked('passphrase');
    await tick();
    await m.screen.keys(PASS);
    m.screen.unmount();
    expect(m.screen.router.capturing).toBe(false);
    expect(m.submitted).toEqual([]);
  });

  it('should capture afresh for the next prompt at the same place', async () => {
    const texts: string[] = [];
    function TwoPrompts(): ReactElement {
      const [n, setN] = useState(1);
      return (
        <MaskedInput
          label={`Prompt ${String(n)}:`}
          kind="passphrase"
          onSubmit={(v) => {
            texts.push(textOf(v));
            v.wipe();
            setN((x) => x + 1);
          }}
          onCancel={() => undefined}
        />
      );
    }
    const screen = renderScreen(<TwoPrompts />, fakeBackend({}));
    await tick();
    await screen.keys(`first${ENTER}`);
    expect(screen.frame()).toContain('Prompt 2:');
    await screen.keys(`second${ENTER}`);
    expect(texts).toEqual(['first', 'second']);
    expect(screen.seen()).not.toContain('second');
  });
});

describe('strength', () => {
  it('should be strong without warnings, fair with one, weak with more', () => {
    expect(strength([])).toBe('strong');
    expect(strength(['a'])).toBe('fair');
    expect(strength(['a', 'b'])).toBe('weak');
  });
});

describe('TextField', () => {
  function field(initial?: string) {
    const submitted: string[] = [];
    let cancels = 0;
    const screen = renderScreen(
      <TextField
        label="Name:"
        {...(initial === undefined ? {} : { initial })}
        hint="a hint"
        onSubmit={(v) => submitted.push(v)}
        onCancel={() => {
          cancels += 1;
        }}
      />,
      fakeBackend({}),
    );
    return { screen, submitted, cancels: () => cancels };
  }

  it('should take text, edit it and submit it, holding the keyboard meanwhile', async () => {
    const f = field();
    await tick();
    expect(f.screen.typing()).toBe(true);
    await f.screen.keys('deploy');
    expect(f.screen.frame()).toContain('Name: deploy');
    expect(f.screen.frame()).toContain('a hint');
    await f.screen.keys(BACKSPACE);
    await f.screen.keys(ENTER);
    expect(f.submitted).toEqual(['deplo']);
    f.screen.unmount();
    expect(f.screen.typing()).toBe(false);
  });

  it('should start from the initial text, and clear on Ctrl-U', async () => {
    const f = field('deploy');
    await tick();
    expect(f.screen.frame()).toContain('Name: deploy');
    await f.screen.keys(CTRL_U);
    await f.screen.keys(`web${ENTER}`);
    expect(f.submitted).toEqual(['web']);
  });

  it('should cancel on Esc', async () => {
    const f = field();
    await tick();
    await f.screen.keys('abc');
    await escape(f.screen);
    expect(f.cancels()).toBe(1);
    expect(f.submitted).toEqual([]);
  });

  it('should show the default hint without one', async () => {
    const screen = renderScreen(
      <TextField label="X:" onSubmit={() => undefined} onCancel={() => undefined} />,
      fakeBackend({}),
    );
    await tick();
    expect(screen.frame()).toContain('Enter to confirm · Esc to cancel');
  });
});

describe('Confirm', () => {
  function confirm() {
    const answers: string[] = [];
    const screen = renderScreen(
      <Confirm question="Delete A?" onYes={() => answers.push('yes')} onNo={() => answers.push('no')} />,
      fakeBackend({}),
    );
    return { screen, answers };
  }

  it('should ask and take y or Y as yes', async () => {
    const c = confirm();
    await tick();
    expect(c.screen.frame()).toBe('Delete A? [y/n]');
    expect(c.screen.typing()).toBe(true);
    await c.screen.keys('y');
    await c.screen.keys('Y');
    expect(c.answers).toEqual(['yes', 'yes']);
  });

  it('should take n, N and Esc as no, and ignore other keys', async () => {
    const c = confirm();
    await tick();
    await c.screen.keys('x');
    await c.screen.keys('n');
    await c.screen.keys('N');
    await escape(c.screen);
    expect(c.answers).toEqual(['no', 'no', 'no']);
  });
});

describe('useColor', () => {
  function Probe(): ReactElement {
    const color = useColor();
    return <Text>{JSON.stringify(color('green'))}</Text>;
  }

  it('should give a colour, and none under NO_COLOR', async () => {
    const colored = renderScreen(<Probe />, fakeBackend({}));
    await tick();
    expect(colored.frame()).toBe('{"color":"green"}');
    const plain = renderScreen(<Probe />, fakeBackend({}), { color: false });
    await tick();
    expect(plain.frame()).toBe('{}');
  });
});
