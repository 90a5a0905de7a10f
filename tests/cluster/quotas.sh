#!/usr/bin/env bash
# quotas: one user cannot take every worker of an owner with blocked calls.
# nobody on node2 starts 1,030 blocking msgrcv calls on a queue node1 owns: node1 lets
# 1,024 of them wait (OwnerSide::kMaxWaitingPerUser) and answers the other 6 with EAGAIN
# (docs/errors.md); another user's blocking call is still taken. IPC_RMID then wakes every
# waiting call with EIDRM.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
expect_eq "$(on node1 "$MW" mkq 9801 0666)" OK "queue created on node1"
running() { calls_running node1; }
bg_on node2 "${NOBODY[@]}" "$PROGS/blockers" 9801 1 1030 90
B=$BG_PID
B_OUT=$BG_OUT
wait_for '[[ $(grep -c EAGAIN "$B_OUT") -ge 6 && $(running) -ge 1024 ]]' 60 ||
  fail "expected 1024 waiting and 6 EAGAIN; running $(running), EAGAIN $(grep -c EAGAIN "$B_OUT")"
expect_eq "$(running)" 1024 "calls of nobody waiting at node1"
expect_eq "$(grep -c EAGAIN "$B_OUT")" 6 "calls of nobody refused with EAGAIN"
# Another user is not held back by nobody's calls.
bg_on node2 setpriv --reuid=daemon --regid=daemon --clear-groups "$MW" recv 9801 2 60
D=$BG_PID
D_OUT=$BG_OUT
wait_for '[[ $(running) -ge 1025 ]]' 20 || fail "daemon's call was not taken: $(cat "$D_OUT")"
expect_eq "$(on node1 "$MW" rmid 9801)" OK "IPC_RMID on node1"
bg_wait "$B" 60 || fail "the blocked callers did not all end"
bg_wait "$D" 20 || true
log "B_OUT: $(sort "$B_OUT" | uniq -c | tr "\n" " ")"
expect_eq "$(grep -c EIDRM "$B_OUT")" 1024 "waiting calls woken with EIDRM"
expect_eq "$(cat "$D_OUT")" EIDRM "daemon's call woken with EIDRM"
log "ok"
