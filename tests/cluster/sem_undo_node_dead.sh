#!/usr/bin/env bash
# sem_undo_node_dead: the SEM_UNDO adjustments of a node's processes are applied by the
# owner when that node is declared dead. Three nodes, heartbeat 200 ms, peer time-out
# 2000 ms.
# 1. node1 owns a set of two semaphores (1, 1). On node2 one process holds sem 0 and another
#    sem 1, both with SEM_UNDO; a process on node3 blocks in P on sem 1. node2's dipcd is
#    killed with SIGKILL (its processes live on): within peer time-out + 2 s the owner
#    applies their adjustments, sem 0 is back to 1 and the waiter on node3 gets sem 1.
# 2. The same through the heartbeat alone: a process on node3 holds a mutex owned by node1
#    with SEM_UNDO and node3's dipcd is stopped (SIGSTOP, its links stay open): once node1
#    declares node3 dead, within peer time-out + 2 s, the value is back to 1.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"

PEER_TIMEOUT_MS=2000
BOUND_MS=$((PEER_TIMEOUT_MS + 2000))
cluster_up 3 --heartbeat-ms 200 --peer-timeout-ms $PEER_TIMEOUT_MS

# ms_until_val NODE KEY SEMNUM VAL T_MS T0: polls GETVAL until VAL (bounded by T_MS); prints
# the milliseconds from T0, or nothing.
ms_until_val() {
  local node=$1 key=$2 n=$3 val=$4 t=$5 t0=$6 i
  for i in $(seq 1 $((t / 50 + 1))); do
    if val_is "$node" "$key" "$n" "$val"; then
      echo $(($(now_ms) - t0))
      return 0
    fi
    (($(now_ms) - t0 > t)) && break
    sleep 0.05
  done
  return 0
}

# 1. node2's dipcd killed.
K=0x6a01
expect_eq "$(on node1 "$ST" mk $K 2 1)" OK "set $K created on node1 with values 1,1"
for s in 0 1; do
  bg_on node2 "$ST" hold $K $s "$SCRATCH/hold.$s.pid" 60
  await_prog "$SCRATCH/hold.$s.pid"
  [[ -n "$PROG_PID" ]] || fail "holder of sem $s on node2 is not running: $(cat "$BG_OUT")"
  expect_eq "$(cat "$BG_OUT")" HELD "holder of sem $s on node2"
done
expect_eq "$(on node1 "$ST" getall $K)" 0,0 "values while node2 holds both"
bg_on node3 "$ST" wait $K 1 25 "$SCRATCH/wait.pid"
wpid=$BG_PID
wout=$BG_OUT
await_prog "$SCRATCH/wait.pid"
wait_for "[[ \$(on node1 '$ST' ncnt $K 1) == 1 ]]" 5 ||
  fail "the P on node3 is not waiting at the owner (GETNCNT [$(on node1 "$ST" ncnt $K 1)])"

dpid=$(dipcd_pid node2)
log "kill -9 node2's dipcd (pid $dpid)"
t0=$(now_ms)
kill -KILL "$dpid"
wms=$(ms_until_done "$wpid" 15000 "$t0")
vms=$(ms_until_val node1 $K 0 1 15000 "$t0")
[[ -n "$wms" ]] || fail "waiter on node3 still blocked 15 s after node2's dipcd died"
[[ -n "$vms" ]] || fail "sem 0 still [$(on node1 "$ST" getval $K 0)] 15 s after node2's dipcd died, expected 1"
rc=0
bg_wait "$wpid" 5 || rc=$?
log "waiter on node3: [$(cat "$wout")] after $wms ms; sem 0 back to 1 after <= $vms ms"
expect_eq "$(cat "$wout")" OK "waiter on node3 after node2 died"
expect_eq "$rc" 0 "exit status of the waiter on node3"
((wms <= BOUND_MS)) || fail "waiter on node3 took $wms ms, bound is $BOUND_MS ms"
((vms <= BOUND_MS)) || fail "sem 0 took $vms ms to return to 1, bound is $BOUND_MS ms"
sleep 0.5
expect_eq "$(on node1 "$ST" getall $K)" 1,0 "values at the end of part 1 (applied once)"

# 2. node3's dipcd stopped: declared dead by the heartbeat.
K2=0x6a02
expect_eq "$(on node1 "$ST" mk $K2 1 1)" OK "mutex $K2 created on node1"
bg_on node3 "$ST" hold $K2 0 "$SCRATCH/hold3.pid" 60
await_prog "$SCRATCH/hold3.pid"
[[ -n "$PROG_PID" ]] || fail "holder on node3 is not running: $(cat "$BG_OUT")"
expect_val node1 $K2 0 0 "mutex value while node3 holds it"
dpid3=$(dipcd_pid node3)
log "SIGSTOP node3's dipcd (pid $dpid3)"
t0=$(now_ms)
kill -STOP "$dpid3"
vms=$(ms_until_val node1 $K2 0 1 15000 "$t0")
kill -KILL "$dpid3" # it never comes back: the cluster goes on without it
[[ -n "$vms" ]] ||
  fail "mutex still [$(on node1 "$ST" getval $K2 0)] 15 s after node3's dipcd stopped, expected 1"
log "mutex back to 1 after <= $vms ms"
((vms <= BOUND_MS)) || fail "mutex took $vms ms to return to 1, bound is $BOUND_MS ms"
sleep 0.5
expect_val node1 $K2 0 1 "mutex value at the end (applied once)"
