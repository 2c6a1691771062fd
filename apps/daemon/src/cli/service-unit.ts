// SPDX-License-Identifier: AGPL-3.0-only
/**
 * What `cr service install` writes: a systemd user unit or a launchd agent that starts this
 * installation's service for one Cora home exactly as the launcher does (architecture §9): the
 * Node running this CLI, the service entry point beside this module (never a checkout's unless
 * `cr` runs from one), the launcher's flags and arguments, and an environment built from
 * nothing. Pure rendering; `commands/service.ts` reads and writes the files.
 *
 * The manager's sandbox applies to the service AND to every task child it spawns (seccomp
 * filters and mount namespaces are inherited), so the default hardening keeps what tasks need
 * (network, writes in the caller's directories); `strict` is the full list for homes whose
 * tasks need neither (SECURITY.md "Running under systemd").
 */
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { DEFAULT_IDLE_TIMEOUT_MS } from '../shared/duration.ts';
import { CrError } from '../shared/errors.ts';
import { serviceEnvironment } from '../shared/harden.ts';
import { coraHome } from '../shared/paths.ts';
import { serviceArgs } from './launcher.ts';

/** The line that marks a file as written by `cr service install` (uninstall removes only those). */
export const UNIT_MARKER = '# cora-service: written by cr service install; cr service uninstall removes it';
/** The same mark in a launchd plist. */
export const PLIST_MARKER =
  '<!-- cora-service: written by cr service install; cr service uninstall removes it -->';

/** How the service of one home is started: what the launcher would run. */
export interface ServiceSpec {
  readonly home: string;
  /** The Node binary (this CLI's). */
  readonly node: string;
  /** Node flags, the service entry point and its arguments. */
  readonly args: readonly string[];
  /** The whole environment of the service (the launcher's allowlist). */
  readonly env: Readonly<Record<string, string>>;
}

/** `tasks`: what task children tolerate (the default); `strict`: the full list. */
export type Hardening = 'tasks' | 'strict';

/**
 * The service of `home` as the launcher starts it (default idle timeout, no lifetime, the
 * tuning variables of `env`).
 * @param home - the Cora home (absolute)
 * @param env - the CLI's environment
 * @returns the command line and environment
 */
export function serviceSpec(home: string, env: NodeJS.ProcessEnv): ServiceSpec {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(serviceEnvironment(env)))
    if (value !== undefined) kept[key] = value;
  return {
    home,
    node: process.execPath,
    args: serviceArgs({ home, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, lifetimeMs: 0 }),
    env: kept,
  };
}

/**
 * `cora` for the default home (`~/.cora`), `cora-<8 hex>` for any other: one unit per home.
 * @param home - the Cora home
 * @param env - the environment (HOME)
 */
export function unitName(home: string, env: NodeJS.ProcessEnv): string {
  const byDefault = coraHome({ ...env, CORA_HOME: '' });
  if (home === byDefault) return 'cora';
  return `cora-${createHash('sha256').update(home).digest('hex').slice(0, 8)}`;
}

/** `~/.config/systemd/user/<name>.service` (`$XDG_CONFIG_HOME` when set and absolute). */
export function systemdUnitPath(name: string, env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const config = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env['HOME'] ?? homedir(), '.config');
  return join(config, 'systemd', 'user', `${name}.service`);
}

/** `dev.cora.service` for the unit name `cora`, `dev.cora.service.<8 hex>` otherwise. */
export function launchdLabel(name: string): string {
  return name === 'cora' ? 'dev.cora.service' : `dev.cora.service.${name.slice('cora-'.length)}`;
}

/** `~/Library/LaunchAgents/<label>.plist`. */
export function launchdPlistPath(label: string, env: NodeJS.ProcessEnv): string {
  return join(env['HOME'] ?? homedir(), 'Library', 'LaunchAgents', `${label}.plist`);
}

/**
 * One word of a unit file line, quoted: `%` (specifiers) doubled, and in `ExecStart` `$`
 * (variables) too. Control characters, `"` and `\` are refused rather than escaped.
 */
