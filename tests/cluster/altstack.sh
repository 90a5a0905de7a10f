#!/usr/bin/env bash
# altstack: a remote semop and msgsnd from a signal handler on a 16 KiB alternate stack.
# The shim's own stack use stays well inside what a handler may have: the calls complete
# (the set's value and the queue show it) instead of overflowing the alternate stack.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up 2
expect_eq "$(on node1 "$PROGS/semtool" mk 9981 1 0)" OK "set created on node1"
expect_eq "$(on node1 "$PROGS/msgwait" mkq 9982 0666)" OK "queue created on node1"
expect_eq "$(on node2 "$PROGS/altstack" 9981 9982)" "SEM OK MSG OK" "calls from a handler on node2"
expect_eq "$(on node1 "$PROGS/semtool" getval 9981 0)" 1 "the handler's V, seen on node1"
expect_eq "$(on node1 "$PROGS/msgwait" nbrecv 9982 1)" "RECV 1 handler" "the handler's message"
log "ok"
