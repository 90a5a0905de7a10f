#!/usr/bin/env bash
# restart: dipcd restarts cleanly.
#  - node2 holds a placeholder of node1's queue; its dipcd is killed (-9) and started again:
#    the new dipcd removes the placeholder its predecessor left in the kernel, rejoins, and
#    a program on node2 finds the queue again through a new placeholder.
#  - the referee (node1) is killed and started again: node2 re-registers the queue it owns,
#    so dipc ls shows it again and node3 can use it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3

K=9401
expect_eq "$(on node1 "$MW" mkq $K 0666)" OK "queue $K created on node1"
expect_eq "$(on node2 "$MW" get $K)" OK "msgget on node2 (placeholder)"
on node2 ipcs -q | grep -q "0x0000$(printf '%04x' $K)" || fail "no placeholder on node2"
restart_node node2 || fail "node2 did not rejoin after its restart"
if on node2 ipcs -q | grep -q "0x0000$(printf '%04x' $K)"; then
  fail "the restarted dipcd left the stale placeholder of key $K"
fi
grep -q "removed 1 placeholders left by a previous dipcd" "$DIR/node2/dipcd.log" ||
  fail "node2's log does not report the stale placeholder"
expect_eq "$(on node2 "$MW" send $K 1 again)" OK "msgsnd from node2 after its restart"
expect_eq "$(on node1 "$MW" nbrecv $K 1)" "RECV 1 again" "the message reached node1"

log "referee restart: node2's queue is registered again"
K2=9402
expect_eq "$(on node2 "$MW" mkq $K2 0666)" OK "queue $K2 created on node2"
restart_node node1 || fail "node1 did not come back"
wait_for "ls_has node3 msg $K2" 10 || fail "key $K2 not listed after the referee restarted"
expect_eq "$(on node3 "$MW" send $K2 1 hi)" OK "msgsend from node3 to node2's queue"
expect_eq "$(on node2 "$MW" nbrecv $K2 1)" "RECV 1 hi" "the message reached node2"
