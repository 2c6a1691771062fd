// SPDX-License-Identifier: AGPL-3.0-only
// `cr exec` in a real terminal (issue 15): the child runs on a pty the service holds, its output
// (and the echo of what is typed) goes through the masker, keystrokes, resizes and Ctrl-C reach
// it, and the caller's terminal is back in cooked mode afterwards. Pipes keep plain stdio.
import { spawn } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useCoraHomes, withTask, withoutInterpreterWarnings, type CoraHome } from './e2e-helpers.ts';
import { CR } from './e2e-helpers.ts';
import { landlockAbi } from '@cora/sandbox';
import { hasTmux, tmuxServer, waitFor } from './tmux.ts';

const PASS = 'exec pty passphrase, long enough';
const PYTHON = realpathSync('/usr/bin/python3');
const LESS = realpathSync('/usr/bin/less');
const VALUE = 'pty-secret-Zq7wK2mX9vB4';
const server = tmuxServer('cora-pty');
const newHome = useCoraHomes(PASS);
afterAll(() => {
  if (hasTmux) server.kill();
});

/** The child: reports its terminal, answers a prompt, prints the secret, waits for SIGWINCH and SIGINT. */
const CHILD = String.raw`
import os, signal, sys, time
def say(text):
    sys.stdout.write(text + "\n"); sys.stdout.flush()
say("ISATTY=%d%d%d" % (os.isatty(0), os.isatty(1), os.isatty(2)))
say("SIZE=%dx%d" % os.get_terminal_size())
say("SID=%d" % int(os.getsid(0) == os.getpid()))
name = input("name? ")
say("HELLO=" + name)
say("TOKEN=" + os.environ["TOKEN"])
typed = input("value? ")
say("TYPED-LEN=%d" % len(typed))
resized = []
signal.signal(signal.SIGWINCH, lambda *_: resized.append(os.get_terminal_size()))
say("WAITING-RESIZE")
while not resized: time.sleep(0.02)
say("RESIZED=%dx%d" % resized[-1])
def on_int(*_):
    say("GOT-SIGINT"); sys.exit(7)
signal.signal(signal.SIGINT, on_int)
say("WAITING-SIGINT")
while True: time.sleep(0.05)
`;

/** The passthrough child: its fd 0, a prompt, then a resize of the caller's terminal. */
const PASS_CHILD = String.raw`
import fcntl, os, signal, time
print("CHILD-TTY=" + os.ttyname(0), "ISATTY=%d" % os.isatty(1), "NB=%d" % (fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK))
print("NAME=" + input("name? "))
resized = []
signal.signal(signal.SIGWINCH, lambda *_: resized.append(os.get_terminal_size(0)))
print("WAITING-RESIZE", flush=True)
while not resized: time.sleep(0.02)
print("RESIZED=%dx%d" % resized[-1])
`;

/** A home with `TOKEN` and a task `t` running python (`passthrough`: `--output passthrough`). */
async function pythonHome(passthrough = false, extra: readonly string[] = []): Promise<CoraHome> {
  const home = await newHome();
  const add = await withTask(home, {
    secret: 'TOKEN',
    value: VALUE,
    task: 't',
    args: [
      '--target',
      PYTHON,
      '--allow-interpreter',
      ...(passthrough ? ['--output', 'passthrough'] : []),
      ...extra,
    ],
  });
  expect(withoutInterpreterWarnings(add.stderr)).toBe('');
  expect(add.code).toBe(0);
  writeFileSync(join(home.dir.path, 'child.py'), CHILD);
  return home;
}

/** The caller terminal's line discipline flags after `cr` ended, one per line as `STTY=…`. */
const STTY = `stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | sed 's/^/STTY=/'`;

