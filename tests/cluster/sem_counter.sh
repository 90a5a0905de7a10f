#!/usr/bin/env bash
# sem_counter: mutual exclusion across three nodes with a distributed binary semaphore.
# A set of one semaphore (value 1) is owned by node1; a distributed message queue owned by
# node2 holds one message whose text is a counter. node1, node2 and node3 each run 200
# iterations, started together by a start file, of "P (SEM_UNDO); take the counter message
# (IPC_NOWAIT: under the lock it must be there); send counter+1; V". Without mutual
# exclusion a loop would find the queue empty or two loops would lose an increment; with it
# the final count is exactly 600, the semaphore is back at 1 with no waiter, and the queue
# holds one message. The same loops on plain Linux first, as a reference.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"

N=200
# The same loops on plain Linux (one private IPC namespace, no DIPC) as a reference.
# shellcheck disable=SC2016  # expanded by bash
ref=$(plain bash -c '
  ST=$1 MW=$2 N=$3 S=$4
  "$ST" mk 0x6501 1 1 >/dev/null && "$MW" mkq 0x6502 0666 >/dev/null &&
    "$MW" send 0x6502 1 0 >/dev/null || exit 1
  for i in 1 2 3; do "$ST" lock 0x6501 0x6502 "$N" 25 >"$S/ref.$i" & done
  wait
  cat "$S"/ref.*
  "$MW" nbrecv 0x6502 1' bash "$ST" "$MW" $N "$SCRATCH" 2>&1) || fail "plain Linux reference failed: $ref"
expect_eq "$(tr '\n' ' ' <<<"$ref")" "DONE $N DONE $N DONE $N RECV 1 $((3 * N)) " \
  "reference run on plain Linux"

cluster_up 3

K=0x6501 # the mutex
Q=0x6502 # the counter
expect_eq "$(on node1 "$ST" mk $K 1 1)" OK "mutex $K created on node1 with value 1"
expect_eq "$(on node2 "$MW" mkq $Q 0666)" OK "counter queue $Q created on node2"
expect_eq "$(on node2 "$MW" send $Q 1 0)" OK "counter 0 sent"
line=$(ls_lines node3 sem $((K))) || fail "key $K not listed by dipc ls"
expect_eq "$(ls_owner "$line")" node1 "owner of the mutex in dipc ls [$line]"

run_lock_loops $K $Q $N 150 node1="$ST" node2="$ST" node3="$ST"
log "3 x $N locked increments in $LOCK_MS ms"

# The loops have exited; their SEM_UNDO adjustments (net 0) are applied at the owner.
wait_for "val_is node1 $K 0 1" 10 || fail "mutex not back at 1 after the loops exited"
expect_eq "$(on node3 "$MW" count $Q)" 1 "messages in the counter queue"
expect_eq "$(on node1 "$MW" nbrecv $Q 1)" "RECV 1 $((3 * N))" "final count"
expect_val node1 $K 0 1 "mutex value at the end (owner)"
expect_val node2 $K 0 1 "mutex value at the end (from node2)"
expect_eq "$(on node3 "$ST" ncnt $K 0)" 0 "waiters on the mutex at the end"
