// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr service install | uninstall | status`: run the service of this Cora home under the
 * user's service manager (a systemd user unit, or a launchd agent on macOS) instead of on
 * demand. The file is rendered by `service-unit.ts`; this module writes, removes and reports
 * it, and never touches a file that does not carry the marker line.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { CrError, fileError } from '../../shared/errors.ts';
import { coraHome, ensurePrivateDir } from '../../shared/paths.ts';
import { note, out, printJson } from '../output.ts';
import {
  PLIST_MARKER,
  UNIT_MARKER,
  launchdLabel,
  launchdPlistPath,
  renderPlist,
  renderUnit,
  serviceSpec,
  systemdUnitPath,
  unitName,
} from '../service-unit.ts';

/** Options every `cr service` command takes. */
export interface ServiceOptions {
  /** The launchd agent instead of the systemd unit (the default on macOS). */
  readonly launchd?: boolean;
}

/** Options of `cr service install`. */
export interface InstallOptions extends ServiceOptions {
  /** Print the file, write nothing. */
  readonly print?: boolean;
  /** The full hardening list (tasks lose the network and writes outside the home). */
  readonly strict?: boolean;
}

/** The file `cr service` manages for this home. */
interface Target {
  readonly kind: 'systemd' | 'launchd';
  readonly home: string;
  /** Unit name (`cora.service`) or launchd label. */
  readonly name: string;
  readonly path: string;
  readonly marker: string;
}

function target(options: ServiceOptions): Target {
  const home = coraHome();
  const name = unitName(home, process.env);
  if (options.launchd === true || process.platform === 'darwin') {
    const label = launchdLabel(name);
    return {
      kind: 'launchd',
      home,
      name: label,
      path: launchdPlistPath(label, process.env),
      marker: PLIST_MARKER,
    };
  }
  return {
    kind: 'systemd',
    home,
    name: `${name}.service`,
    path: systemdUnitPath(name, process.env),
    marker: UNIT_MARKER,
  };
}

/** What is at the target's path: nothing, our file, or something else (a symlink counts as foreign). */
function found(t: Target): 'none' | 'ours' | 'foreign' {
  let isFile: boolean;
  try {
    isFile = lstatSync(t.path).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw fileError(error, t.path);
  }
  if (!isFile) return 'foreign';
  try {
    return readFileSync(t.path, 'utf8').split('\n').includes(t.marker) ? 'ours' : 'foreign';
  } catch (error) {
    throw fileError(error, t.path);
  }
}

function foreign(t: Target, doing: string): CrError {
  return new CrError(
    'REFUSED',
    `${t.path} exists and was not written by cr service install; not ${doing} it (move it away first)`,
  );
}

/** `env` for `ExecStart` (env -i makes the environment an allowlist). */
function envBinary(): string {
  const found = ['/usr/bin/env', '/bin/env'].find((path) => existsSync(path));
  if (found === undefined) throw new CrError('UNAVAILABLE', 'neither /usr/bin/env nor /bin/env exists');
  return found;
}

/** What `systemctl --user ARGS` printed, or why it could not answer. */
function systemctl(args: readonly string[]): { ok: boolean; stdout: string; why: string | null } {
  const run = spawnSync('systemctl', ['--user', ...args], { encoding: 'utf8', timeout: 10_000 });
  if (run.error !== undefined) {
    const code = (run.error as NodeJS.ErrnoException).code;
    return {
      ok: false,
      stdout: '',
      why: code === 'ENOENT' ? 'systemctl is not installed' : run.error.message,
    };
  }
  const stderr = run.stderr.trim();
  // No user manager: "Failed to connect to bus", and is-active then prints nothing useful.
  if (/Failed to connect|No medium found|not been booted with systemd/i.test(stderr)) {
    return {
      ok: false,
      stdout: '',
      why: `systemctl --user cannot reach a user service manager (${stderr.split('\n')[0] ?? ''})`,
    };
  }
  return { ok: run.status === 0, stdout: run.stdout.trim(), why: run.status === 0 ? null : stderr || null };
}

