// SPDX-License-Identifier: AGPL-3.0-only
// The secrets screen as the user meets it: the table, add / delete / import sent with the
// passphrase, values masked and wiped.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { SecretMeta } from '@cora/ipc';
import { Secrets } from '../../src/internal/screens/secrets/view.tsx';
import type { AuditRecordLike, DotenvImport, TuiBackend, TuiService } from '../../src/types.ts';
import {
  auditOf,
  CANARY,
  catchSubmits,
  DOWN,
  ENTER,
  escape,
  fakeBackend,
  PASS,
  renderScreen,
  secret,
  textOf,
  tick,
} from '../harness.tsx';

afterEach(() => {
  cleanup();
});

const GH: SecretMeta = {
  name: 'GH_TOKEN',
  created: '2026-11-01T10:00:00.000Z',
  updated: '2026-11-02T10:00:00.000Z',
};
const KEY2: SecretMeta = {
  name: 'OTHER',
  created: '2026-11-01T10:00:00.000Z',
  updated: '2026-11-01T10:00:00.000Z',
};

/** An audit log holding one injection of GH_TOKEN (for the last-used column). */
const injections = auditOf([
  { seq: 1, time: '2026-11-03T09:30:00.000Z', type: 'task-start', task: 'gh' },
  {
    seq: 2,
    time: '2026-11-03T09:31:00.000Z',
    type: 'secret-injected',
    task: 'gh',
    secrets: ['GH_TOKEN'],
  } as AuditRecordLike,
]);

/** The screen over a service listing `list`, recording what it is sent. */
function setup(
  backend: Partial<TuiBackend> = {},
  service: Partial<TuiService> = {},
  list: SecretMeta[] = [GH, KEY2],
) {
  const sent: string[] = [];
  let lists = 0;
  const screen = renderScreen(
    <Secrets />,
    fakeBackend(
      { readAudit: injections, ...backend },
      {
        listSecrets: () => {
          lists += 1;
          return Promise.resolve(list);
        },
        setSecret: (name, value, p) => {
          sent.push(`set ${name}=${textOf(value)}/${textOf(p)}`);
          return Promise.resolve({ name, replaced: name === 'GH_TOKEN' });
        },
        deleteSecret: (name, p) => {
          sent.push(`rm ${name}/${textOf(p)}`);
          return Promise.resolve();
        },
        importSecrets: (names, values, p) => {
          sent.push(`import ${names.join(',')}=${values.map(textOf).join(',')}/${textOf(p)}`);
          return Promise.resolve({ created: ['A'], replaced: ['GH_TOKEN'] });
        },
        ...service,
      },
    ),
  );
  return { screen, sent, lists: () => lists };
}

function dotenv(names: readonly string[], problems: readonly string[] = []): DotenvImport {
  return { names, values: names.map((n) => secret(`${CANARY}-${n}`)), problems };
}

