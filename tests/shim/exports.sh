#!/usr/bin/env bash
# exports: libdipc.so is tiny and depends on nothing but libc.
#
#  - "nm -D --defined-only" lists exactly the twelve interposed calls (msgget msgsnd msgrcv
#    msgctl semget semop semtimedop semctl shmget shmat shmdt shmctl), each a function, and
#    nothing else;
#  - "readelf -d" NEEDED entries are libc.so.6 and at most ld-linux / libdl.so.2 (part of
#    glibc); "ldd" resolves no libstdc++ and no libgcc_s;
#  - every undefined dynamic symbol is versioned GLIBC_* (or one of the weak toolchain hooks
#    every shared object has): no operator new, no __cxa_*/__gxx_* C++ runtime, no _Unwind_*;
#  - preloaded into a C program, the shim provides msgget and brings in no C++ runtime.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

SHIM=$DIPC_BUILD/lib/libdipc.so
CHECK=$PROGS/shimcheck
for f in "$SHIM" "$CHECK"; do
  [[ -e "$f" ]] || fail "$f is missing: build first (DIPC_BUILD=$DIPC_BUILD)"
done
for tool in nm readelf ldd; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

# 1. Exported symbols.
defined=$(nm -D --defined-only "$SHIM") || fail "nm -D --defined-only $SHIM failed"
printf '%s\n' "$defined" | sed 's/^/  defined: /' >&2
names=$(awk 'NF >= 3 { s = $3; sub(/@.*/, "", s); print s }' <<<"$defined" | sort)
want=$(printf '%s\n' msgget msgsnd msgrcv msgctl semget semop semtimedop semctl \
  shmget shmat shmdt shmctl | sort)
if [[ "$names" != "$want" ]]; then
  diff <(printf '%s\n' "$want") <(printf '%s\n' "$names") >&2 || true
  fail "libdipc.so must export exactly the twelve System V calls (diff: < wanted, > found)"
fi
# Each is a function in the text section.
bad=$(awk 'NF >= 3 && $2 != "T" { print $3 " (" $2 ")" }' <<<"$defined")
[[ -z "$bad" ]] || fail "exported symbols that are not functions: $bad"

# 2. Libraries it needs.
needed=$(readelf -d "$SHIM" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
log "NEEDED: $(tr '\n' ' ' <<<"$needed")"
grep -qx 'libc.so.6' <<<"$needed" || fail "libdipc.so does not name libc.so.6 as NEEDED"
while read -r lib; do
  [[ -z "$lib" ]] && continue
  case $lib in
    libc.so.6 | libdl.so.2 | ld-linux*.so.* | ld64.so.*) ;;
    *) fail "libdipc.so needs $lib: only libc (and ld-linux/libdl) are allowed" ;;
  esac
done <<<"$needed"

resolved=$(ldd "$SHIM" 2>&1) || fail "ldd $SHIM failed: $resolved"
printf '%s\n' "$resolved" | sed 's/^/  ldd: /' >&2
if grep -Eq 'libstdc\+\+|libgcc_s' <<<"$resolved"; then
  fail "libdipc.so pulls in the C++ runtime: $resolved"
fi
while read -r lib _; do
  [[ -z "$lib" ]] && continue
  case $(basename "$lib") in
    linux-vdso.so.* | linux-gate.so.* | libc.so.6 | libdl.so.2 | ld-linux*.so.* | ld64.so.*) ;;
    *) fail "ldd shows a library other than libc/ld-linux/libdl: $lib" ;;
  esac
done <<<"$resolved"

# 3. Every undefined symbol comes from glibc.
undefined=$(nm -D --undefined-only "$SHIM") || fail "nm -D --undefined-only failed"
while read -r _type sym; do
  [[ -z "$sym" ]] && continue
  case $sym in
    *@GLIBC_*) ;;
    _ITM_deregisterTMCloneTable | _ITM_registerTMCloneTable | __gmon_start__) ;;
    *) fail "undefined symbol not from glibc: $sym" ;;
  esac
  case ${sym%%@*} in
    _Z* | __cxa_* | __gxx_* | _Unwind_*)
      [[ ${sym%%@*} == __cxa_finalize || ${sym%%@*} == __cxa_atexit ]] ||
        fail "C++ runtime symbol imported: $sym"
      ;;
  esac
done < <(awk '{ print $1, $2 }' <<<"$undefined")

# 4. Preloaded into a C program.
out=$(timeout 30 env LD_PRELOAD="$SHIM" DIPC_RUNDIR="$SCRATCH" "$CHECK" whoami) ||
  fail "shimcheck whoami with the shim failed: $out"
expect_eq "$out" $'msgget from libdipc.so\nno-cxx-runtime' "shimcheck whoami with the shim"
