#!/usr/bin/env bash
# sem_undo_kill: SEM_UNDO for processes on a node other than the owner.
# 1. node1 owns a mutex (value 1). A process on node2 takes it with SEM_UNDO and sleeps; a
#    process on node3 blocks in P. GETNCNT, asked from node1, node2 and node3, counts the
#    waiter on node3 (1). The holder is killed with SIGKILL: its adjustment is applied at
#    the owner and the waiter on node3 gets the mutex within a few seconds; the adjustment
#    is applied once only (a later V leaves the value at 1).
# 2. A process on node2 takes the mutex with SEM_UNDO and exits normally without V: the
#    value returns to 1. A process on node2 adds 2 with SEM_UNDO and exits: the value goes
#    back from 3 to 1.
# 3. A process on node3 waits for zero on a set owned by node1; GETZCNT from node2 shows 1;
#    SETVAL 0 from node2 wakes it.
# 4. SETVAL clears the adjustments: a node2 process holds with SEM_UNDO, SETVAL 1 from
#    node1, the holder is killed: the value stays 1 (not 2).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"

BOUND_MS=5000
cluster_up 3

# 1. kill -9 of a remote holder.
K=0x6701
expect_eq "$(on node1 "$ST" mk $K 1 1)" OK "mutex $K created on node1"
hf=$SCRATCH/holder.pid
bg_on node2 "$ST" hold $K 0 "$hf" 60
hpid=$BG_PID
hout=$BG_OUT
await_prog "$hf"
[[ -n "$PROG_PID" ]] || fail "holder on node2 is not running: $(cat "$hout")"
holder=$PROG_PID
expect_eq "$(cat "$hout")" HELD "holder on node2"
expect_val node1 $K 0 0 "mutex value while node2 holds it"

wf=$SCRATCH/waiter.pid
bg_on node3 "$ST" wait $K 0 20 "$wf"
wpid=$BG_PID
wout=$BG_OUT
await_prog "$wf"
for n in node1 node2 node3; do
  wait_for "[[ \$(on $n '$ST' ncnt $K 0) == 1 ]]" 5 ||
    fail "GETNCNT from $n: expected 1 (the waiter on node3), got [$(on $n "$ST" ncnt $K 0)]"
done
expect_eq "$(on node2 "$ST" zcnt $K 0)" 0 "GETZCNT from node2"
bg_running "$wpid" || fail "waiter on node3 ended before the holder was killed: $(cat "$wout")"

log "kill -9 the holder on node2 (pid $holder)"
t0=$(now_ms)
kill -KILL "$holder"
ms=$(ms_until_done "$wpid" 15000 "$t0")
[[ -n "$ms" ]] || fail "waiter on node3 still blocked 15 s after the holder was killed"
rc=0
bg_wait "$wpid" 5 || rc=$?
log "waiter on node3: [$(cat "$wout")] after $ms ms"
expect_eq "$(cat "$wout")" OK "waiter on node3 after the holder died"
expect_eq "$rc" 0 "exit status of the waiter"
((ms <= BOUND_MS)) || fail "waiter took $ms ms to get the mutex, bound is $BOUND_MS ms"
bg_wait "$hpid" 5 || true
expect_val node1 $K 0 0 "mutex value once the waiter on node3 took it"
expect_eq "$(on node1 "$ST" ncnt $K 0)" 0 "GETNCNT after the waiter got the mutex"
expect_eq "$(on node3 "$ST" op $K 0 1)" OK "V from node3"
sleep 1
expect_val node1 $K 0 1 "mutex value after V (the adjustment was applied once)"

# 2. Normal exit without V.
expect_eq "$(on node2 "$ST" hold $K 0 "$SCRATCH/exit.pid" exit)" HELD "P with SEM_UNDO on node2, then exit"
wait_for "val_is node1 $K 0 1" 5 ||
  fail "value after the node2 process exited holding the mutex: [$(on node1 "$ST" getval $K 0)], expected 1"
expect_eq "$(on node2 "$ST" op $K 0 2 u)" OK "+2 with SEM_UNDO on node2, then exit"
wait_for "val_is node1 $K 0 1" 5 ||
  fail "value after the node2 process that added 2 exited: [$(on node1 "$ST" getval $K 0)], expected 1"
sleep 0.5
expect_val node3 $K 0 1 "mutex value at the end of part 2"

# 3. GETZCNT counts a remote waiter for zero.
K3=0x6703
expect_eq "$(on node1 "$ST" mk $K3 1 1)" OK "set $K3 created on node1"
bg_on node3 "$ST" op $K3 0 0
zpid=$BG_PID
zout=$BG_OUT
wait_for "[[ \$(on node2 '$ST' zcnt $K3 0) == 1 ]]" 5 ||
  fail "GETZCNT from node2: expected 1, got [$(on node2 "$ST" zcnt $K3 0)] (waiter: $(cat "$zout"))"
expect_eq "$(on node1 "$ST" zcnt $K3 0)" 1 "GETZCNT on the owner"
expect_eq "$(on node2 "$ST" ncnt $K3 0)" 0 "GETNCNT from node2 with only a wait-for-zero"
expect_eq "$(on node2 "$ST" setval $K3 0 0)" OK "SETVAL 0 from node2"
rc=0
bg_wait "$zpid" 5 || rc=$?
expect_eq "$(cat "$zout")" OK "wait-for-zero on node3 after SETVAL 0"
expect_eq "$(on node2 "$ST" zcnt $K3 0)" 0 "GETZCNT at the end"

# 4. SETVAL clears the adjustment of a remote holder.
hf=$SCRATCH/holder4.pid
bg_on node2 "$ST" hold $K 0 "$hf" 60
h4=$BG_PID
await_prog "$hf"
[[ -n "$PROG_PID" ]] || fail "holder on node2 (part 4) is not running: $(cat "$BG_OUT")"
expect_val node1 $K 0 0 "mutex value while node2 holds it (part 4)"
expect_eq "$(on node1 "$ST" setval $K 0 1)" OK "SETVAL 1 on node1 while node2 holds it"
kill -KILL "$PROG_PID"
bg_wait "$h4" 5 || true
sleep 1.5
expect_val node1 $K 0 1 "value after the holder died, its adjustment cleared by SETVAL"