describe.skipIf(!hasTmux)('cr exec on a terminal (e2e; tmux — skipped when tmux is not installed)', () => {
  it('should give the child a pty: isatty, size, prompt, resize, Ctrl-C, masked output and echo, sane terminal after', async () => {
    const home = await pythonHome();
    const pane = server.open(
      home,
      `'${CR}' exec t -- '${PYTHON}' child.py; echo EXIT=$?; ${STTY}; sleep 3600`,
      { cols: 120, rows: 40 },
    );
    let screen = await waitFor(pane.screen, 'name?', 30_000);
    expect(screen).toContain('ISATTY=111');
    expect(screen).toContain('SIZE=120x40');
    expect(screen).toContain('SID=1');
    pane.type('ada');
    // The echo of the keys comes through the pty (raw caller terminal, cooked child pty). A
    // last key that is a piece of the value (here `a`, in its hex) is held until more output.
    await waitFor(pane.screen, 'name? ad');
    pane.keys('Enter');
    screen = await waitFor(pane.screen, 'value?');
    expect(screen).toContain('name? ada\n');
    expect(screen).toContain('HELLO=ada');
    // The value printed by the child is concealed (one stream: stdout).
    expect(screen).toContain('TOKEN=<concealed:TOKEN>');
    expect(screen).not.toContain(VALUE);
    expect(screen).not.toContain(VALUE.slice(0, 8));
    // The value typed back, one key at a time with pauses past the idle flush: its echo is
    // masked as well; no 8 of its bytes in a row ever show.
    for (const char of VALUE) {
      pane.type(char);
      await new Promise((r) => setTimeout(r, 60));
      pane.screen(); // recorded in server.captures, checked below
    }
    pane.keys('Enter');
    screen = await waitFor(pane.screen, 'WAITING-RESIZE');
    expect(screen).toMatch(/^value\? <concealed:TOKEN>/m);
    expect(screen).toContain(`TYPED-LEN=${String(VALUE.length)}`);
    for (let at = 0; at + 8 <= VALUE.length; at++) {
      expect(server.captures.join('\n')).not.toContain(VALUE.slice(at, at + 8));
    }
    // A resize of the caller's terminal reaches the child as SIGWINCH with the new size.
    server.resize(pane, 90, 30);
    await waitFor(pane.screen, /RESIZED=90x30/);
    await waitFor(pane.screen, 'WAITING-SIGINT');
    // Ctrl-C is a byte the pty turns into SIGINT for the child (not for `cr`).
    pane.keys('C-c');
    screen = await waitFor(pane.screen, /STTY=-?echo[\s\S]*STTY=-?icanon|STTY=-?icanon[\s\S]*STTY=-?echo/);
    expect(screen).toContain('GOT-SIGINT');
    expect(screen).toContain('EXIT=7');
    expect(screen).toMatch(/^STTY=icanon$/m);
    expect(screen).toMatch(/^STTY=echo$/m);
  }, 120_000);

  it('should restore the terminal when the service locks mid-run', async () => {
    const home = await pythonHome();
    const pane = server.open(
      home,
      `'${CR}' exec t -- '${PYTHON}' -c 'import time; print("RUNNING", flush=True); time.sleep(600)'; echo EXIT=$?; ${STTY}; sleep 3600`,
    );
    await waitFor(pane.screen, 'RUNNING', 30_000);
    expect((await home.cr(['lock'])).code).toBe(0);
    const screen = await waitFor(pane.screen, /STTY=-?echo/);
    expect(screen).toMatch(/EXIT=(137|1\d\d)/);
    expect(screen).toMatch(/^STTY=icanon$/m);
    expect(screen).toMatch(/^STTY=echo$/m);
  }, 90_000);

  it('should restore the terminal and hang up the child when cr gets SIGTERM', async () => {
    const home = await pythonHome();
    const pane = server.open(
      home,
      // `exec` keeps the shell's pid for `cr`, in the foreground of the pane's terminal.
      `sh -c 'echo CR-PID=$$; exec "$0" "$@"' '${CR}' exec t -- '${PYTHON}' -c 'import time; print("RUNNING", flush=True); time.sleep(600)'; ` +
        `echo EXIT=$?; ${STTY}; sleep 3600`,
    );
    const pid = Number(/CR-PID=(\d+)/.exec(await waitFor(pane.screen, /CR-PID=\d+/, 30_000))?.[1]);
    await waitFor(pane.screen, 'RUNNING', 30_000);
    process.kill(pid, 'SIGTERM');
    const screen = await waitFor(pane.screen, /STTY=-?echo/);
    expect(screen).toMatch(/EXIT=143/);
    expect(screen).toMatch(/^STTY=icanon$/m);
  }, 90_000);

  it('should end the child when cr is killed outright (SIGKILL)', async () => {
    const home = await pythonHome();
    const pane = server.open(
      home,
      `sh -c 'echo CR-PID=$$; exec "$0" "$@"' '${CR}' exec t -- '${PYTHON}' -c 'import os, time; print("CHILD=%d" % os.getpid(), flush=True); time.sleep(600)'; ` +
        `echo EXIT=$?; sleep 3600`,
    );
    const screen = await waitFor(pane.screen, /CHILD=\d+/, 30_000);
    const crPid = Number(/CR-PID=(\d+)/.exec(screen)?.[1]);
    const childPid = Number(/CHILD=(\d+)/.exec(screen)?.[1]);
    process.kill(crPid, 'SIGKILL');
    await waitFor(pane.screen, 'EXIT=137');
    // The service sees the connection go: SIGTERM to the child's group, and the master closes.
    const deadline = Date.now() + 10_000;
    const alive = (): boolean => {
      try {
        process.kill(childPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
  }, 60_000);

  it.skipIf(!(process.platform === 'linux' && landlockAbi() >= 4))(
    "should give a confined task's child (exec helper) the pty as its terminal too",
    async () => {
      const home = await pythonHome(false, ['--write-nowhere']);
      const pane = server.open(
        home,
        `'${CR}' exec t -- '${PYTHON}' -c 'import os; print("ISATTY=%d%d%d" % (os.isatty(0), os.isatty(1), os.isatty(2)), "SID=%d" % int(os.getsid(0) == os.getpid()), "TOKEN=" + os.environ["TOKEN"]); print("NAME=" + input("name? "))'; echo EXIT=$?; sleep 3600`,
      );
      await waitFor(pane.screen, 'name?', 30_000);
      pane.type('eve');
      pane.keys('Enter');
      const screen = await waitFor(pane.screen, 'EXIT=');
      expect(screen).toContain('ISATTY=111 SID=1 TOKEN=<concealed:TOKEN>');
      expect(screen).toContain('NAME=eve');
      expect(screen).toContain('EXIT=0');
    },
    60_000,
  );

  it('should run a full-screen program (less) and leave the terminal sane', async () => {
    const home = await newHome();
    const add = await withTask(home, {
      secret: 'TOKEN',
      value: VALUE,
      task: 'pager',
      args: ['--target', LESS],
    });
    expect(add.code).toBe(0);
    const lines = Array.from({ length: 200 }, (_, i) => `line ${String(i + 1)}`);
    writeFileSync(join(home.dir.path, 'long.txt'), `${lines.join('\n')}\n`);
    const pane = server.open(home, `'${CR}' exec pager -- less long.txt; echo EXIT=$?; ${STTY}; sleep 3600`, {
      cols: 80,
      rows: 24,
    });
    // A pager sized to the pty: 23 lines and its prompt, then a page further on a space.
    let screen = await waitFor(pane.screen, /^line 23$/m, 30_000);
    expect(screen).not.toMatch(/^line 24$/m);
    pane.keys('Space');
    screen = await waitFor(pane.screen, /^line 46$/m);
    expect(screen).not.toMatch(/^line 1$/m);
    pane.keys('q');
    screen = await waitFor(pane.screen, /STTY=-?echo/);
    expect(screen).toContain('EXIT=0');
    expect(screen).toMatch(/^STTY=icanon$/m);
  }, 60_000);

  it('should keep pipes when stdout is not a terminal', async () => {
    const home = await pythonHome();
    const result = await home.cr(
      [
        'exec',
        't',
        '--',
        PYTHON,
        '-c',
        'import os,sys; print("ISATTY=%d%d" % (os.isatty(0), os.isatty(1))); print(sys.stdin.read().upper())',
      ],
      { input: 'piped' },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('ISATTY=00\nPIPED\n');
  }, 60_000);
});

describe('cr exec of an output: passthrough task (e2e)', () => {
  it("should run the child on the caller's own pipes, unmasked, and audit it as passthrough", async () => {
    const home = await pythonHome(true);
    // `sh` prints what its own fd 1 is after cr: the same pipe the child wrote to.
    const script =
      'import os,sys; print("FD1=" + os.readlink("/proc/self/fd/1")); ' +
      'print("TOKEN=" + os.environ["TOKEN"]); print("IN=" + sys.stdin.read())';
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        '/bin/sh',
        [
          '-c',
          `'${CR}' "$@"; echo "SH-FD1=$(readlink /proc/$$/fd/1)"`,
          'sh',
          'exec',
          't',
          '--',
          PYTHON,
          '-c',
          script,
        ],
        { env: home.env, cwd: home.dir.path },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => {
        resolve({ code, stdout, stderr });
      });
      child.stdin.end('straight');
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const fd1 = /^FD1=(.*)$/m.exec(result.stdout)?.[1];
    expect(fd1).toMatch(/^(pipe|socket):\[\d+\]$/);
    expect(result.stdout).toContain(`SH-FD1=${String(fd1)}`);
    expect(result.stdout).toContain(`TOKEN=${VALUE}`);
    expect(result.stdout).toContain('IN=straight');
    const audit = await home.cr(['audit', 'show', '--json', '--type', 'task-start']);
    expect(audit.stdout).toMatch(/"type":"task-start"[^\n]*"output":"passthrough"/);
  }, 60_000);

  it.skipIf(!hasTmux)(
    "should give the child the caller's terminal itself (tmux)",
    async () => {
      const home = await pythonHome(true);
      writeFileSync(join(home.dir.path, 'pass.py'), PASS_CHILD);
      const pane = server.open(
        home,
        // `cr` first: the pane's `env …` prefix applies to the first command only.
        `'${CR}' exec t -- '${PYTHON}' pass.py; echo EXIT=$?; echo "SHELL-TTY=$(tty)"; sleep 3600`,
      );
      await waitFor(pane.screen, 'name?', 30_000);
      pane.type('bob');
      pane.keys('Enter');
      await waitFor(pane.screen, 'WAITING-RESIZE');
      // The resize signals `cr` (the terminal's foreground), which forwards it as SIGWINCH.
      server.resize(pane, 70, 20);
      const screen = await waitFor(pane.screen, /SHELL-TTY=\S+/);
      expect(screen).toContain('RESIZED=70x20');
      const tty = /SHELL-TTY=(\S+)/.exec(screen)?.[1];
      // Blocking, as a shell would give it (NB=0), or `input()` fails with EAGAIN.
      expect(screen).toContain(`CHILD-TTY=${String(tty)} ISATTY=1 NB=0`);
      expect(screen).toContain('NAME=bob');
      expect(screen).toContain('EXIT=0');
    },
    60_000,
  );
});
