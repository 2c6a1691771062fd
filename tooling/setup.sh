#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-only
# The newcomer's first command (README): pinned toolchain, frozen install, build, then a real
# end-to-end run of the vault format on a throw-away vault in a temp directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$CORA_ROOT"
cora_install
pnpm run build >&2
node tooling/demo/src/demo.ts
