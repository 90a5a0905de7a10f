#!/usr/bin/env bash
# keys: which keys a *get distributes without the IPC_DIPC flag, and what that costs.
#
# No dipcd runs: each case uses DIPC_RUNDIR pointing at a directory that holds at most an id
# table written by "shimcheck mktable" (with or without key rules, as dipcd publishes the
# node's [distribute] section). "keycheck" makes each *get under a seccomp filter that counts
# every system call other than the System V calls themselves: a *get of a key that is not
# distributed must make none ("quiet", the shim costs no system call), one that is
# distributed tries to reach dipcd ("asked"; with no dipcd it then falls back to a local
# object, as on plain Linux). Checked:
#  1. nothing distributes a key without the flag when there are no rules; the flag does;
#  2. the node's rules in the table (a range, all_keyed), never IPC_PRIVATE;
#  3. DIPC_KEYS / DIPC_ALL_KEYED (what dipc run --keys / --all-keyed set);
#  4. both together: a key is distributed when either names it (merge);
#  5. a malformed DIPC_KEYS or DIPC_ALL_KEYED is reported on stderr and distributes nothing;
#  6. dipc run --keys checks its list (exit 2 with the reason) and sets the variables, and
#     nested dipc runs add up.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

SHIM=$DIPC_BUILD/lib/libdipc.so
KC=$PROGS/keycheck
for f in "$SHIM" "$KC" "$PROGS/shimcheck"; do
  [[ -e "$f" ]] || fail "$f is missing: build first (DIPC_BUILD=$DIPC_BUILD)"
done
[[ $(uname -m) == x86_64 ]] || {
  log "SKIP: keycheck sets x86_64 registers"
  exit 77
}

EMPTY=$SCRATCH/empty # no table at all
RULES=$SCRATCH/rules # a table whose rules distribute 0x5000-0x50ff and 0x7777
ALL=$SCRATCH/all     # a table with all_keyed
mkdir -p "$EMPTY" "$RULES" "$ALL"
"$PROGS/shimcheck" mktable "$RULES/ids" keys 0x5000 0x50ff keys 0x7777 0x7777 msg 777777 1 ||
  fail "cannot write an id table"
"$PROGS/shimcheck" mktable "$ALL/ids" allkeyed 0 0 || fail "cannot write an id table"

# check RUNDIR "ENV..." "KIND:KEY=EXPECTED..."
check() {
  local rd=$1 envs=$2 args=() want=() a out i
  shift 2
  for a in "$@"; do
    args+=("${a%=*}")
    want+=("${a%=*} ${a##*=}")
  done
  # shellcheck disable=SC2086  # envs is a list of VAR=VALUE words
  out=$(timeout 30 env -u DIPC_KEYS -u DIPC_ALL_KEYED $envs LD_PRELOAD="$SHIM" DIPC_RUNDIR="$rd" \
    unshare --ipc "$KC" "${args[@]}" 2>"$SCRATCH/kc.err") ||
    fail "keycheck failed ($envs, $rd): $out $(cat "$SCRATCH/kc.err")"
  expect_eq "$(tail -n 1 <<<"$out")" "keycheck OK" "keycheck finished ($envs)"
  for i in "${!want[@]}"; do
    expect_eq "$(sed -n "$((i + 1))p" <<<"$out")" "${want[$i]}" "$(basename "$rd") [$envs]"
  done
}

# The counter itself works: the same program without the shim is quiet on every call, and
# with the shim a flagged call asks.
out=$(timeout 30 env -u LD_PRELOAD unshare --ipc "$KC" msgdipc:40 msg:41)
expect_eq "$out" $'msgdipc:40 quiet\nmsg:41 quiet\nkeycheck OK' "keycheck without the shim"

log "1. no rules"
check "$EMPTY" "" msg:40=quiet sem:40=quiet msg:0x5001=quiet msgdipc:0x41=asked
log "2. the node's rules, as published in the id table"
check "$RULES" "" msg:40=quiet msg:0x4fff=quiet msg:0x5000=asked sem:0x5080=asked \
  msg:0x50ff=asked sem:0x5100=quiet msg:0x7777=asked msg:0x7778=quiet msg:0=quiet \
  msgdipc:40=asked
check "$ALL" "" msg:1=asked sem:0xffffffff=asked msg:0=quiet sem:0=quiet
log "3. DIPC_KEYS and DIPC_ALL_KEYED"
check "$EMPTY" "DIPC_KEYS=40,0x6000-0x6001" msg:40=asked sem:0x6001=asked msg:0x6002=quiet \
  msg:41=quiet
check "$EMPTY" "DIPC_ALL_KEYED=1" msg:40=asked sem:0x12345678=asked msg:0=quiet
check "$EMPTY" "DIPC_ALL_KEYED=0 DIPC_KEYS=" msg:40=quiet
log "4. both: merged"
check "$RULES" "DIPC_KEYS=40" msg:40=asked msg:0x5001=asked msg:41=quiet
log "5. malformed variables"
check "$RULES" "DIPC_KEYS=40,0x50" msg:40=asked msg:0x50=asked
for bad in "DIPC_KEYS=40,oops" "DIPC_KEYS=40,,41" "DIPC_KEYS=0" "DIPC_KEYS=9-1" "DIPC_ALL_KEYED=yes"; do
  check "$EMPTY" "$bad" msg:40=quiet msg:41=quiet msg:77=quiet
  grep -q "^libdipc: ${bad%%=*}: .*(ignored: this variable distributes no key)" "$SCRATCH/kc.err" ||
    fail "no warning for $bad: $(cat "$SCRATCH/kc.err")"
done

log "6. dipc run --keys / --all-keyed"
rc=0
out=$("$DIPC" run --keys 40,oops -- true 2>&1) || rc=$?
expect_eq "$rc" 2 "dipc run --keys 40,oops exit status"
[[ $out == *"'oops': not a key"* ]] || fail "dipc run --keys 40,oops said: $out"
rc=0
out=$("$DIPC" run --keys "" -- true 2>&1) || rc=$?
expect_eq "$rc" 2 "dipc run --keys '' exit status ($out)"
out=$(env -u DIPC_KEYS -u DIPC_ALL_KEYED "$DIPC" run --keys 40,0x7000-0x70ff -- \
  "$DIPC" run --keys 41 --all-keyed -- printenv DIPC_KEYS DIPC_ALL_KEYED LD_PRELOAD)
expect_eq "$(sed -n 1,2p <<<"$out")" $'40,0x7000-0x70ff,41\n1' "variables set by nested dipc runs"
[[ $(sed -n 3p <<<"$out") == *libdipc.so* ]] || fail "dipc run did not preload the shim: $out"
out=$(timeout 30 env -u DIPC_KEYS -u DIPC_ALL_KEYED DIPC_RUNDIR="$EMPTY" "$DIPC" run \
  --keys 0x6000 -- unshare --ipc "$KC" msg:0x6000 msg:0x6001)
expect_eq "$out" $'msg:0x6000 asked\nmsg:0x6001 quiet\nkeycheck OK' "keycheck under dipc run --keys"
