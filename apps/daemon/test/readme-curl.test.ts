// SPDX-License-Identifier: AGPL-3.0-only
// The README's curl example for curl older than 8.3 (Debian 12 ships 7.88): the target script
// sends the token as a header from stdin, and the caller sees the server's echo of it masked.
// Real curl, real service, a real local HTTP server.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForLine } from '@cora/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { useCoraHomes, withTask } from './e2e-helpers.ts';

const PASS = 'readme curl passphrase, long enough';
const TOKEN = 'ghp_readmeExampleToken0123456789abcdef';
const newHome = useCoraHomes(PASS);
const hasCurl = spawnSync('curl', ['--version']).status === 0;

/** The script of apps/daemon/README.md, "Exec". */
const GH_API = `#!/bin/sh
printf 'header = "Authorization: Bearer %s"\\n' "$GITHUB_TOKEN" | exec curl -s --config - "$@"
`;

/** Answers one GET with the Authorization header it received, then exits. */
const ECHO_SERVER = `
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
        self.wfile.write(self.headers.get("Authorization", "none").encode())
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("PORT", s.server_address[1], flush=True)
s.handle_request()
`;

let server: ChildProcess | undefined;
afterEach(() => {
  server?.kill('SIGKILL');
});

describe.skipIf(!hasCurl)('README curl example on curl < 8.3 (needs curl)', () => {
  it('should send the token as a header and show the caller only its masked echo', async () => {
    const home = await newHome();
    const script = join(home.dir.path, 'gh-api');
    writeFileSync(script, GH_API, { mode: 0o755 });
    const add = await withTask(home, {
      secret: 'GITHUB_TOKEN',
      value: TOKEN,
      task: 'github',
      args: ['--target', script],
    });
    expect(add.code).toBe(0);
    server = spawn('python3', ['-c', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = (await waitForLine(server.stdout!, (l) => l.startsWith('PORT '), 10_000)).split(' ')[1];
    const run = await home.cr([
      'exec',
      'github',
      '--',
      script,
      '--noproxy',
      '*',
      `http://127.0.0.1:${String(port)}/`,
    ]);
    expect(run.code).toBe(0);
    // The server saw the real header; the caller sees it only masked.
    expect(run.stdout).toBe('Bearer <concealed:GITHUB_TOKEN>');
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  });
});