/** Write `text` to `path` whole or not at all (a temp file beside it, then rename). */
function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.cr-${String(process.pid)}.tmp`;
  let fd: number;
  try {
    fd = openSync(
      temp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
    );
  } catch (error) {
    throw fileError(error, temp);
  }
  try {
    writeSync(fd, text);
    closeSync(fd);
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // never created, or already renamed
    }
    throw fileError(error, path);
  }
}

/**
 * Write (or rewrite) the unit or agent of this home; refuse a file cr did not write.
 * @returns 0
 * @throws CrError `REFUSED` (a foreign file is there), `USAGE` (a path a unit cannot hold).
 */
export function cmdServiceInstall(options: InstallOptions): number {
  const t = target(options);
  const spec = serviceSpec(t.home, process.env);
  const text =
    t.kind === 'systemd'
      ? renderUnit(spec, options.strict === true ? 'strict' : 'tasks', envBinary())
      : renderPlist(spec, t.name);
  if (options.print === true) {
    process.stdout.write(text);
    return 0;
  }
  if (found(t) === 'foreign') throw foreign(t, 'overwriting');
  // The service starts in it: it must exist, private (ReadWritePaths needs it too).
  ensurePrivateDir(t.home);
  writeAtomic(t.path, text);
  out(`Wrote ${t.path} (the service of ${t.home}).`);
  if (t.kind === 'launchd') {
    out(`Load it now and at login: launchctl bootstrap gui/$(id -u) ${t.path}`);
    return 0;
  }
  const reload = systemctl(['daemon-reload']);
  if (reload.why !== null) note(`cr: could not reload systemd: ${reload.why}`);
  out(`Start it now and at login: systemctl --user enable --now ${t.name}`);
  return 0;
}

/**
 * Stop, disable and remove the unit or agent cr wrote; never anything else.
 * @returns 0 (also when nothing is installed)
 * @throws CrError `REFUSED` when the file there was not written by cr.
 */
export function cmdServiceUninstall(options: ServiceOptions): number {
  const t = target(options);
  const state = found(t);
  if (state === 'none') {
    out(`Not installed: there is no ${t.path}.`);
    return 0;
  }
  if (state === 'foreign') throw foreign(t, 'removing');
  if (t.kind === 'systemd') {
    const disable = systemctl(['disable', '--now', t.name]);
    if (disable.why !== null) note(`cr: could not stop and disable ${t.name}: ${disable.why}`);
  }
  try {
    unlinkSync(t.path);
  } catch (error) {
    throw fileError(error, t.path);
  }
  if (t.kind === 'systemd') systemctl(['daemon-reload']);
  out(`Removed ${t.path}.`);
  if (t.kind === 'launchd') out(`If it was loaded: launchctl bootout gui/$(id -u)/${t.name}`);
  return 0;
}

/**
 * Whether the unit or agent is installed, where, and (systemd) whether it runs.
 * @returns 0
 */
export function cmdServiceStatus(options: ServiceOptions & { json?: boolean }): number {
  const t = target(options);
  const state = found(t);
  let active: string | null = null;
  let why: string | null = null;
  if (t.kind === 'launchd') {
    why = `launchd is not asked from here (launchctl print gui/$(id -u)/${t.name} tells)`;
  } else {
    const asked = systemctl(['is-active', t.name]);
    // is-active exits non-zero for inactive and failed units, and still prints the state.
    if (asked.stdout !== '') active = asked.stdout.split('\n')[0] ?? null;
    else why = asked.why ?? 'systemctl printed no state';
  }
  if (options.json === true) {
    printJson({
      kind: t.kind,
      name: t.name,
      path: t.path,
      home: t.home,
      installed: state === 'ours',
      foreign: state === 'foreign',
      active,
      why,
    });
    return 0;
  }
  const installed =
    state === 'ours'
      ? 'installed'
      : state === 'none'
        ? 'not installed'
        : 'not installed (a file cr did not write is there)';
  out(`${t.kind === 'systemd' ? 'unit: ' : 'agent:'}    ${t.name}, ${installed}`);
  out(`path:     ${t.path}`);
  out(`home:     ${t.home}`);
  out(`${t.kind}:  ${active ?? `cannot tell: ${why ?? 'unknown'}`}`);
  return 0;
}
