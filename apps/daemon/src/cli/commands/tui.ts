// SPDX-License-Identifier: AGPL-3.0-only
/**
 * `cr tui` (DESIGN §11, issue 6): builds the `@cora/tui` backend from the CLI's own modules
 * (paths, `cr init`'s vault creation, the service client, the passphrase rule) and runs it.
 * The TUI runs inside this `cr` process, so the service sees the `cr` CLI as its peer.
 */
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { readRecords } from '@cora/audit';
import { connectIpc } from '@cora/ipc';
import type { TuiBackend, serviceFromIpc as ServiceFromIpc } from '@cora/tui';
import { followRecords } from './audit.ts';
import { parseDotenv } from '../dotenv.ts';
import { readFileToSecret } from '../read-bytes.ts';
import { coraHome, serviceSocketPath, vaultPath } from '../../shared/paths.ts';
import { createNewVault } from '../vault-init.ts';
import { passphraseWarnings } from '../passphrase.ts';
import { ensureService } from '../client.ts';
import { resolveCommand } from '../../shared/resolve.ts';
import { DEFAULT_IDLE_TIMEOUT_MS } from '../../shared/duration.ts';
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
function makeBackend(serviceFromIpc: typeof ServiceFromIpc): TuiBackend {
  const home = coraHome();
  const vault = vaultPath(home);
  return {
    home,
    vaultPath: vault,
    socketPath: serviceSocketPath(home),
    version: VERSION,
    vaultExists: () => existsSync(vault),
    createVault: async (passphrase) => {
      await createNewVault(home, passphrase, 'tui');
    },
    passphraseWarnings: (passphrase) => passphraseWarnings(passphrase),
    connect: async () => {
      // Starts the service (locked) when none runs, like every vault-changing command.
      const { service } = await ensureService({
        home,
        idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
        lifetimeMs: 0,
      });
      service.close();
      return serviceFromIpc(
        await connectIpc({ socketPath: serviceSocketPath(home), clientName: `cr/${VERSION}` }),
      );
    },
    findAgents: () =>
      Promise.resolve(
        AGENTS.flatMap((name) => {
          const path = findOnPath(name);
          return path === null ? [] : [{ name, path }];
        }),
      ),
    resolveCommand: (command) => resolveCommand(command, process.env['PATH'] ?? '', process.cwd()).resolved,
    readDotenv: (file) => {
      const content = readFileToSecret(file, {
        requirePrivate: false,
        maxBytes: 16 * 1024 * 1024,
        what: file,
      });
      try {
        const { entries, problems } = content.use((bytes) => parseDotenv(bytes));
        return Promise.resolve({
          names: entries.map((e) => e.name),
          values: entries.map((e) => e.value),
          problems: problems.map((p) => `${file}:${String(p.line)}: ${p.kind}`),
        });
      } finally {
        content.wipe();
      }
    },
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
  const tui = await import('@cora/tui');
  return tui.runTui(makeBackend(tui.serviceFromIpc));
}
