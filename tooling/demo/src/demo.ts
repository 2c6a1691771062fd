// SPDX-License-Identifier: AGPL-3.0-only
// The README's first command ends here: a real run of the vault format on a throw-away vault.
// It imports the built packages (dist/) the way an integrator would, and prints names,
// metadata and refusals only — never a value.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, realpathSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KDF_FLOOR,
  createVault,
  isCryptoFormatError,
  parseHeader,
  readVault,
  updateVault,
} from '@cora/crypto-format';
import { SecretBuf, wipeSecretsBlock, type SecretEntry } from '@cora/memstore';

function step(text: string): void {
  console.log(`\n▸ ${text}`);
}

async function expectRefusal(what: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
    throw new Error(`${what}: was accepted, but must be refused`);
  } catch (error) {
    if (!isCryptoFormatError(error)) throw error;
    console.log(`  ${what}: refused with ${error.code}`);
  }
}

/** Printable random bytes, made byte by byte so they never pass through a string. */
function printableRandom(length: number): Buffer {
  const alphabet = Buffer.from('abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789');
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = alphabet[randomInt(alphabet.length)]!;
  return out;
}

/** The real `cr` CLI and service, in this demo's own CORA_HOME (so its own socket too). */
function serviceDemo(home: string): void {
  // The app's own launcher: it finds the pinned Node 24 like a user's `cr` would.
  const cr = join(dirname(fileURLToPath(import.meta.resolve('@cora/daemon/package.json'))), 'bin', 'cr');
  const coraHome = join(home, 'cr-home');
  const env: NodeJS.ProcessEnv = { ...process.env, CORA_HOME: coraHome, CORA_NODE: process.execPath };
  delete env['NODE_OPTIONS'];
  // A throw-away passphrase in a 0600 file of the temp dir: scripts use --passphrase-file/-fd,
  // never argv or the environment.
  const passFile = join(home, 'demo-passphrase');
  const pass = printableRandom(24);
  writeFileSync(passFile, pass, { mode: 0o600 });
  pass.fill(0);
  const run = (args: string[], input?: Buffer): void => {
    console.log(`  $ cr ${args.join(' ')}`);
    const result = spawnSync(cr, args, { env, input: input ?? Buffer.alloc(0), encoding: 'buffer' });
    input?.fill(0);
    const text = `${result.stdout.toString()}${result.stderr.toString()}`.trimEnd();
    if (text !== '') console.log(text.replace(/^/gm, '    '));
    if (result.status !== 0) throw new Error(`cr ${args[0] ?? ''} exited with ${String(result.status)}`);
  };
  step(`the cr CLI and the service, in a throw-away CORA_HOME (${coraHome})`);
  const withPass = ['--passphrase-file', passFile];
  try {
    run(['init', ...withPass]);
    run(['unlock', ...withPass]);
    run(['secrets', 'set', 'DEMO_TOKEN', ...withPass], printableRandom(32));
    run(['secrets', 'list']);
    run(['status']);
    // A task instead of a key: the service runs the command with the secret in its
    // environment; the output comes back masked.
    const sh = realpathSync('/bin/sh');
    run(['policy', 'task', 'add', 'demo', 'DEMO_TOKEN', '--target', sh, '--allow-interpreter', ...withPass]);
    run(['exec', 'demo', '--', 'sh', '-c', 'echo "the child sees: $DEMO_TOKEN"']);
    // Everything above was audited (names, never values), chained and MACed.
    run(['audit', 'tail', '-n', '4']);
    run(['audit', 'verify']);
    run(['lock']);
    run(['status']);
  } finally {
    // Stop the demo's service (SIGTERM wipes and exits).
    const status = spawnSync(cr, ['status', '--json'], { env, encoding: 'utf8' });
    const pid = (JSON.parse(status.stdout || '{}') as { pid?: number | null }).pid;
    if (typeof pid === 'number') process.kill(pid, 'SIGTERM');
  }
}

const home = mkdtempSync(join(tmpdir(), 'cora-demo-'));
const vaultPath = join(home, 'vault.cora');
// A demo passphrase from random bytes: the demo never types or prints one.
const passphrase = SecretBuf.random(24);
const wrong = SecretBuf.random(24);
try {
  step(`creating a throw-away vault in ${home}`);
  const now = Date.now();
  const entries: SecretEntry[] = ['OPENAI_API_KEY', 'GITHUB_TOKEN', 'STRIPE_SECRET_KEY'].map((name) => ({
    name,
    value: SecretBuf.random(40),
    created: now,
    updated: now,
  }));
  const json = new TextEncoder().encode(JSON.stringify({ policy: {}, meta: { createdBy: 'demo' } }));
  const block = { entries, auditKey: SecretBuf.random(32), json };
  let start = performance.now();
  await createVault(vaultPath, block, passphrase);
  wipeSecretsBlock(block);
  const mode = (statSync(vaultPath).mode & 0o777).toString(8);
  console.log(
    `  sealed ${entries.length} secrets in ${(performance.now() - start).toFixed(0)} ms, file mode ${mode}`,
  );

  const header = parseHeader(readFileSync(vaultPath));
  console.log(
    `  header: version ${header.version}, Argon2id t=${header.params.t} m=${header.params.m} KiB p=${header.params.p}` +
      ` (floor t=${KDF_FLOOR.t} m=${KDF_FLOOR.m} p=${KDF_FLOOR.p}), ${statSync(vaultPath).size} bytes`,
  );

  step('opening it again (Argon2id → XChaCha20-Poly1305 → secure memory)');
  start = performance.now();
  const opened = await readVault(vaultPath, passphrase);
  console.log(
    `  opened in ${(performance.now() - start).toFixed(0)} ms; names and sizes (values stay in secure memory):`,
  );
  for (const entry of opened.entries)
    console.log(`    ${entry.name.padEnd(20)} ${entry.value.length} bytes  ${String(entry.value)}`);
  wipeSecretsBlock(opened);

  step('adding a secret under the write lock (previous version kept as vault.cora.prev)');
  await updateVault(vaultPath, passphrase, (current) => ({
    ...current,
    entries: [
      ...current.entries,
      { name: 'ANTHROPIC_API_KEY', value: SecretBuf.random(40), created: Date.now(), updated: Date.now() },
    ],
  }));
  const again = await readVault(vaultPath, passphrase);
  console.log(`  now ${again.entries.length} secrets: ${again.entries.map((e) => e.name).join(', ')}`);
  wipeSecretsBlock(again);
  console.log(`  vault.cora.prev: ${statSync(`${vaultPath}.prev`).size} bytes`);

  step('refusals');
  await expectRefusal('wrong passphrase', () => readVault(vaultPath, wrong));
  const sealed = readFileSync(vaultPath);
  const flipped = Buffer.from(sealed);
  flipped[flipped.length - 20]! ^= 0x01;
  writeFileSync(vaultPath, flipped);
  await expectRefusal('one flipped ciphertext bit', () => readVault(vaultPath, passphrase));
  const downgraded = Buffer.from(sealed);
  downgraded.writeUInt32LE(1, 6); // t = 1, under the floor
  writeFileSync(vaultPath, downgraded);
  await expectRefusal('KDF downgrade to t=1', () => readVault(vaultPath, passphrase));
  writeFileSync(vaultPath, sealed);

  serviceDemo(home);
  console.log('\nDone. The demo vault is deleted; nothing was printed but names, sizes and error codes.');
} finally {
  passphrase.wipe();
  wrong.wipe();
  rmSync(home, { recursive: true, force: true });
}
