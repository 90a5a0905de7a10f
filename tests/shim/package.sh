#!/usr/bin/env bash
# package: the Debian package built from the tree.
#  - cmake --build BUILD --target package leaves BUILD/dipc_VERSION_ARCH.deb;
#  - it holds dipc, dipcd, the shim in the multiarch directory with its soname, the man
#    pages, the systemd unit, bash completion, and /etc/dipc.conf and /etc/dipc.allow as
#    conffiles;
#  - lintian reports no error and no warning (what it would report and the project accepts
#    is overridden, with the reason, in etc/debian/lintian-overrides);
#  - unpacked into a throwaway root (dpkg -x), the installed dipc and dipcd run the hello
#    pair across a two-node local cluster, with the installed shim.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

command -v lintian >/dev/null || { log "lintian missing: skipped"; exit 77; }
arch=$(dpkg --print-architecture)
multi=$(gcc -print-multiarch)
version=$(sed -n 's/^project(dipc VERSION \([0-9.]*\).*/\1/p' "$DIPC_SRC/CMakeLists.txt")
deb=$DIPC_BUILD/dipc_${version}_${arch}.deb
rm -f "$deb"
cmake --build "$DIPC_BUILD" --target package >"$SCRATCH/package.out" 2>&1 ||
  fail "package target failed: $(tail -20 "$SCRATCH/package.out")"
[[ -f $deb ]] || fail "no $deb after the package target: $(ls "$DIPC_BUILD"/*.deb 2>&1)"

files=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for f in ./usr/bin/dipc ./usr/sbin/dipcd "./usr/lib/$multi/libdipc.so.0" \
  ./usr/share/man/man1/dipc.1.gz ./usr/share/man/man8/dipcd.8.gz ./usr/share/man/man5/dipc.conf.5.gz \
  ./usr/lib/systemd/system/dipcd.service ./usr/share/bash-completion/completions/dipc \
  ./etc/dipc.conf ./etc/dipc.allow ./usr/share/doc/dipc/copyright; do
  grep -qxF "$f" <<<"$files" || fail "$f is not in the package: $files"
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/dipc.conf || fail "/etc/dipc.conf is no conffile"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/dipc.allow || fail "/etc/dipc.allow is no conffile"

out=$(lintian --tag-display-limit 0 "$deb" 2>/dev/null) || true
if grep -E '^[EW]: ' <<<"$out"; then fail "lintian reports errors or warnings: $out"; fi
log "lintian: ${out:-clean}"

root=$SCRATCH/root
dpkg -x "$deb" "$root"
DIPC=$root/usr/bin/dipc  # lib.sh's cluster_up, on and teardown use the installed tool
"$DIPC" --version | grep -q "dipc $version" || fail "installed dipc --version"
cluster_up 2
for n in node1 node2; do
  exe=$(readlink -f "/proc/$(tr -dc '0-9' <"$DIR/$n/dipcd.pid")/exe")
  expect_eq "$exe" "$root/usr/sbin/dipcd" "the dipcd $n runs"
done
bg_on node1 "$EXAMPLES/hello1"
p=$BG_PID
wait_for "on node2 \"$DIPC\" ls -q -n -o KEY | grep -q 0x00000028" 15 || fail "key 40 never listed"
out=$(on node2 sh -c 'echo "$LD_PRELOAD"')
[[ $out == "$root/usr/bin/../lib/$multi/libdipc.so.0"* ]] || fail "not the installed shim: $out"
sent=$(on node2 "$EXAMPLES/hello2" 2>&1) || fail "hello2 failed: $sent"
expect_eq "$sent" 'hello2: sent "Hello, Distributed Programming!"' "hello2 output"
bg_wait "$p" 15 || fail "hello1 failed: $(cat "$BG_OUT" "$BG_ERR")"
grep -qxF 'hello1: received "Hello, Distributed Programming!"' "$BG_OUT" ||
  fail "hello1 output: $(cat "$BG_OUT")"
log "ok"