describe('Secrets view', () => {
  it('should list names with their times and when they were last injected', async () => {
    const { screen } = setup();
    await tick(30);
    expect(screen.frame()).toMatch(/NAME\s+CREATED\s+UPDATED\s+LAST USED/u);
    expect(screen.frame()).toMatch(/GH_TOKEN .*2026-11-01 10:00 .*2026-11-02 10:00 .*2026-11-03 09:31/u);
    expect(screen.frame()).toMatch(/OTHER .*never/u);
  });

  it('should add a secret asking the value and the passphrase masked', async () => {
    const { screen, sent, lists } = setup();
    await tick(30);
    await screen.keys('a');
    expect(screen.typing()).toBe(true);
    await screen.keys(`NEW_ONE${ENTER}`);
    expect(screen.frame()).toContain('Value for NEW_ONE (hidden):');
    await screen.keys(CANARY);
    expect(screen.frame()).toContain('•'.repeat(CANARY.length));
    await screen.keys(ENTER);
    expect(screen.frame()).toContain('Passphrase to store NEW_ONE:');
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('Stored NEW_ONE.');
    expect(sent).toEqual([`set NEW_ONE=${CANARY}/${PASS}`]);
    expect(lists()).toBe(2); // listed again after the change
    expect(screen.seen()).not.toContain(CANARY);
    expect(screen.seen()).not.toContain(PASS);
  });

  it('should say Replaced for a name that existed', async () => {
    const { screen } = setup();
    await tick(30);
    await screen.keys('a');
    await screen.keys(`GH_TOKEN${ENTER}`);
    await screen.keys(`${CANARY}${ENTER}`);
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('Replaced GH_TOKEN.');
  });

  it('should wipe the value and the passphrase once the request settled', async () => {
    const { screen } = setup({}, { setSecret: () => Promise.reject(new Error('the vault is locked')) });
    const submitted = catchSubmits(screen.router);
    await tick(30);
    await screen.keys('a');
    await screen.keys(`K${ENTER}`);
    await screen.keys(`${CANARY}${ENTER}`);
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('the vault is locked');
    expect(submitted).toHaveLength(2);
    expect(submitted.every((b) => b.wiped)).toBe(true);
  });

  it('should wipe a typed value when its passphrase prompt is cancelled', async () => {
    const { screen, sent } = setup();
    const submitted = catchSubmits(screen.router);
    await tick(30);
    await screen.keys('a');
    await screen.keys(`X${ENTER}`);
    await screen.keys(`${CANARY}${ENTER}`);
    await screen.keys('\u001b');
    expect(submitted[0]?.wiped).toBe(true);
    expect(screen.frame()).toContain('cancelled');
    expect(sent).toEqual([]);
  });

  it('should wipe a value waiting for its passphrase when the screen is left', async () => {
    const { screen } = setup();
    const submitted = catchSubmits(screen.router);
    await tick(30);
    await screen.keys('a');
    await screen.keys(`X${ENTER}`);
    await screen.keys(`${CANARY}${ENTER}`);
    expect(submitted[0]?.wiped).toBe(false);
    screen.unmount();
    expect(submitted[0]?.wiped).toBe(true);
  });

  it('should refuse an invalid name before asking for a value', async () => {
    const { screen } = setup();
    await tick(30);
    await screen.keys('a');
    await screen.keys(`1BAD${ENTER}`);
    expect(screen.frame()).toContain(`'1BAD' is not a valid name`);
    expect(screen.frame()).not.toContain('Value for');
  });

  it('should say too long when a value overflows the field, changing nothing', async () => {
    const { screen, sent } = setup();
    await tick(30);
    await screen.keys('a');
    await screen.keys(`BIG${ENTER}`);
    await screen.keys(`${'x'.repeat(64 * 1024 + 1)}${ENTER}`);
    expect(screen.frame()).toContain('too long; nothing was changed');
    expect(sent).toEqual([]);
  });

  it('should delete the selected secret after a confirmation and the passphrase', async () => {
    const { screen, sent } = setup();
    await tick(30);
    await screen.keys(DOWN);
    await screen.keys('d');
    expect(screen.frame()).toContain('Delete OTHER? [y/n]');
    await screen.keys('y');
    expect(screen.frame()).toContain('Passphrase to delete OTHER:');
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(sent).toEqual([`rm OTHER/${PASS}`]);
    expect(screen.frame()).toContain('Deleted OTHER.');
    expect(screen.seen()).not.toContain(PASS);
  });

  it('should not delete on n', async () => {
    const { screen, sent } = setup();
    await tick(30);
    await screen.keys('d');
    await screen.keys('n');
    expect(screen.frame()).toContain('cancelled');
    expect(sent).toEqual([]);
  });

  it('should import a .env file after previewing its names, asking the passphrase once', async () => {
    const parsed = dotenv(['A', 'GH_TOKEN']);
    const { screen, sent } = setup({ readDotenv: () => Promise.resolve(parsed) });
    await tick(30);
    await screen.keys('i');
    await screen.keys(`/p/.env${ENTER}`);
    await tick();
    expect(screen.frame()).toContain('2 secret(s): A, GH_TOKEN');
    await screen.keys('y');
    expect(screen.frame()).toContain('Passphrase to import 2 secret(s):');
    await screen.keys(`${PASS}${ENTER}`);
    await tick(30);
    expect(screen.frame()).toContain('Added: A · Replaced: GH_TOKEN');
    expect(sent).toEqual([`import A,GH_TOKEN=${CANARY}-A,${CANARY}-GH_TOKEN/${PASS}`]);
    expect(parsed.values.every((v) => v.wiped)).toBe(true);
    expect(screen.seen()).not.toContain(CANARY);
  });

  it('should refuse a file with problems and wipe what it read', async () => {
    const parsed = dotenv(['A'], ['/p/.env:3: UNTERMINATED_QUOTE']);
    const { screen, sent } = setup({ readDotenv: () => Promise.resolve(parsed) });
    await tick(30);
    await screen.keys('i');
    await screen.keys(`/p/.env${ENTER}`);
    await tick();
    expect(screen.frame()).toContain('/p/.env:3: UNTERMINATED_QUOTE');
    expect(screen.frame()).toContain('The file has problems; nothing will be imported. Back? [y/n]');
    await screen.keys('y');
    expect(parsed.values[0]?.wiped).toBe(true);
    expect(sent).toEqual([]);
  });

  it('should say when a file holds nothing to import', async () => {
    const { screen } = setup({ readDotenv: () => Promise.resolve(dotenv([])) });
    await tick(30);
    await screen.keys('i');
    await screen.keys(`/p/.env${ENTER}`);
    await tick();
    expect(screen.frame()).toContain('Nothing to import. Back? [y/n]');
  });

  it('should wipe a previewed file when the import is declined', async () => {
    const parsed = dotenv(['A']);
    const { screen } = setup({ readDotenv: () => Promise.resolve(parsed) });
    await tick(30);
    await screen.keys('i');
    await screen.keys(`/p/.env${ENTER}`);
    await tick();
    await screen.keys('n');
    expect(parsed.values[0]?.wiped).toBe(true);
    expect(screen.frame()).toContain('cancelled');
  });

  it('should say why a file could not be read', async () => {
    const { screen } = setup({ readDotenv: () => Promise.reject(new Error('/p/.env: permission denied')) });
    await tick(30);
    await screen.keys('i');
    await screen.keys(`/p/.env${ENTER}`);
    await tick();
    expect(screen.frame()).toContain('/p/.env: permission denied');
  });

  it('should explain an empty list and a locked service', async () => {
    const empty = setup({}, {}, []).screen;
    await tick(30);
    expect(empty.frame()).toContain('No secrets yet. a adds one, i imports a .env file.');
    const locked = setup(
      {},
      {
        listSecrets: () =>
          Promise.reject(Object.assign(new Error('the service is locked'), { code: 'LOCKED' })),
      },
    ).screen;
    await tick(30);
    expect(locked.frame()).toContain('Secrets are listed while the service is unlocked (Dashboard: u).');
    expect(locked.frame()).toContain('the service is locked (LOCKED)');
  });

  it('should still list when the audit log cannot be read', async () => {
    const { screen } = setup({
      readAudit: () => ({
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('EACCES')) }),
      }),
    });
    await tick(30);
    expect(screen.frame()).toMatch(/GH_TOKEN .*never/u);
  });

  it('should list again on r', async () => {
    const { screen, lists } = setup();
    await tick(30);
    await screen.keys('r');
    await tick(30);
    expect(lists()).toBe(2);
  });

  it('should show the compact table below 72 columns', async () => {
    const screen = renderScreen(
      <Secrets />,
      fakeBackend({ readAudit: injections }, { listSecrets: () => Promise.resolve([GH]) }),
      { columns: 60, rows: 18 },
    );
    await tick(30);
    expect(screen.frame()).toMatch(/NAME\s+UPDATED/u);
    expect(screen.frame()).not.toContain('LAST USED');
  });

  it('should leave a prompt on Esc without sending anything', async () => {
    const { screen, sent } = setup();
    await tick(30);
    await screen.keys('a');
    await escape(screen);
    expect(screen.frame()).toContain('cancelled');
    expect(screen.typing()).toBe(false);
    await screen.keys('i');
    await escape(screen);
    expect(sent).toEqual([]);
  });
});
