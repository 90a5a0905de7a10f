#!/usr/bin/env bash
# requeue: a message the owner took for a caller that is gone before the answer reaches it
# is not lost: it goes back on its queue (docs/errors.md).
# node2 blocks in msgrcv on a queue node1 owns. The answers from node1 to node2 are held
# back (dipc fault ... delay, shorter than the peer time-out) so that there is time to act: a message is sent on node1, the
# waiting call takes it (the queue is empty), and the receiver on node2 is killed before
# the answer arrives. node2's dipcd then finds nobody to give it to and tells node1, which
# puts it back: the queue holds it again and a receiver on node1 gets it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2 --set debug.fault_injection=true --peer-timeout-ms 6000
expect_eq "$(on node1 "$MW" mkq 9971 0666)" OK "queue created on node1"
running() { calls_running node1; }
bg_on node2 "$MW" recv 9971 1 30 "$SCRATCH/recv.pid"
R=$BG_PID
await_pid "$SCRATCH/recv.pid"
RPID=$PROG_PID
wait_for '[[ $(running) == 1 ]]' 10 || fail "node2's msgrcv never waited at node1"
on node1 "$DIPC" fault node2 delay 2000
expect_eq "$(on node1 "$MW" send 9971 1 precious)" OK "msgsnd on node1"
wait_for '[[ $(on node1 "$MW" count 9971) == 0 && $(running) == 0 ]]' 10 ||
  fail "the waiting call did not take the message"
kill -9 "$RPID"
bg_wait "$R" 10 || true
wait_for '[[ $(on node1 "$MW" count 9971) == 1 ]]' 15 || fail "the message did not come back to its queue"
on node1 "$DIPC" fault node2 clear
expect_eq "$(on node1 "$MW" nbrecv 9971 1)" "RECV 1 precious" "the message, received on node1"
grep -q "put back on queue" "$DIR/node1/dipcd.log" || fail "node1's log does not say it put the message back"
log "ok"
