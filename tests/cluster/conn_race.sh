#!/usr/bin/env bash
# conn_race: a signal handler calls while the shim is opening the thread's connection to
# dipcd. gdb stops the program on node2 inside that set-up (the SO_RCVTIMEO setsockopt the
# shim makes between connect and publishing the connection) and delivers SIGUSR1 there; the
# handler's call opens a connection of its own. Both calls must succeed and the process must
# end with one socket, not two: a shim that publishes its connection only at the end, and
# keeps the handler's, leaks nothing (the old code overwrote the handler's descriptor).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v gdb >/dev/null || fail "gdb is not installed (scripts/deps.sh installs it)"
cluster_up 2
expect_eq "$(on node1 "$PROGS/msgwait" mkq 9971 0666)" OK "queue created on node1"
out=$(on node2 gdb -q -batch -nx \
  -ex 'set breakpoint pending on' -ex 'set startup-with-shell off' \
  -ex 'tbreak setsockopt' -ex run -ex 'signal SIGUSR1' \
  --args "$PROGS/connrace" 9971 2>&1) || true
grep -q "Temporary breakpoint 1.*setsockopt" <<<"$out" ||
  fail "gdb did not stop the program in the shim's setsockopt:"$'\n'"$out"
result=$(grep -E '^MAIN ' <<<"$out" || true)
expect_eq "$result" "MAIN OK HANDLER OK SOCKETS 1" "both calls made, one connection kept"
expect_eq "$(on node1 "$PROGS/msgwait" nbrecv 9971 2)" "RECV 2 handler" "the handler's message"
expect_eq "$(on node1 "$PROGS/msgwait" nbrecv 9971 1)" "RECV 1 main" "the main call's message"
log "ok"
