// SPDX-License-Identifier: AGPL-3.0-only
// Install Cora the way a user does, from the packages CI would publish (issue 14):
//   1. `pnpm pack` every publishable workspace package (built first: `pnpm run build`);
//   2. check each tarball's manifest: name, version, licence, repository, engines, no
//      `workspace:` range left, no install scripts, every `exports`/`types`/`bin` target and
//      the README inside the tarball;
//   3. `npm install -g` the tarballs into a fresh prefix (no workspace links, no checkout);
//   4. run `cr init → unlock → secrets set → policy task add → exec → audit verify → lock`
//      from that install on a throw-away home, with only the installed `cr` on PATH;
//   5. with a Node older than 24.7 first on PATH (the machine's, when it has one), `cr` must
//      refuse with a clear message.
// Usage: node tooling/scripts/check-install.ts   (prints one line per step; exit 1 on failure)
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Where publishable packages live (tooling/ and bench/ are private). */
const PACKAGE_DIRS = ['packages', 'apps'];
/** Scripts npm would run at install time: a published package must have none. */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare'];
/** The value the demo stores: it must never appear in what `cr` prints. */
const VALUE = 'install-check-value-7c1d0e93';
const PASSPHRASE = 'install check passphrase, long enough\n';

interface Manifest {
  readonly name?: string;
  readonly version?: string;
  readonly private?: boolean;
  readonly license?: string;
  readonly repository?: { readonly url?: string };
  readonly engines?: { readonly node?: string };
  readonly os?: readonly string[];
  readonly bin?: Record<string, string>;
  readonly exports?: unknown;
  readonly scripts?: Record<string, string>;
}

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  if (!ok) failures.push(what);
}

