// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr tui` (architecture §11, issue 6): builds the `@cora/tui` backend from the CLI's own modules
 * (paths, the service client, the passphrase rule, the .env reader) and runs it. The TUI
 * runs inside this `cr` process, so the service sees the `cr` CLI as its peer, and it talks
 * to the service through the CLI's own client (`client.ts`): one connection for its screens.
 */
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { readRecords } from '@cora/audit';
import type { TuiBackend } from '@cora/tui';
import { followRecords } from './audit.ts';
import { readDotenvFile } from '../dotenv.ts';
import { coraHome, ensurePrivateDir, serviceSocketPath, vaultPath } from '../../shared/paths.ts';
import { MAX_PASSPHRASE_BYTES, passphraseWarnings } from '../passphrase.ts';
import { startedService } from '../launcher.ts';
import { resolveCommand } from '../../shared/resolve.ts';
import { runsCallersCode, targetWarnings } from '../../shared/policy-checks.ts';
import { VERSION } from '../../shared/version.ts';

/** Agent binaries the onboarding looks for on PATH. */
const AGENTS = ['claude', 'codex', 'gemini', 'aider', 'cursor-agent', 'goose', 'opencode', 'amp'] as const;

function findOnPath(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return realpathSync(candidate);
    } catch {
      // not here
    }
  }
  return null;
}

/** The backend over the daemon's modules. */
function makeBackend(): TuiBackend {
  const home = coraHome();
  const vault = vaultPath(home);
  return {
    home,
    vaultPath: vault,
    socketPath: serviceSocketPath(home),
    version: VERSION,
    maxPassphraseBytes: MAX_PASSPHRASE_BYTES,
    vaultExists: () => existsSync(vault),
    passphraseWarnings: (passphrase) => passphraseWarnings(passphrase),
    // The setup's first connection creates the home, as `cr init` does; then, like every
    // vault-changing command, it starts the service (locked) when none runs. The CLI's client
    // is the TUI's: the same requests, the same error table. An unsafe home rejects.
    connect: () =>
      Promise.resolve().then(() => {
        ensurePrivateDir(home);
        return startedService(home);
      }),
    findAgents: () =>
      Promise.resolve(
        AGENTS.flatMap((name) => {
          const path = findOnPath(name);
          return path === null ? [] : [{ name, path }];
        }),
      ),
    resolveCommand: (command) => resolveCommand(command, process.env['PATH'] ?? '', process.cwd()).resolved,
    // The checks and warnings of `cr policy task add`; the service checks the interpreter rule again.
    checkTarget: (target) => ({
      runsCallersCode: runsCallersCode(target),
      warnings: targetWarnings(target, false),
    }),
    // A file that cannot be read rejects (the screen says why) rather than throwing.
    readDotenv: (file) =>
      Promise.resolve().then(() => {
        const { entries, problems } = readDotenvFile(file);
        return {
          names: entries.map((e) => e.name),
          values: entries.map((e) => e.value),
          problems: problems.map((p) => `${file}:${String(p.line)}: ${p.kind}`),
        };
      }),
    readAudit: async function* (options) {
      // The whole log (rotated files too), then, when following, the records appended after it.
      let seq = 0;
      for await (const record of readRecords(home)) {
        if (options.signal?.aborted === true) return;
        seq = record.seq;
        yield record;
      }
      if (options.follow === true)
        yield* followRecords(home, seq, options.signal ?? new AbortController().signal);
    },
  };
}

/**
 * `cr tui`: the terminal UI over this installation's service.
 * @returns the exit code
 */
export async function cmdTui(): Promise<number> {
  // Loaded here, not at the top: Ink and React would otherwise slow every `cr` command.
  const { runTui } = await import('@cora/tui');
  return runTui(makeBackend());
}
