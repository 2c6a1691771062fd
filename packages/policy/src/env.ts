// SPDX-License-Identifier: AGPL-3.0-only
import type { SecretBuf } from '@cora/memstore';
import { ENV_NAME } from './internal/names.ts';
import type { Task } from './schema.ts';

/**
 * The caller environment variables every child gets when present (architecture §7), besides
 * `LC_*`. Everything else needs `env_pass`.
 */
export const BASE_ENV_NAMES: readonly string[] = Object.freeze([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'TERM',
  'TZ',
  'TMPDIR',
]);

/**
 * On Windows, the system's own variables a child needs to run at all (without `SystemRoot`
 * much of Windows fails: sockets, crypto, the C runtime), besides {@link BASE_ENV_NAMES}.
 * Compared upper-cased there: Windows names ignore case.
 */
export const WINDOWS_BASE_ENV_NAMES: readonly string[] = Object.freeze([
  'SYSTEMROOT',
  'WINDIR',
  'SYSTEMDRIVE',
  'PATHEXT',
  'COMSPEC',
  'TEMP',
  'TMP',
  'USERPROFILE',
  'HOMEDRIVE',
  'HOMEPATH',
  'USERNAME',
  'USERDOMAIN',
  'APPDATA',
  'LOCALAPPDATA',
  'PROGRAMDATA',
  'PROGRAMFILES',
  'PROGRAMFILES(X86)',
  'COMMONPROGRAMFILES',
  'NUMBER_OF_PROCESSORS',
  'PROCESSOR_ARCHITECTURE',
  'OS',
]);

/**
 * Exact names (compared upper-cased) that make a loader, an interpreter, a shell or a tool
 * run code or trust something the task's author did not choose. Never passed (architecture §7).
 * The list is a decision, written out in the README ("Environment").
 */
const HOOK_NAMES: ReadonlySet<string> = new Set([
  // glibc's "unsecure" variables, which it drops itself for setuid programs (minus TMPDIR,
  // which architecture §7 passes on, and the LD_ prefix handled below).
  'GCONV_PATH',
  'GETCONF_DIR',
  'GLIBC_TUNABLES',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'LOCPATH',
  'MALLOC_TRACE',
  'NIS_PATH',
  'NLSPATH',
  'RESOLV_HOST_CONF',
  'RES_OPTIONS',
  'TZDIR',
  // Node.js / Electron
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'NODE_EXTRA_CA_CERTS',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'NODE_PENDING_DEPRECATION',
  'ELECTRON_RUN_AS_NODE',
  'BUN_OPTIONS',
  'DENO_DIR',
  // Python
  'PYTHONSTARTUP',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONUSERBASE',
  'PYTHONEXECUTABLE',
  'PYTHONINSPECT',
  'PYTHONBREAKPOINT',
  'PYTHONPLATLIBDIR',
  'PYTHONPYCACHEPREFIX',
  'PYTHONWARNINGS',
  'PYTHONHTTPSVERIFY',
  // Shells
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'ZDOTDIR',
  // Perl, Ruby, PHP, Tcl
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'PERL5DB',
  'RUBYOPT',
  'RUBYLIB',
  'RUBYSHELL',
  'PHPRC',
  'PHP_INI_SCAN_DIR',
  'TCLLIBPATH',
  // JVM and .NET
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  'DOTNET_STARTUP_HOOKS',
  // Programs a tool may start on the child's behalf
  'EDITOR',
  'VISUAL',
  'PAGER',
  'MANPAGER',
  'LESSOPEN',
  'LESSCLOSE',
  'BROWSER',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
  // TLS trust: a CA bundle or a disabled check lets a proxy read the secret in transit
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'CURL_CA_BUNDLE',
  'REQUESTS_CA_BUNDLE',
  'OPENSSL_CONF',
  'OPENSSL_ENGINES',
  'OPENSSL_MODULES',
]);

/** Name prefixes (compared upper-cased) that are hooks whatever follows. */
const HOOK_PREFIXES: readonly string[] = [
  'LD_', // dynamic loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT…
  'DYLD_', // macOS loader
  'BASH_FUNC_', // exported bash functions (Shellshock's vector)
  'GIT_', // GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_*, GIT_ASKPASS…: all of them, simpler than a list
  'NPM_CONFIG_', // npm_config_script_shell, npm_config_node_options…
  'LUA_', // LUA_INIT runs code, LUA_PATH/LUA_CPATH load modules
  'CORECLR_', // .NET profilers
  'COR_',
  'MALLOC_', // glibc malloc tunables and tracing
];