function unitWord(word: string, what: string, exec: boolean): string {
  if (/["\\\p{Cc}]/u.test(word)) {
    throw new CrError(
      'USAGE',
      `${what} contains a quote, a backslash or a control character; a unit file cannot hold it`,
    );
  }
  const escaped = word.replaceAll('%', '%%');
  return `"${exec ? escaped.replaceAll('$', '$$$$') : escaped}"`;
}

/**
 * Hardening per profile. Children inherit all of it. Absent on purpose: MemoryDenyWriteExecute
 * (Node's JIT aborts at start under it; with --jitless the service would run, but every task
 * running Node, Java or a browser would not), ProtectHome (tasks work in the user's files).
 */
function hardening(profile: Hardening, home: string): string[] {
  const common = ['NoNewPrivileges=yes', 'LockPersonality=yes', 'UMask=0077'];
  if (profile === 'tasks') {
    return [
      '# Task children inherit every line below: they keep the network (AF_INET, AF_INET6;',
      '# AF_NETLINK for name resolution) and may write where the caller works.',
      ...common,
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    ];
  }
  return [
    '# Strict: task children inherit every line below: no network, a private /tmp, and',
    '# writes only in the Cora home.',
    ...common,
    'RestrictAddressFamilies=AF_UNIX',
    'PrivateTmp=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${unitWord(home, 'the Cora home', false)}`,
  ];
}

/**
 * The systemd user unit. `env -i` makes the environment an allowlist (the manager's own
 * variables, `systemctl --user set-environment` ones included, never reach Node);
 * `UnsetEnvironment` keeps the loader hooks out of `env` itself.
 * @param spec - what to run
 * @param profile - hardening profile
 * @param envBinary - absolute path of `env`
 * @returns the unit file's text
 * @throws CrError `USAGE` for a path or variable a unit file cannot hold.
 */
export function renderUnit(spec: ServiceSpec, profile: Hardening, envBinary: string): string {
  const exec = [
    unitWord(envBinary, 'the env binary', true),
    '-i',
    ...Object.entries(spec.env).map(([key, value]) => unitWord(`${key}=${value}`, `$${key}`, true)),
    unitWord(spec.node, 'the Node binary', true),
    ...spec.args.map((arg) => unitWord(arg, 'a service argument', true)),
  ];
  const description = spec.home.replaceAll('%', '%%');
  if (/\p{Cc}/u.test(description)) throw new CrError('USAGE', 'the Cora home contains a control character');
  return [
    UNIT_MARKER,
    '[Unit]',
    `Description=Cora secret service for ${description}`,
    '',
    '[Service]',
    'Type=exec',
    `ExecStart=${exec.join(' ')}`,
    'UnsetEnvironment=LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT GLIBC_TUNABLES NODE_OPTIONS NODE_PATH',
    'WorkingDirectory=/',
    // 75: another service owns the vault; 78: it refused to start (its log says why).
    'Restart=on-failure',
    'RestartPreventExitStatus=75 78',
    ...hardening(profile, spec.home),
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

function xml(text: string): string {
  if (/\p{Cc}/u.test(text)) throw new CrError('USAGE', 'a path or variable contains a control character');
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/**
 * The launchd agent (macOS). launchd starts agents with a minimal environment and adds only
 * `EnvironmentVariables`; `Umask` 63 is 0077.
 * @param spec - what to run
 * @param label - the job's label
 * @returns the plist's text
 */
export function renderPlist(spec: ServiceSpec, label: string): string {
  const string = (value: string): string => `<string>${xml(value)}</string>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    PLIST_MARKER,
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key>${string(label)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...[spec.node, ...spec.args].map((arg) => `    ${string(arg)}`),
    '  </array>',
    '  <key>EnvironmentVariables</key>',
    '  <dict>',
    ...Object.entries(spec.env).map(([key, value]) => `    <key>${xml(key)}</key>${string(value)}`),
    '  </dict>',
    `  <key>WorkingDirectory</key>${string('/')}`,
    '  <key>Umask</key><integer>63</integer>',
    '  <key>RunAtLoad</key><true/>',
    '  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>',
    `  <key>StandardErrorPath</key>${string(join(spec.home, 'service.log'))}`,
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}
