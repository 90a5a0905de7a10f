#!/usr/bin/env bash
# passthrough: with no dipcd, the shim is invisible for local objects.
#
# In fresh private IPC namespaces (unshare --ipc) and with DIPC_RUNDIR pointing at a
# directory where no dipcd runs:
#  1. "shimcheck local" exercises msgget/msgsnd/msgrcv/msgctl, semget/semop/semtimedop/semctl
#     (every command, the variadic union semun) and shmget/shmat/shmdt/shmctl, blocking calls,
#     signals and fork on local objects; its output with LD_PRELOAD=libdipc.so must equal its
#     output without (it prints no ids, pids or times). The same again with an id table
#     mapped (as a running dipcd publishes it) whose entries match none of the program's ids.
#  2. IPC_DIPC never reaches the kernel: "shimcheck flagstrip" installs a seccomp filter that
#     fails msgget/semget/shmget with ENOTRECOVERABLE when bit 010000 is set (on shmget the
#     kernel would read it as SHM_NORESERVE). Without the shim its IPC_DIPC calls are refused
#     (the filter works); with it they all succeed, the queue/set/segment have mode 600
#     exactly (IPC_STAT and "ipcs"), and the segment works (two attaches see the same data).
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

SHIM=$DIPC_BUILD/lib/libdipc.so
CHECK=$PROGS/shimcheck
for f in "$SHIM" "$CHECK"; do
  [[ -e "$f" ]] || fail "$f is missing: build first (DIPC_BUILD=$DIPC_BUILD)"
done

RUNDIR=$SCRATCH/run # exists, empty: no dipcd.sock, no id table
mkdir -p "$RUNDIR"

# without CMD...: CMD in a fresh IPC namespace, no shim.  with RUNDIR CMD...: the same
# with the shim preloaded and DIPC_RUNDIR=RUNDIR.
without() { timeout 60 env -u LD_PRELOAD -u DIPC_RUNDIR unshare --ipc "$@" </dev/null; }
with() {
  local rd=$1
  shift
  timeout 60 env LD_PRELOAD="$SHIM" DIPC_RUNDIR="$rd" unshare --ipc "$@" </dev/null
}

# The shim really is loaded in the "with" runs (otherwise the comparisons prove nothing).
expect_eq "$(without "$CHECK" whoami | head -n 1)" "msgget from libc.so.6" "msgget without the shim"
expect_eq "$(with "$RUNDIR" "$CHECK" whoami | head -n 1)" "msgget from libdipc.so" \
  "msgget with the shim"

# 1. The local exercise, without and with the shim.
log "shimcheck local without the shim"
without "$CHECK" local >"$SCRATCH/plain.out" 2>"$SCRATCH/plain.err" ||
  fail "shimcheck local failed without the shim: $(cat "$SCRATCH/plain.err")"
[[ $(tail -n 1 "$SCRATCH/plain.out") == "local OK" ]] ||
  fail "shimcheck local did not finish without the shim: $(tail -n 3 "$SCRATCH/plain.out")"
lines=$(wc -l <"$SCRATCH/plain.out")
((lines > 100)) || fail "shimcheck local printed only $lines lines"

log "shimcheck local with the shim, no dipcd"
with "$RUNDIR" "$CHECK" local >"$SCRATCH/shim.out" 2>"$SCRATCH/shim.err" ||
  fail "shimcheck local failed with the shim: $(cat "$SCRATCH/shim.err")"
diff -u "$SCRATCH/plain.out" "$SCRATCH/shim.out" >&2 ||
  fail "shimcheck local prints something else with the shim (diff above)"

# The same with an id table mapped: entries for ids this program never gets.
TABLE_DIR=$SCRATCH/table
mkdir -p "$TABLE_DIR"
"$CHECK" mktable "$TABLE_DIR/ids" msg 777777 1 sem 777777 1 shm 777777 1 ||
  fail "cannot write an id table"
log "shimcheck local with the shim and an id table mapped"
with "$TABLE_DIR" "$CHECK" local >"$SCRATCH/table.out" 2>"$SCRATCH/table.err" ||
  fail "shimcheck local failed with the shim and a table: $(cat "$SCRATCH/table.err")"
diff -u "$SCRATCH/plain.out" "$SCRATCH/table.out" >&2 ||
  fail "shimcheck local prints something else with an id table mapped (diff above)"

# 2. IPC_DIPC is removed before the kernel sees it.
log "flagstrip without the shim (the seccomp filter must refuse the bit)"
out=$(without "$CHECK" flagstrip 0x5d01 2>&1) || fail "flagstrip without the shim failed: $out"
for call in msgget semget shmget; do
  grep -qxF "$call: ENOTRECOVERABLE" <<<"$out" ||
    fail "the filter did not catch IPC_DIPC on $call without the shim: $out"
done

log "flagstrip with the shim, no dipcd"
# shellcheck disable=SC2016  # expanded by the inner bash
script='"$1" flagstrip 0x5d01 && echo "--- ipcs -q" && ipcs -q && echo "--- ipcs -s" && ipcs -s &&
  echo "--- ipcs -m" && ipcs -m'
out=$(with "$RUNDIR" bash -c "$script" flagstrip "$CHECK" 2>&1) ||
  fail "flagstrip with the shim failed: $out"
printf '%s\n' "$out" | sed 's/^/  /' >&2
for want in "raw msgget with the bit: ENOTRECOVERABLE" "raw msgget without the bit: OK" \
  "msgget: OK" "semget: OK" "shmget: OK" \
  "msg mode 600 key 0x5d01" "msg round trip: OK" \
  "sem mode 600 nsems 3" "sem op: OK value 4" \
  "shm mode 600 size 8192" "shm attach twice, write, read: OK" \
  "private msgget: OK" "private semget: OK" "private shmget: OK"; do
  grep -qxF "$want" <<<"$out" || fail "flagstrip with the shim: no line [$want]"
done
# ipcs shows each object with key 0x00005d01 and perms 600.
for kind in q s m; do
  perms=$(awk -v k=0x00005d01 -v sect="--- ipcs -$kind" '
    $0 == sect { on = 1; next } /^--- / { on = 0 } on && $1 == k { print $4 }' <<<"$out")
  expect_eq "$perms" 600 "perms of key 0x5d01 in ipcs -$kind"
done
