#!/usr/bin/env bash
# The one test command: installs what it needs, builds, and runs every test (unit, shim,
# cluster and fuzz) under ctest. Needs root: cluster tests make IPC and network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
build=${BUILD_DIR:-build}
cd "$build"
exec ctest --output-on-failure --timeout 300 "$@"
