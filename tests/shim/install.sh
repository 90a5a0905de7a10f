#!/usr/bin/env bash
# install: "cmake --install build --prefix P" gives P/bin/dipc, P/sbin/dipcd and
# P/lib/libdipc.so (plus the header and man pages), and the installed dipc finds the
# installed shim relative to itself.
set -euo pipefail
prefix=$(mktemp -d /tmp/dipc-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$DIPC_BUILD" --prefix "$prefix" >/dev/null
for f in bin/dipc sbin/dipcd lib/libdipc.so include/dipc/dipc.h share/man/man1/dipc.1 \
  share/man/man8/dipcd.8 share/man/man5/dipc.conf.5; do
  [[ -e "$prefix/$f" ]] || { echo "FAIL: $f not installed"; exit 1; }
done
out=$("$prefix/bin/dipc" run -- sh -c 'echo "$LD_PRELOAD"')
[[ "$out" == "$prefix/bin/../lib/libdipc.so"* ]] || { echo "FAIL: dipc run preloads [$out]"; exit 1; }
"$prefix/sbin/dipcd" --version | grep -q "dipcd" || { echo "FAIL: installed dipcd"; exit 1; }
echo "installed tree OK"
