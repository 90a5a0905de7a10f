#!/usr/bin/env bash
# preload: dipc preload enable|disable|status manages ROOT/etc/ld.so.preload safely, on a
# throwaway root (--root and $DIPC_ROOT):
#  - enable refuses while the shim file is missing in the root, and leaves no file;
#  - with the shim there, enable adds exactly one line (the soname path inside the root),
#    keeps the file's other lines, is idempotent, leaves no temporary file; status exits 0;
#  - disable removes only the shim's line; status then exits 4; disable again is harmless.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

root=$SCRATCH/root
arch=$(gcc -print-multiarch)
mkdir -p "$root/etc" "$root/usr/bin" "$root/usr/lib/$arch"
cp "$DIPC" "$root/usr/bin/dipc"
D=$root/usr/bin/dipc
line=/usr/lib/$arch/libdipc.so.0

rc=0
out=$("$D" preload --root "$root" enable 2>&1) || rc=$?
expect_eq "$rc" 1 "enable without the shim in the root"
grep -q "is missing: not enabling" <<<"$out" || fail "enable without the shim: $out"
[[ -e $root/etc/ld.so.preload ]] && fail "enable without the shim wrote ld.so.preload"

cp "$DIPC_BUILD/lib/libdipc.so" "$root/usr/lib/$arch/libdipc.so.0.1.0"
ln -s libdipc.so.0.1.0 "$root/usr/lib/$arch/libdipc.so.0"
echo "/usr/lib/other.so" >"$root/etc/ld.so.preload"
"$D" preload --root "$root" enable >/dev/null || fail "enable with the shim in place"
expect_eq "$(cat "$root/etc/ld.so.preload")" "$(printf '/usr/lib/other.so\n%s' "$line")" \
  "ld.so.preload after enable"
DIPC_ROOT=$root "$D" preload enable | grep -q "already enabled" || fail "second enable"
expect_eq "$(grep -c libdipc "$root/etc/ld.so.preload")" 1 "shim lines after two enables"
expect_eq "$(find "$root/etc" -name 'ld.so.preload.dipc-*' | wc -l)" 0 "temporary files left"
expect_eq "$(stat -c %a "$root/etc/ld.so.preload")" 644 "mode of ld.so.preload"
"$D" preload --root "$root" status | grep -qF "enabled: $line" || fail "status when enabled"

"$D" preload --root "$root" disable >/dev/null || fail "disable"
expect_eq "$(cat "$root/etc/ld.so.preload")" /usr/lib/other.so "ld.so.preload after disable"
rc=0
"$D" preload --root "$root" status >/dev/null || rc=$?
expect_eq "$rc" 4 "status when disabled"
"$D" preload --root "$root" disable | grep -q "not enabled" || fail "second disable"
log "ok"
