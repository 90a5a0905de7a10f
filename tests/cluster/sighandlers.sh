#!/usr/bin/env bash
# sighandlers: signal handlers and blocked remote calls.
#  - a handler that leaves a blocked remote msgrcv with siglongjmp: the next call works,
#    and the abandoned msgrcv is cancelled at the owner (it takes no later message);
#  - a handler that makes a remote call while its thread is blocked in one: both work
#    (the handler's msgsnd succeeds, the blocked msgrcv returns EINTR as locally).
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
sleep 0.3
expect_eq "$(on node1 "$MW" send $K 1 later)" OK "a message sent later"
sleep 0.3
expect_eq "$(on node1 "$MW" nbrecv $K 1)" "RECV 1 later" "the abandoned msgrcv took nothing"

out=$(on node2 "$PROGS/sigjump" nested $K)
expect_eq "$out" $'handler send OK\nmsgrcv EINTR\ngot from-handler' "a remote call from a handler"
