#!/usr/bin/env bash
# sighandlers: signal handlers and blocked remote calls.
#  - a handler that leaves a blocked remote msgrcv with siglongjmp: the next call works,
#    and the abandoned msgrcv is cancelled at the owner (it takes no later message);
#  - a handler that makes a remote call while its thread is blocked in one: both work
#    (the handler's msgsnd succeeds, the blocked msgrcv returns EINTR as locally);
#  - a message the abandoned msgrcv took before the thread's next call cancelled it is put
#    back in the queue at that call, not kept until the process exits.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
K=9701
expect_eq "$(on node1 "$MW" mkq $K 0666)" OK "queue $K on node1"
out=$(on node2 "$PROGS/sigjump" longjmp $K)
expect_eq "$out" $'jumped\nsend OK' "siglongjmp out of a remote msgrcv, then msgsnd"
expect_eq "$(on node1 "$MW" nbrecv $K 5)" "RECV 5 after-jump" "the message sent after the jump"
# The program has exited: nothing may wait at the owner, and a message sent now stays.
wait_for "[[ \$(calls_running node1) == 0 ]]" 10 || fail "the abandoned msgrcv still waits at the owner"
expect_eq "$(on node1 "$MW" send $K 1 later)" OK "a message sent later"
expect_eq "$(on node1 "$MW" nbrecv $K 1)" "RECV 1 later" "the abandoned msgrcv took nothing"

out=$(on node2 "$PROGS/sigjump" nested $K)
expect_eq "$out" $'handler send OK\nmsgrcv EINTR\ngot from-handler' "a remote call from a handler"

# The abandoned call takes a message (the owner still waits for it until the thread's next
# call): that next call gives it back, while the process lives on.
K2=9702
expect_eq "$(on node1 "$MW" mkq $K2 0666)" OK "queue $K2 on node1"
F=$SCRATCH/taken
on node2 "$PROGS/sigjump" taken $K2 "$F" >"$SCRATCH/taken.out" 2>&1 &
job=$!
_BG_PIDS+=("$job")
wait_for "[[ \$(calls_running node1) == 1 ]]" 10 || fail "the msgrcv is not waiting at the owner"
pid=$(cat "$F")
kill -USR1 "$pid"
wait_for "[[ \$(cat '$F' 2>/dev/null) == jumped ]]" 10 || fail "the handler did not jump: $(cat "$SCRATCH/taken.out")"
expect_eq "$(on node1 "$MW" send $K2 1 taken)" OK "a message while the abandoned msgrcv still waits"
wait_for "[[ \$(calls_running node1) == 0 ]]" 10 || fail "the abandoned msgrcv did not take the message"
expect_eq "$(on node1 "$MW" count $K2)" 0 "the abandoned msgrcv took it"
echo go >"$F"
wait_for "[[ \$(cat '$F' 2>/dev/null) == called ]]" 10 || fail "the next call did not return: $(cat "$SCRATCH/taken.out")"
wait_for "[[ \$(on node1 '$MW' count $K2) == 1 ]]" 10 ||
  fail "the message the abandoned msgrcv took is not back while the process lives (count $(on node1 "$MW" count $K2))"
expect_eq "$(on node1 "$MW" nbrecv $K2 1)" "RECV 1 taken" "the message given back"
rm -f "$F"
bg_wait "$job" 30
expect_eq "$(cat "$SCRATCH/taken.out")" done "the program after its next call"
