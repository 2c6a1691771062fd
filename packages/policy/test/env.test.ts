// SPDX-License-Identifier: AGPL-3.0-only
import { SecretBuf } from '@cora/memstore';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BASE_ENV_NAMES, childEnvironment, isHookVariable, type EnvEntry } from '../src/index.ts';

const HOOKS = [
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'DYLD_INSERT_LIBRARIES',
  'NODE_OPTIONS',
  'NODE_PATH',
  'PYTHONSTARTUP',
  'PYTHONPATH',
  'PYTHONHOME',
  'BASH_ENV',
  'ENV',
  'BASH_FUNC_ls%%',
  'PERL5OPT',
  'PERL5LIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'GIT_SSH_COMMAND',
  'GIT_CONFIG_COUNT',
  'npm_config_script_shell',
  'GCONV_PATH',
  'GLIBC_TUNABLES',
  'SSL_CERT_FILE',
  'OPENSSL_CONF',
  'LUA_INIT',
  'PS4',
  'ld_preload',
];

const buffers: SecretBuf[] = [];
function secret(text: string): SecretBuf {
  const buf = SecretBuf.from(new TextEncoder().encode(text));
  buffers.push(buf);
  return buf;
}
afterAll(() => {
  for (const buf of buffers) buf.wipe();
});

function names(env: readonly EnvEntry[]): string[] {
  return env.map((e) => e.name);
}

function text(entry: EnvEntry | undefined): string | undefined {
  return entry?.value instanceof Uint8Array ? new TextDecoder().decode(entry.value) : undefined;
}

describe('isHookVariable', () => {
  it.each(HOOKS)('should refuse %s', (name) => {
    expect(isHookVariable(name)).toBe(true);
  });

  it.each([
    'PATH',
    'HOME',
    'LANG',
    'LC_ALL',
    'TMPDIR',
    'GITHUB_TOKEN',
    'OPENAI_API_KEY',
    'HTTPS_PROXY',
    'NODE_ENV',
  ])('should let %s through', (name) => {
    expect(isHookVariable(name)).toBe(false);
  });
});

describe('childEnvironment', () => {
  const base = {
    PATH: '/usr/bin:/bin',
    HOME: '/home/u',
    USER: 'u',
    LANG: 'C.UTF-8',
    LC_ALL: 'C',
    LC_ctype: 'lower-case suffix is not LC_*',
    TERM: 'xterm',
    TMPDIR: '/tmp',
    SECRET_IN_CALLER_ENV: 'not passed without env_pass',
    HTTPS_PROXY: 'http://proxy:3128',
    LD_PRELOAD: '/tmp/evil.so',
    NODE_OPTIONS: '--require /tmp/evil.js',
    UNDEF: undefined,
    NUL: 'a\0b',
  };

  it('should pass only the minimal base, env_pass and the secrets', () => {
    const token = secret('tok-value-123');
    const env = childEnvironment(base, { env_pass: ['HTTPS_PROXY', 'MISSING', 'UNDEF', 'NUL'] }, [
      { name: 'TOKEN', value: token },
    ]);
    expect(names(env)).toEqual([
      'HOME',
      'HTTPS_PROXY',
      'LANG',
      'LC_ALL',
      'PATH',
      'TERM',
      'TMPDIR',
      'TOKEN',
      'USER',
    ]);
    expect(text(env.find((e) => e.name === 'PATH'))).toBe('/usr/bin:/bin');
    expect(env.find((e) => e.name === 'TOKEN')?.value).toBe(token);
  });

  it('should drop hooks even when env_pass or a secret names them', () => {
    const evil = secret('evil-value');
    const env = childEnvironment(base, { env_pass: ['LD_PRELOAD', 'NODE_OPTIONS'] }, [
      { name: 'PYTHONSTARTUP', value: evil },
      { name: 'BASH_ENV', value: evil },
    ]);
    expect(names(env).filter(isHookVariable)).toEqual([]);
  });

  it('should let a secret replace a base variable of the same name, once', () => {
    const home = secret('secret-home');
    const env = childEnvironment(base, {}, [{ name: 'HOME', value: home }]);
    expect(names(env).filter((n) => n === 'HOME')).toHaveLength(1);
    expect(env.find((e) => e.name === 'HOME')?.value).toBe(home);
  });

  it("should give a Windows child the system's own variables, in the caller's case, and no case twin", () => {
    const windows = {
      Path: 'C:\\Windows\\system32',
      SystemRoot: 'C:\\Windows',
      PATHEXT: '.COM;.EXE',
      TEMP: 'C:\\Temp',
      ComSpec: 'C:\\Windows\\system32\\cmd.exe',
      api_key: 'the caller shadowing the secret',
      Proxy_Url: 'http://proxy',
      NODE_OPTIONS: '--require C:\\evil.js',
      node_options: '--require C:\\evil.js',
      RANDOM_THING: 'not passed',
    };
    const key = secret('the-injected-value');
    const env = childEnvironment(
      windows,
      { env_pass: ['api_key', 'PROXY_URL', 'node_options'] },
      [{ name: 'API_KEY', value: key }],
      'win32',
    );
    expect(names(env)).toEqual(['API_KEY', 'ComSpec', 'PATHEXT', 'Path', 'Proxy_Url', 'SystemRoot', 'TEMP']);
    expect(env.find((e) => e.name === 'API_KEY')?.value).toBe(key);
    // The same caller on Linux: case matters, and the Windows names are not base there.
    expect(
      names(childEnvironment(windows, { env_pass: ['api_key'] }, [{ name: 'API_KEY', value: key }], 'linux')),
    ).toEqual(['API_KEY', 'api_key']);
  });

  it('should refuse bad names in env_pass and secrets', () => {
    const value = secret('v-value');
    const env = childEnvironment({ 'A=B': 'x', PATH: '/bin' }, { env_pass: ['A=B'] }, [
      { name: '1BAD', value },
    ]);
    expect(names(env)).toEqual(['PATH']);
  });

  it('should never pass a hook and keep every secret a SecretBuf (property)', () => {
    const hookName = fc.constantFrom(...HOOKS);
    const anyName = fc.oneof(
      hookName,
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/),
      fc.constantFrom(...BASE_ENV_NAMES),
    );
    fc.assert(
      fc.property(
        fc.dictionary(anyName, fc.string({ maxLength: 8 })),
        fc.array(anyName, { maxLength: 6 }),
        fc.uniqueArray(anyName, { maxLength: 4 }),
        (env, pass, secretNames) => {
          const given = secretNames.map((name) => ({ name, value: secret(name) }));
          const out = childEnvironment(env, { env_pass: pass }, given);
          expect(out.some((e) => isHookVariable(e.name))).toBe(false);
          expect(new Set(names(out)).size).toBe(out.length);
          for (const entry of out) {
            const fromSecret = given.find((g) => g.name === entry.name);
            if (fromSecret !== undefined) {
              expect(entry.value).toBe(fromSecret.value);
              expect(entry.value).toBeInstanceOf(SecretBuf);
            } else {
              expect(entry.value).toBeInstanceOf(Uint8Array);
              expect(entry.value).not.toBeInstanceOf(SecretBuf);
            }
            expect(typeof entry.value).not.toBe('string');
          }
          // Every non-hook secret name given is present.
          for (const g of given) if (!isHookVariable(g.name)) expect(names(out)).toContain(g.name);
        },
      ),
      { numRuns: 200 },
    );
  });
});
