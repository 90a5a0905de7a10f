#!/usr/bin/env bash
# taken_ack: a message whose answer reached the caller's socket but not the caller is not
# lost when the caller dies (docs/errors.md, "Signals").
# node2 blocks in msgrcv on a queue node1 owns, and is then stopped (SIGSTOP: it cannot
# read its socket). A message sent on node1 is taken by the waiting call and answered; the
# answer reaches node2's dipcd, which passes it to the stopped process's socket. The
# process is killed there: it never said the message reached it (kTaken), so node2's
# dipcd gives the message back and node1 puts it back on its queue.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
expect_eq "$(on node1 "$MW" mkq 9972 0666)" OK "queue created on node1"
running() { calls_running node1; }
bg_on node2 "$MW" recv 9972 1 30 "$SCRATCH/recv.pid"
R=$BG_PID
await_pid "$SCRATCH/recv.pid"
RPID=$PROG_PID
wait_for '[[ $(running) == 1 ]]' 10 || fail "node2's msgrcv never waited at node1"
kill -STOP "$RPID"
expect_eq "$(on node1 "$MW" send 9972 1 precious)" OK "msgsnd on node1"
wait_for '[[ $(on node1 "$MW" count 9972) == 0 && $(running) == 0 ]]' 10 ||
  fail "the waiting call did not take the message"
# The answer is on its way to (or in) the stopped receiver's socket; a round trip to
# node2's dipcd afterwards has passed it on.
on node2 "$DIPC" status >/dev/null
kill -9 "$RPID"
bg_wait "$R" 10 || true
wait_for '[[ $(on node1 "$MW" count 9972) == 1 ]]' 15 || fail "the message did not come back to its queue"
expect_eq "$(on node1 "$MW" nbrecv 9972 1)" "RECV 1 precious" "the message, received on node1"
log "ok"
