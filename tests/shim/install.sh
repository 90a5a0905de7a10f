#!/usr/bin/env bash
# install: "cmake --install build --prefix P" gives P/bin/dipc, P/sbin/dipcd, the shim
# P/lib/ARCH/libdipc.so.0 (the multiarch directory, versioned soname), the header, the
# compressed man pages and the sample P/etc/dipc.conf and P/etc/dipc.allow; the installed
# dipc finds the installed shim relative to itself.
set -euo pipefail
prefix=$(mktemp -d /tmp/dipc-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$DIPC_BUILD" --prefix "$prefix" >/dev/null
arch=$(gcc -print-multiarch)
for f in bin/dipc sbin/dipcd "lib/$arch/libdipc.so.0" include/dipc/dipc.h \
  share/man/man1/dipc.1.gz share/man/man8/dipcd.8.gz share/man/man5/dipc.conf.5.gz \
  etc/dipc.conf etc/dipc.allow lib/systemd/system/dipcd.service; do
  [[ -e "$prefix/$f" ]] || { echo "FAIL: $f not installed"; exit 1; }
done
soname=$(objdump -p "$prefix/lib/$arch/libdipc.so.0" | awk '/SONAME/ { print $2 }')
[[ "$soname" == libdipc.so.0 ]] || { echo "FAIL: soname [$soname]"; exit 1; }
zcat "$prefix/share/man/man1/dipc.1.gz" | grep -q '^\.TH DIPC 1' || { echo "FAIL: dipc.1.gz"; exit 1; }
out=$("$prefix/bin/dipc" run -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
[[ "$out" == "$prefix/bin/../lib/$arch/libdipc.so.0"* ]] || { echo "FAIL: dipc run preloads [$out]"; exit 1; }
"$prefix/sbin/dipcd" --version | grep -q "dipcd" || { echo "FAIL: installed dipcd"; exit 1; }
echo "installed tree OK"