function readManifest(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** Every file path an `exports` map points at (all conditions), `./`-relative. */
function exportTargets(exports: unknown): string[] {
  if (typeof exports === 'string') return [exports];
  if (typeof exports !== 'object' || exports === null) return [];
  return Object.values(exports).flatMap(exportTargets);
}

/** Pack one package and check the tarball; returns its path and manifest. */
function pack(dir: string, out: string): { tarball: string; manifest: Manifest } {
  const before = new Set(readdirSync(out));
  execFileSync('pnpm', ['pack', '--pack-destination', out], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const made = readdirSync(out).filter((name) => !before.has(name));
  if (made.length !== 1) throw new Error(`pnpm pack in ${dir} made ${String(made.length)} files`);
  const tarball = join(out, made[0] ?? '');
  const files = new Set(
    execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((path) => path.replace(/^package\//, '')),
  );
  const text = execFileSync('tar', ['-xOzf', tarball, 'package/package.json'], { encoding: 'utf8' });
  const manifest = JSON.parse(text) as Manifest;
  const name = manifest.name ?? dir;
  check(/^@cora\/[a-z0-9-]+$/.test(manifest.name ?? ''), `${dir}: name ${String(manifest.name)}`);
  check(/^\d+\.\d+\.\d+/.test(manifest.version ?? ''), `${name}: version`);
  check(manifest.license === 'AGPL-3.0-only', `${name}: license`);
  check(typeof manifest.repository?.url === 'string', `${name}: repository.url`);
  check(manifest.engines?.node === '>=24.7', `${name}: engines.node must be >=24.7`);
  check(!text.includes('workspace:'), `${name}: a workspace: range was left in the packed manifest`);
  for (const script of INSTALL_SCRIPTS) {
    check(manifest.scripts?.[script] === undefined, `${name}: has an ${script} script`);
  }
  check(files.has('README.md'), `${name}: README.md is not in the tarball`);
  const targets = [...exportTargets(manifest.exports), ...Object.values(manifest.bin ?? {})];
  check(targets.length > 0, `${name}: exports nothing`);
  for (const target of targets) {
    check(files.has(target.replace(/^\.\//, '')), `${name}: ${target} is not in the tarball`);
  }
  return { tarball, manifest };
}

/** Run the installed `cr`; fail the check when the exit code is not `code`. */
function cr(
  env: NodeJS.ProcessEnv,
  args: readonly string[],
  options: { input?: string; code?: number } = {},
): { stdout: string; stderr: string } {
  const run = spawnSync('cr', args, { env, input: options.input ?? '', encoding: 'utf8', timeout: 60_000 });
  const expected = options.code ?? 0;
  check(
    run.status === expected,
    `cr ${args.join(' ')}: exit ${String(run.status)} (expected ${String(expected)}): ${run.stderr}`,
  );
  check(
    !run.stdout.includes(VALUE) && !run.stderr.includes(VALUE),
    `cr ${args.join(' ')}: printed the value`,
  );
  return { stdout: run.stdout, stderr: run.stderr };
}

/** The first `node` on the system PATH that is older than 24.7, if the machine has one. */
function oldNode(): string | null {
  for (const dir of ['/usr/bin', '/usr/local/bin']) {
    const node = join(dir, 'node');
    if (!existsSync(node)) continue;
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '');
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major < 24 || (major === 24 && minor < 7)) return dir;
  }
  return null;
}

const work = mkdtempSync(join(tmpdir(), 'cora-install-'));
try {
  const packs = join(work, 'packs');
  mkdirSync(packs);
  const packed = PACKAGE_DIRS.flatMap((parent) =>
    readdirSync(join(ROOT, parent))
      .map((name) => join(ROOT, parent, name))
      .filter(
        (dir) =>
          existsSync(join(dir, 'package.json')) && readManifest(join(dir, 'package.json')).private !== true,
      ),
  ).map((dir) => pack(dir, packs));
  console.log(`packed ${String(packed.length)} packages: ${packed.map((p) => p.manifest.name).join(', ')}`);
  const cli = packed.find((p) => p.manifest.bin?.['cr'] !== undefined);
  check(cli !== undefined, 'no package has the cr bin');

  // What npm installs on this platform (the others declare `os` and are optional peers).
  const here = packed.filter((p) => p.manifest.os === undefined || p.manifest.os.includes(process.platform));
  const prefix = join(work, 'prefix');
  execFileSync(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...here.map((p) => p.tarball),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, npm_config_update_notifier: 'false' } },
  );
  console.log(`installed with npm into ${prefix}`);

  const home = join(work, 'home');
  mkdirSync(home, { mode: 0o700 });
  const passFile = join(home, 'pass');
  writeFileSync(passFile, PASSPHRASE, { mode: 0o600 });
  chmodSync(passFile, 0o600);
  // Only the install, the Node it needs and the system: nothing of the checkout.
  const env: NodeJS.ProcessEnv = {
    PATH: [join(prefix, 'bin'), dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
    HOME: home,
    CORA_HOME: join(home, 'cora'),
    LANG: 'C.UTF-8',
  };
  const pass = ['--passphrase-file', passFile];
  check(
    cr(env, ['--version']).stdout.trim() === cli?.manifest.version,
    'cr --version is not the package version',
  );
  cr(env, ['init', ...pass]);
  cr(env, ['unlock', ...pass]);
  cr(env, ['secrets', 'set', 'TOKEN', ...pass], { input: VALUE });
  cr(env, ['policy', 'task', 'add', 'show', 'TOKEN', '--target', '/usr/bin/printenv', ...pass]);
  const shown = cr(env, ['exec', 'show', '--', 'printenv', 'TOKEN']);
  check(
    shown.stdout.includes('TOKEN') && shown.stdout.includes('concealed'),
    `cr exec printed ${shown.stdout}`,
  );
  cr(env, ['audit', 'verify']);
  cr(env, ['lock']);
  check(!/state:\s+unlocked/.test(cr(env, ['status']).stdout), 'cr status after lock says unlocked');
  console.log('cr init → unlock → secrets set → policy task add → exec → audit verify → lock: ran');

  // As a project's dependency (integrators, `npx cr` in a project): a local install works too.
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{ "name": "cora-install-check", "private": true }\n');
  execFileSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', ...here.map((p) => p.tarball)],
    {
      cwd: project,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const viaNpx = spawnSync('npx', ['--no-install', 'cr', '--version'], {
    cwd: project,
    env: { ...env, PATH: [dirname(process.execPath), '/usr/bin', '/bin'].join(':') },
    encoding: 'utf8',
  });
  check(
    viaNpx.status === 0 && viaNpx.stdout.trim() === cli?.manifest.version,
    `npx cr --version in a project: ${viaNpx.stderr}`,
  );
  console.log('npm install in a project, then npx cr --version: ran');

  const old = oldNode();
  if (old === null) {
    console.log('no Node older than 24.7 on this machine: the old-Node refusal was not tried');
  } else {
    const refused = spawnSync('cr', ['--version'], {
      env: { ...env, PATH: [join(prefix, 'bin'), old, '/bin'].join(':') },
      encoding: 'utf8',
    });
    check(refused.status === 69, `cr on an old Node: exit ${String(refused.status)}`);
    check(refused.stderr.includes('Node.js >= 24.7'), `cr on an old Node said: ${refused.stderr}`);
    check(refused.stderr.includes(`${old}/node`), `cr on an old Node did not name it: ${refused.stderr}`);
    console.log(`cr with ${old}/node first on PATH: refused (exit 69) with a clear message`);
  }
} finally {
  spawnSync('pkill', ['-f', work]);
  rmSync(work, { recursive: true, force: true });
}

if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL ${failure}`);
  process.exit(1);
}
console.log('install check: ok');
