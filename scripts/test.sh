#!/usr/bin/env bash
# The one test command: installs what it needs, builds (also the s390x node of the mixed
# cluster tests, scripts/cross.sh), and runs every test (unit, shim, cluster and fuzz) under
# ctest. Needs root: cluster tests make IPC and network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
scripts/cross.sh s390x
build=${BUILD_DIR:-build}
cd "$build"
exec ctest --output-on-failure --timeout 300 "$@"
