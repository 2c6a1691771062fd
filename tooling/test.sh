#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-only
# The project's test command (README): sets up the pinned toolchain if needed, builds the
# packages (a suite runs against the built output), runs every vitest project and ends with
# the line "N passed, N failed, N skipped".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$CORA_ROOT"
cora_install
pnpm run build >&2
mkdir -p temp
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=temp/vitest-report.json "$@" || status=$?
node tooling/scripts/test-summary.ts temp/vitest-report.json || status=1
exit "$status"