/**
 * `true` when `name` is a loader or interpreter hook (or a trust override) that Cora never
 * passes to a child, whatever `env_pass` or a secret's name says (architecture §7). The check is
 * case-insensitive, so `ld_preload` is refused too (Windows environments ignore case).
 *
 * @param name - An environment variable name.
 * @returns Whether the name is refused.
 * @example
 * ```ts
 * isHookVariable('LD_PRELOAD'); // true
 * isHookVariable('GITHUB_TOKEN'); // false
 * ```
 */
export function isHookVariable(name: string): boolean {
  const upper = name.toUpperCase();
  return HOOK_NAMES.has(upper) || HOOK_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

/** `true` for the names of the minimal base environment (architecture §7). */
function isBaseName(name: string, windows: boolean): boolean {
  if (windows) {
    const upper = name.toUpperCase();
    return (
      BASE_ENV_NAMES.includes(upper) || WINDOWS_BASE_ENV_NAMES.includes(upper) || /^LC_[A-Z_]+$/.test(upper)
    );
  }
  return BASE_ENV_NAMES.includes(name) || /^LC_[A-Z_]+$/.test(name);
}

/** One variable of a child's environment. Secret values stay `SecretBuf`s. */
export interface EnvEntry {
  readonly name: string;
  /** UTF-8 bytes of a plain (non-secret) value, or the secret's own buffer. */
  readonly value: Uint8Array | SecretBuf;
}

/** A secret handed to {@link childEnvironment}: its name and its secure buffer. */
export interface NamedSecret {
  readonly name: string;
  readonly value: SecretBuf;
}

/**
 * The environment of a task's child (architecture §7): the minimal base taken from `base` (PATH,
 * HOME, USER, LOGNAME, SHELL, LANG, LC_*, TERM, TZ, TMPDIR), then the task's `env_pass`
 * variables from `base`, then the task's secrets. A later entry replaces an earlier one of
 * the same name. For a Windows child (`platform` win32) the base also holds the system's own
 * variables ({@link WINDOWS_BASE_ENV_NAMES}) and names compare without case, as Windows does:
 * a secret `API_KEY` replaces a passed `api_key`, which would otherwise shadow it. Hook variables ({@link isHookVariable}) are dropped at every stage, even
 * when `env_pass` or a secret names one. Secret values are returned as the very
 * `SecretBuf` instances given (never copied, never turned into strings); the caller
 * keeps ownership and builds the spawn block from them.
 *
 * @param base - The caller's environment (plain, non-secret strings).
 * @param task - The task being run (its `env_pass`).
 * @param secrets - The task's secrets, each with its secure buffer.
 * @param platform - Where the child runs (default: this process's platform).
 * @returns Entries sorted by name, each name once (once whatever its case, on Windows).
 * @example
 * ```ts
 * const env = childEnvironment(callerEnv, policy.tasks['deploy']!, [{ name: 'TOKEN', value: buf }]);
 * ```
 */
export function childEnvironment(
  base: Readonly<Record<string, string | undefined>>,
  task: Pick<Task, 'env_pass'>,
  secrets: readonly NamedSecret[],
  platform: NodeJS.Platform = process.platform,
): EnvEntry[] {
  const windows = platform === 'win32';
  const key = (name: string): string => (windows ? name.toUpperCase() : name);
  const out = new Map<string, EnvEntry>();
  const encoder = new TextEncoder();
  const plain = (name: string): void => {
    if (!Object.hasOwn(base, name)) return;
    const value = base[name];
    // A NUL cannot be carried in an environment block; such a variable is left out.
    if (typeof value !== 'string' || value.includes('\0')) return;
    out.set(key(name), { name, value: encoder.encode(value) });
  };
  const names = Object.keys(base).sort();
  for (const name of names) {
    if (isBaseName(name, windows) && !isHookVariable(name)) plain(name);
  }
  for (const wanted of task.env_pass ?? []) {
    if (!ENV_NAME.test(wanted) || isHookVariable(wanted)) continue;
    // Windows: `env_pass: [Path]` takes the caller's `PATH` too.
    if (windows) for (const name of names.filter((n) => key(n) === key(wanted))) plain(name);
    else plain(wanted);
  }
  for (const secret of secrets) {
    if (ENV_NAME.test(secret.name) && !isHookVariable(secret.name)) {
      out.set(key(secret.name), { name: secret.name, value: secret.value });
    }
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
